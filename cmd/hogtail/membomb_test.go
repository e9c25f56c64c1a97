package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// TestMemoryBombDoesNotKillTheAgent runs the real binary with a connector
// that, for some events, doubles a string forever (or grows an array
// forever). Each such call is stopped by max_memory, its event follows
// on_error (pass), and the agent keeps delivering the other events, with its
// memory bounded.
func TestMemoryBombDoesNotKillTheAgent(t *testing.T) {
	addr := freeAddr(t)
	a := startWithConfig(t, connectorConfig(t, "[api]\nenabled = false", addr, "memory-bomb", `lanes = 3
timeout = "2m"
max_memory = "64MiB"`))
	logs := a.logs
	post := func(id, props string) error {
		code, err := capture(addr, id, props)
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		return err
	}
	componenttest.Eventually(t, 20*time.Second, "the HTTP source to listen", func() bool { return post("warm-up", `{}`) == nil })

	// Two bombs run while normal events keep arriving on the third lane
	// (with two, a loaded machine that takes more than full_wait to stop
	// both bombs made the normal events wait for a lane, and answered 503).
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
		case <-time.After(90 * time.Second):
			t.Fatalf("a bomb event was not answered\n%s", logs.String())
		}
	}
	if err := post("after", `{}`); err != nil {
		t.Fatalf("event after the bombs: %v", err)
	}
	want := normal + 4 // warm-up, the two bombs (passed on unchanged), after
	componenttest.Eventually(t, 30*time.Second, "every event on stdout", func() bool {
		return strings.Count(a.stdout.String(), "\n") >= want
	})
	all := a.stdout.String()
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
	rss := procStatusMiB(t, a.cmd.Process.Pid, "VmRSS:")
	t.Logf("resident memory after the bombs: %d MiB (peak %d MiB)", rss, procStatusMiB(t, a.cmd.Process.Pid, "VmHWM:"))
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
