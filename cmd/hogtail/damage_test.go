package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
)

// damagedSetup is offlineSetup with enough records for a multi-page
// buffer file.
func damagedSetup(t *testing.T) (string, string) {
	t.Helper()
	cfg, file := offlineSetup(t)
	b, err := buffer.Open(file, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Queue("out", buffer.QueueConfig{})
	raw := make([]byte, 300)
	for i := range 300 {
		rand.Read(raw)
		rec := fmt.Appendf(nil, `{"i":%d,"r":"%x"}`, i, raw)
		err := b.Commit(context.Background(), &buffer.Commit{Appends: []buffer.Append{{Queue: "out", Records: [][]byte{rec}}},
			Source: "gen", Checkpoints: []component.Checkpoint{{Key: "k", Value: fmt.Appendf(nil, "%d", i)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg, file
}

// TestBufferCheckReportsDamage: hogtail buffer check, on a file that
// makes bbolt crash, reports the damage and exits 1 instead of crashing,
// and leaves the file as it is; the dead-letter commands refuse it.
func TestBufferCheckReportsDamage(t *testing.T) {
	bin := binary(t)
	cfg, file := damagedSetup(t)
	st, _ := os.Stat(file)
	if err := os.Truncate(file, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "buffer", "check", "--config", cfg).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "damage (") || !strings.Contains(string(out), "crashes bbolt") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if st2, _ := os.Stat(file); st2.Size() != st.Size()/2 {
		t.Fatal("buffer check changed the file")
	}
	out, err = exec.Command(bin, "dead-letters", "list", "--config", cfg).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "damaged") {
		t.Fatalf("dead-letters list on a damaged file: exit %d:\n%s", code, out)
	}
	if asides, _ := filepath.Glob(file + ".corrupt-*"); len(asides) != 0 {
		t.Fatalf("an offline command set the file aside: %v", asides)
	}
}

// TestBufferPermissionDenied runs the agent as a user that may not open
// the buffer file: it refuses to start, says why, and leaves the file in
// place (it is not damaged).
func TestBufferPermissionDenied(t *testing.T) {
	bin := binary(t)
	cfg, file := damagedSetup(t)
	cmd := exec.Command(bin, "run", "--config", cfg, "--watch-config=false")
	if os.Geteuid() == 0 {
		// Root bypasses file modes: run the binary as nobody, which can
		// reach the file (the directories are 0755) but not open it (0600,
		// owned by root).
		for _, start := range []string{filepath.Dir(file), filepath.Dir(bin)} {
			for d := start; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
				os.Chmod(d, 0o755)
			}
		}
		os.Chmod(cfg, 0o644)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else if err := os.Chmod(file, 0o400); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the agent started on a buffer it cannot open:\n%s", out)
	}
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), "not damage") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if asides, _ := filepath.Glob(file + ".corrupt-*"); len(asides) != 0 {
		t.Fatalf("set aside: %v", asides)
	}
}

// TestBufferLockedByAnotherAgent: a second agent on the same data_dir
// refuses to start and leaves the file to the first.
func TestBufferLockedByAnotherAgent(t *testing.T) {
	bin := binary(t)
	cfg, file := damagedSetup(t)
	// The first agent holds the lock while it runs.
	holder, err := buffer.Open(file, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	out, err := exec.Command(bin, "run", "--config", cfg, "--watch-config=false").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "locked by another process") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if asides, _ := filepath.Glob(file + ".corrupt-*"); len(asides) != 0 {
		t.Fatalf("set aside: %v", asides)
	}
}
