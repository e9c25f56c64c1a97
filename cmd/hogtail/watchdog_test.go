package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/sinks/sinktest"
)

// TestWatchdogKeepsPingingWhileReceiverRefuses runs the binary under a fake
// systemd watchdog (pings every 100 ms) towards a receiver that answers 401
// for a while, then 503, then accepts. The watchdog pings never stop (a
// refused or failing receiver is not a wedged agent), while /health reports
// the paused sink, then the sink failing for longer than
// health.sink_failing_after, then nothing.
func TestWatchdogKeepsPingingWhileReceiverRefuses(t *testing.T) {
	var status atomic.Int64
	status.Store(401)
	rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer {
		return sinktest.Answer{Status: int(status.Load())}
	})
	defer rcv.Close()
	ns := newNotifySocket(t)
	addr := "127.0.0.1:" + freePort(t, "tcp")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hogtail.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir = "data"
shutdown_timeout = "2s"
[api]
address = %q
[health]
sink_failing_after = "1s"
[sources.gen]
type = "demo"
rate = 50.0
[sinks.ph]
type = "posthog"
inputs = ["gen"]
host = %q
api_key = "phc_test"
batch_timeout = "50ms"
retry.initial_interval = "50ms"
retry.max_interval = "200ms"
`, addr, rcv.URL)), 0o644)
	cmd, stderr := startNotified(t, binary(t), cfgPath, ns)
	health := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/health")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// pingsGoOn waits for 10 more pings (about a second), checking /health
	// with want all along.
	pingsGoOn := func(phase string, want func(int, string) bool) {
		t.Helper()
		start := ns.count("WATCHDOG=1")
		componenttest.Eventually(t, 10*time.Second, "10 watchdog pings "+phase, func() bool {
			if code, body := health(); !want(code, body) {
				t.Fatalf("%s: /health %d %s", phase, code, body)
			}
			return ns.count("WATCHDOG=1") >= start+10
		})
	}
	componenttest.Eventually(t, 10*time.Second, "READY=1", func() bool { return ns.count("READY=1") == 1 })

	paused := func(code int, body string) bool {
		return code == 503 && strings.Contains(body, "sinks.ph") && strings.Contains(body, "paused") && strings.Contains(body, "401")
	}
	componenttest.Eventually(t, 10*time.Second, "/health reports the paused sink", func() bool { return paused(health()) })
	pingsGoOn("while the receiver answers 401", paused)

	status.Store(503)
	failing := func(code int, body string) bool {
		return code == 503 && strings.Contains(body, "sinks.ph") && strings.Contains(body, "deliveries failing for") && strings.Contains(body, "503")
	}
	componenttest.Eventually(t, 10*time.Second, "/health reports the failing sink", func() bool { return failing(health()) })
	pingsGoOn("while the receiver answers 503", failing)

	status.Store(200)
	componenttest.Eventually(t, 10*time.Second, "/health ok once the receiver accepts", func() bool { code, _ := health(); return code == 200 })
	pingsGoOn("once the receiver accepts", func(code int, _ string) bool { return code == 200 })

	stopCleanly(t, cmd, stderr, 20*time.Second)
	if strings.Contains(stderr.String(), "withholding") {
		t.Fatalf("the watchdog ping was withheld:\n%s", stderr.String())
	}
}
