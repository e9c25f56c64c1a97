package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/sinks/sinktest"
)

// TestCleanStopRedeliversNothing runs the real binary on a file with a
// backlog towards slow receivers (the posthog and http sinks, and a
// connector's webhooks through the webhook sink), stops it
// with SIGTERM in the middle, restarts it and lets it finish: every line
// arrives at each receiver exactly once. A clean stop lets the requests in
// flight finish and trims what was delivered, so nothing is sent twice.
func TestCleanStopRedeliversNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode")
	}
	const n = 4000
	slow := func(*sinktest.Request) sinktest.Answer { return sinktest.Answer{Delay: 100 * time.Millisecond} }
	ph := sinktest.NewReceiver(slow)
	defer ph.Close()
	web := sinktest.NewReceiver(slow)
	defer web.Close()
	hooks := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer { return sinktest.Answer{Delay: 5 * time.Millisecond} })
	defer hooks.Close()
	hook, _ := filepath.Abs("testdata/hook")

	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	var lines strings.Builder
	for i := range n {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	os.WriteFile(logFile, []byte(lines.String()), 0o644)
	cfg := filepath.Join(dir, "hogtail.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = "data"
shutdown_timeout = "2s"
log_level = "warn"

[api]
enabled = false

[sources.app]
type = "file"
include = [%q]
batch_lines = 500

[sinks.ph]
type = "posthog"
inputs = ["app"]
host = %q
api_key = "phc_test"
batch_max_events = 50
batch_timeout = "20ms"
concurrency = 2

[sinks.web]
type = "http"
inputs = ["app"]
url = %q
batch_max_events = 50
batch_timeout = "20ms"
concurrency = 2

[transforms.chain]
type = "connectors"
inputs = ["app"]
[[transforms.chain.chain]]
path = %q
config = { url = %q }

[sinks.hooks]
type = "webhook"
inputs = ["chain"]
batch_max_events = 20
batch_timeout = "20ms"
concurrency = 4
`, logFile, ph.URL, web.URL, hook, hooks.URL)), 0o644)

	bin := binary(t)
	run := func(stopWhen func() bool) string {
		t.Helper()
		cmd := exec.Command(bin, "run", "--config", cfg, "--watch-config=false")
		cmd.Dir = dir
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		componenttest.Eventually(t, 60*time.Second, "the moment to stop", stopWhen)
		stopCleanly(t, cmd, &stderr, 20*time.Second)
		return stderr.String()
	}
	// First run: stop with most of the file still to deliver.
	log1 := run(func() bool { return ph.Unique() >= 200 && web.Unique() >= 200 && hooks.Unique() >= 200 })
	if ph.Unique() >= n || web.Unique() >= n || hooks.Unique() >= n {
		t.Fatalf("no backlog at the stop (posthog %d, http %d, webhooks %d of %d): the test proves nothing", ph.Unique(), web.Unique(), hooks.Unique(), n)
	}
	t.Logf("at the stop: posthog %d, http %d, webhooks %d of %d", ph.Unique(), web.Unique(), hooks.Unique(), n)
	// Second run: to the end.
	run(func() bool { return ph.Unique() >= n && web.Unique() >= n && hooks.Unique() >= n })
	for name, rcv := range map[string]*sinktest.Receiver{"posthog": ph, "http": web, "webhook": hooks} {
		dups := 0
		for _, c := range rcv.Counts() {
			if c > 1 {
				dups += c - 1
			}
		}
		if rcv.Unique() != n || dups != 0 {
			t.Errorf("%s receiver: %d unique of %d, %d redelivered\nfirst run's log:\n%s", name, rcv.Unique(), n, dups, log1)
		}
	}
}
