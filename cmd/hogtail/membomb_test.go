package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMemoryBombDoesNotKillTheAgent runs the real binary with a connector
// that, for some events, doubles a string forever (or grows an array
// forever). Each such call is stopped by max_memory, its event follows
// on_error (pass), and the agent keeps delivering the other events, with its
// memory bounded.
func TestMemoryBombDoesNotKillTheAgent(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	plugin, err := filepath.Abs("../../transforms/connectors/testdata/plugins/memory-bomb")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "hogtail.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = %q
[api]
enabled = false

[sources.web]
type = "http"
address = %q

[transforms.enrich]
type = "connectors"
inputs = ["web"]
lanes = 2
timeout = "2m"
max_memory = "64MiB"

[[transforms.enrich.chain]]
path = %q

[sinks.out]
type = "console"
inputs = ["enrich"]
target = "stdout"
batch_timeout = "0s"
`, filepath.Join(dir, "data"), addr, plugin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfg, "--watch-config=false")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var mu sync.Mutex
	var lines []string
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	post := func(id, props string) error {
		body := `{"api_key":"phc_test","batch":[{"event":"e","distinct_id":"` + id + `","properties":` + props + `}]}`
		resp, err := http.Post("http://"+addr+"/batch", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	waitUntil(t, "the HTTP source to listen", 20*time.Second, func() bool { return post("warm-up", `{}`) == nil })

	// Two bombs run while normal events keep arriving on the other lane.
	bombs := make(chan error, 2)
	for _, b := range []string{"string", "array"} {
		go func() { bombs <- post("bomb-"+b, `{"bomb":"`+b+`"}`) }()
	}
	const normal = 20
	for i := 0; i < normal; i++ {
		if err := post("n"+strconv.Itoa(i), `{}`); err != nil {
			t.Fatalf("normal event %d: %v\n%s", i, err, logs.String())
		}
	}
	for range 2 {
		select {
		case err := <-bombs:
			if err != nil {
				t.Fatalf("bomb event: %v\n%s", err, logs.String())
			}
		case err := <-exited:
			t.Fatalf("the agent died: %v\n%s", err, logs.String())
		case <-time.After(90 * time.Second):
			t.Fatalf("a bomb event was not answered\n%s", logs.String())
		}
	}
	if err := post("after", `{}`); err != nil {
		t.Fatalf("event after the bombs: %v", err)
	}
	want := normal + 4 // warm-up, the two bombs (passed on unchanged), after
	waitUntil(t, "every event on stdout", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lines) >= want
	})
	mu.Lock()
	all := strings.Join(lines, "\n")
	mu.Unlock()
	for _, id := range []string{"bomb-string", "bomb-array", "n0", "n19", "after"} {
		if !strings.Contains(all, `"distinct_id":"`+id+`"`) {
			t.Errorf("event %s not delivered", id)
		}
	}
	if n := strings.Count(all, `"survived":true`); n != normal+2 {
		t.Errorf("%d events processed by the connector, want %d", n, normal+2)
	}
	if n := strings.Count(logs.String(), "the heap grew by more than max_memory (64 MiB)"); n < 2 {
		t.Errorf("%d memory stops logged, want 2:\n%s", n, logs.String())
	}
	rss := procStatusMiB(t, cmd.Process.Pid, "VmRSS:")
	t.Logf("resident memory after the bombs: %d MiB (peak %d MiB)", rss, procStatusMiB(t, cmd.Process.Pid, "VmHWM:"))
	if rss > 1024 {
		t.Errorf("resident memory %d MiB after the bombs were stopped", rss)
	}
}

// procStatusMiB reads a size field (VmRSS:, VmHWM:) of /proc/PID/status.
func procStatusMiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(rest)), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb >> 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
