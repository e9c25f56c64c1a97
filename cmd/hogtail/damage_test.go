package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	bolt "go.etcd.io/bbolt"
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
	noSetAside(t, file)
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
	noSetAside(t, file)
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
	noSetAside(t, file)
}

// TestRunSalvagesDamagedBuffer runs the agent on a buffer.db with 4 KB of
// random bytes over a leaf page of its queue: it starts, sets the file
// aside, delivers every record the salvage kept, and counts it all in
// /metrics.
func TestRunSalvagesDamagedBuffer(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "data", "buffer.db")
	os.MkdirAll(filepath.Dir(file), 0o700)
	b, err := buffer.Open(file, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Queue("out", buffer.QueueConfig{})
	raw := make([]byte, 200)
	const n = 400
	for i := range n {
		rand.Read(raw)
		rec := fmt.Appendf(nil, `{"uuid":"0190f0a0-0000-7000-8000-%012d","event":"e","distinct_id":"d","properties":{"i":%d,"r":"%x"}}`, i, i, raw)
		if err := b.Commit(context.Background(), &buffer.Commit{Appends: []buffer.Append{{Queue: "out", Records: [][]byte{rec}}}}); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	leaf := leafPage(t, file)
	fh, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 4096)
	rand.Read(junk)
	fh.WriteAt(junk, int64(leaf)*int64(os.Getpagesize()))
	fh.Close()

	addr := "127.0.0.1:" + freePort(t, "tcp")
	cfgPath := filepath.Join(dir, "hogtail.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir = "data"
[api]
address = %q
[sources.logs]
type = "file"
include = [%q]
[sinks.out]
type = "console"
inputs = ["logs"]
`, addr, filepath.Join(dir, "none", "*.log"))), 0o644)
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--watch-config=false")
	var stdout lockedBuffer
	cmd.Stdout = &stdout
	stderr := startAgent(t, cmd)
	componenttest.Eventually(t, 30*time.Second, "agent started", func() bool { return strings.Contains(stderr.String(), "hogtail started") })
	if !strings.Contains(stderr.String(), "BUFFER FILE DAMAGED") {
		t.Fatalf("no loud log:\n%s", stderr.String())
	}
	metric := func(name string) float64 {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				var f float64
				fmt.Sscan(v, &f)
				return f
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	if got := metric("hogtail_buffer_damaged_files_total"); got != 1 {
		t.Fatalf("damaged files = %v", got)
	}
	salvaged := int(metric("hogtail_buffer_salvaged_records_total"))
	if salvaged == 0 || salvaged >= n {
		t.Fatalf("salvaged %d of %d records, with one leaf page destroyed", salvaged, n)
	}
	delivered := func() int { return strings.Count(stdout.String(), `"i":`) }
	componenttest.Eventually(t, 30*time.Second, "salvaged records delivered", func() bool { return delivered() >= salvaged })
	if asides, _ := filepath.Glob(file + ".corrupt-*"); len(asides) != 1 {
		t.Fatalf("set-aside files: %v", asides)
	}
	t.Logf("%d of %d records salvaged and delivered", delivered(), n)
}

// noSetAside fails if the buffer file was set aside.
func noSetAside(t *testing.T, file string) {
	t.Helper()
	if asides, _ := filepath.Glob(file + ".corrupt-*"); len(asides) != 0 {
		t.Fatalf("the file was set aside: %v", asides)
	}
}

// leafPage returns a leaf page of the queue's tree in a healthy file.
func leafPage(t *testing.T, file string) int {
	t.Helper()
	db, err := bolt.Open(file, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var leaves []int
	db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			if p.Type == "leaf" {
				leaves = append(leaves, id)
			}
			id += p.OverflowCount
		}
	})
	if len(leaves) < 3 {
		t.Fatalf("only %d leaf pages", len(leaves))
	}
	return leaves[len(leaves)/2]
}

// TestBufferReadOnlyFileSystem runs the agent on a buffer.db on a
// read-only file system (a tmpfs remounted read-only in a mount namespace
// of its own): it refuses to start with EROFS named, and does not take the
// file for damaged.
func TestBufferReadOnlyFileSystem(t *testing.T) {
	bin := binary(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) to mount a read-only file system")
	}
	probe := exec.Command(unshare, "-m", "sh", "-c", "mount -t tmpfs tmpfs "+t.TempDir())
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot mount in a mount namespace here: %v %s", err, out)
	}
	_, src := damagedSetup(t)
	ro := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "hogtail.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = %q
[api]
enabled = false
[sources.gen]
type = "demo"
[sinks.out]
type = "console"
inputs = ["gen"]
`, filepath.Join(ro, "data"))), 0o644)
	script := `set -e
mount -t tmpfs tmpfs "$1"
mkdir "$1/data"
cp "$2" "$1/data/buffer.db"
mount -o remount,ro "$1"
exec "$3" run --config "$4" --watch-config=false`
	cmd := exec.Command(unshare, "-m", "sh", "-c", script, "sh", ro, src, bin, cfg)
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "read-only file system") || !strings.Contains(string(out), "not damage") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestBufferDirectorySynced runs the agent under strace: after buffer.db
// is created, and after a damaged one is set aside and replaced by its
// salvaged copy, the data directory is fsynced, so a power loss cannot
// take the new directory entries back.
func TestBufferDirectorySynced(t *testing.T) {
	bin := binary(t)
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("needs strace")
	}
	if out, err := exec.Command(strace, "-o", "/dev/null", "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here: %v %s", err, out)
	}
	// setup writes a buffer and a config whose demo source stops after
	// 10 events, so the agent exits by itself.
	setup := func(t *testing.T) string {
		t.Helper()
		cfg, file := damagedSetup(t)
		os.WriteFile(cfg, []byte(`data_dir = "data"
[api]
enabled = false
[sources.gen]
type = "demo"
rate = 0.0
count = 10
[sinks.out]
type = "console"
inputs = ["gen"]
target = "stderr"
`), 0o644)
		return file
	}
	trace := func(t *testing.T, file string) []string {
		t.Helper()
		cfg := filepath.Join(filepath.Dir(filepath.Dir(file)), "hogtail.toml")
		log := filepath.Join(t.TempDir(), "strace.log")
		cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=openat,fsync,rename,renameat,renameat2", "-o", log,
			bin, "run", "--config", cfg, "--watch-config=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(string(b), "\n")
	}
	// dirSyncedAfter reports whether, after the first line holding event,
	// the directory is opened and that descriptor fsynced.
	dirSyncedAfter := func(t *testing.T, lines []string, dir, event string) bool {
		t.Helper()
		at := -1
		for i, l := range lines {
			if strings.Contains(l, event) {
				at = i
				break
			}
		}
		if at < 0 {
			t.Fatalf("no %q in the trace:\n%s", event, strings.Join(lines, "\n"))
		}
		for i := at + 1; i < len(lines); i++ {
			l := lines[i]
			if !strings.Contains(l, fmt.Sprintf("openat(AT_FDCWD, %q, ", dir)) {
				continue
			}
			fd := strings.TrimSpace(l[strings.LastIndex(l, "=")+1:])
			for _, m := range lines[i+1:] {
				if strings.Contains(m, "fsync("+fd+")") {
					return true
				}
			}
		}
		return false
	}

	t.Run("created", func(t *testing.T) {
		file := setup(t)
		os.Remove(file)
		lines := trace(t, file)
		if !dirSyncedAfter(t, lines, filepath.Dir(file), fmt.Sprintf("openat(AT_FDCWD, %q, O_RDWR|O_CREAT", file)) {
			t.Fatalf("data_dir not fsynced after buffer.db was created:\n%s", strings.Join(lines, "\n"))
		}
	})
	t.Run("set aside", func(t *testing.T) {
		file := setup(t)
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		os.Truncate(file, st.Size()/2)
		lines := trace(t, file)
		if !dirSyncedAfter(t, lines, filepath.Dir(file), fmt.Sprintf("%q, AT_FDCWD, %q", file+".salvage", file)) {
			t.Fatalf("data_dir not fsynced after the salvaged copy took buffer.db's place:\n%s", strings.Join(lines, "\n"))
		}
	})
}
