package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// TestBreakerKeepsTheAgentFlowing runs the real binary with a connector
// that loops forever on every event. After breaker_threshold timeouts the
// connector is switched off: the HTTP source keeps accepting events (they
// pass on unchanged, on_error = "pass") without another timeout, /health
// answers 503 naming the connector, and /metrics shows it.
func TestBreakerKeepsTheAgentFlowing(t *testing.T) {
	src, api := freeAddr(t), freeAddr(t)
	a := startWithConfig(t, connectorConfig(t, fmt.Sprintf("[api]\naddress = %q", api), src, "flaky", `lanes = 1
timeout = "300ms"
breaker_threshold = 3
breaker_retry = "1h"`))
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + api + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(id, props string) int {
		code, _ := capture(src, id, props)
		return code
	}
	componenttest.Eventually(t, 20*time.Second, "the API to answer", func() bool { code, _ := get("/health"); return code == 200 })
	componenttest.Eventually(t, 20*time.Second, "the HTTP source to listen", func() bool { return post("warm-up", `{}`) == 200 })

	const events = 40
	for i := 0; i < events; i++ {
		if code := post(fmt.Sprintf("u%d", i), `{"hang":true}`); code != 200 {
			t.Fatalf("event %d: HTTP %d\n%s", i, code, a.logs.String())
		}
	}
	code, body := get("/health")
	if code != 503 || !strings.Contains(body, `"component":"transforms.enrich/flaky"`) ||
		!strings.Contains(body, "after 3 consecutive failed events") {
		t.Fatalf("/health: %d %s", code, body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`hogtail_connector_switched_off{component="enrich",connector="flaky",transform="enrich"} 1`,
		`hogtail_connector_errors_total{component="enrich",connector="flaky",kind="timeout",transform="enrich"} 3`,
		fmt.Sprintf(`hogtail_connector_bypassed_events_total{component="enrich",connector="flaky",transform="enrich"} %d`, events-3),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	componenttest.Eventually(t, 20*time.Second, "every event on stdout", func() bool {
		return strings.Count(a.stdout.String(), `"event":"e"`) == events+1
	})
	if !strings.Contains(a.logs.String(), "connector switched off") {
		t.Errorf("no log line for the switch-off:\n%s", a.logs.String())
	}
}
