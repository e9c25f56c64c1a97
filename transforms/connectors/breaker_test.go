package connectors

import (
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func breakerOpts(threshold int, retry time.Duration, onError string) testOpts {
	return testOpts{onError: onError, timeout: 50 * time.Millisecond, lanes: 2, mutate: func(c *Config) {
		c.BreakerThreshold = threshold
		c.BreakerRetry = component.Duration(retry)
	}}
}

func seen(t *testing.T, out component.Output) bool {
	t.Helper()
	if len(out.Events) != 1 {
		return false
	}
	_, ok := out.Events[0].Properties.Get("seen")
	return ok
}

// TestBreakerSwitchesOffAFailingConnector: after breaker_threshold
// consecutive failed events the connector is no longer called (no more
// timeouts), its events follow on_error, Health and the metrics report it,
// and a hot reload switches it back on.
func TestBreakerSwitchesOffAFailingConnector(t *testing.T) {
	tr := newTestTransform(t, breakerOpts(3, time.Hour, OnErrorDeadLetter), plugin("flaky", nil))
	m := tr.metrics
	if p := tr.Health(); len(p) != 0 {
		t.Fatalf("healthy connector reports %v", p)
	}
	// A success in between resets the count: 2 timeouts, 1 success, 2
	// throws do not switch it off.
	for _, js := range []string{`{"hang":1}`, `{"hang":1}`, `{}`, `{"fail":1}`, `{"fail":1}`} {
		applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":`+js+`}`))
	}
	if p := tr.Health(); len(p) != 0 {
		t.Fatalf("switched off before 3 consecutive failures: %v", p)
	}
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"hang":1}}`))
	if len(out.DeadLetters) != 1 {
		t.Fatalf("failing event: %+v", out)
	}
	probs := tr.Health()
	if len(probs) != 1 || probs[0].Subject != "flaky" || !strings.Contains(probs[0].Message, "after 3 consecutive failed events") ||
		!strings.Contains(probs[0].Message, "script execution timed out") {
		t.Fatalf("Health() = %+v", probs)
	}
	if g := testutil.ToFloat64(m.tripped.WithLabelValues("enrich", "flaky")); g != 1 {
		t.Fatalf("switched_off gauge = %v", g)
	}
	timeouts := testutil.ToFloat64(m.errors.WithLabelValues("enrich", "flaky", "timeout"))

	// Switched off: 100 hanging events cost no timeout; each is a dead
	// letter naming the breaker; a good one is not processed either.
	var evs []string
	for i := 0; i < 100; i++ {
		evs = append(evs, `{"event":"e","distinct_id":"d","properties":{"hang":1}}`)
	}
	start := time.Now()
	in := applyAll(t, tr, eventsOf(t, evs)...)
	if len(in.DeadLetters) != 100 || !strings.Contains(in.DeadLetters[0].Reason, `connector "flaky" is switched off after consecutive failures`) {
		t.Fatalf("bypassed events: %d dead letters, first %+v", len(in.DeadLetters), in.DeadLetters[0])
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100 bypassed events took %s: the connector was called", d)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("enrich", "flaky", "timeout")); got != timeouts {
		t.Errorf("timeouts went from %v to %v while switched off", timeouts, got)
	}
	if got := testutil.ToFloat64(m.bypassed.WithLabelValues("enrich", "flaky")); got != 100 {
		t.Errorf("bypassed = %v, want 100", got)
	}
	if out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`)); len(out.DeadLetters) != 1 {
		t.Errorf("good event while switched off: %+v", out)
	}

	// A reload (new version of the files) switches it back on at once.
	fp, err := fingerprint(tr.state.Load().conns[0].spec.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.reload(0, fp); err != nil {
		t.Fatal(err)
	}
	if p := tr.Health(); len(p) != 0 {
		t.Fatalf("after reload: %v", p)
	}
	if g := testutil.ToFloat64(m.tripped.WithLabelValues("enrich", "flaky")); g != 0 {
		t.Fatalf("switched_off gauge after reload = %v", g)
	}
	componenttest.Eventually(t, 5*time.Second, "lanes to take the reloaded version", func() bool {
		return seen(t, applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`)))
	})
}

// TestBreakerProbes: a switched-off connector is probed by one event every
// breaker_retry; a failing probe keeps it off, a succeeding one switches it
// back on.
func TestBreakerProbes(t *testing.T) {
	tr := newTestTransform(t, breakerOpts(2, 20*time.Millisecond, OnErrorPass), plugin("flaky", nil))
	m := tr.metrics
	for i := 0; i < 2; i++ {
		applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"hang":1}}`))
	}
	if len(tr.Health()) != 1 {
		t.Fatal("not switched off after 2 timeouts")
	}
	// Hanging events until one of them probes (a third timeout): the
	// connector stays off.
	componenttest.Eventually(t, 5*time.Second, "a failing probe", func() bool {
		out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"hang":1}}`))
		if len(out.Events) != 1 {
			t.Fatalf("on_error pass lost the event: %+v", out)
		}
		return testutil.ToFloat64(m.errors.WithLabelValues("enrich", "flaky", "timeout")) == 3
	})
	if len(tr.Health()) != 1 {
		t.Fatal("a failing probe switched the connector on")
	}
	// Good events pass through unchanged until one probes and succeeds.
	componenttest.Eventually(t, 5*time.Second, "a succeeding probe", func() bool {
		return seen(t, applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`)))
	})
	if p := tr.Health(); len(p) != 0 {
		t.Fatalf("after a good probe: %v", p)
	}
	if g := testutil.ToFloat64(m.tripped.WithLabelValues("enrich", "flaky")); g != 0 {
		t.Fatalf("switched_off gauge = %v", g)
	}
	// Back on: every event is processed again.
	out := applyAll(t, tr, eventsOf(t, []string{`{"event":"e","distinct_id":"d"}`, `{"event":"e","distinct_id":"d"}`})...)
	for _, ev := range out.Events {
		if _, ok := ev.Properties.Get("seen"); !ok {
			t.Fatalf("event not processed after recovery: %s", ev.AppendJSON(nil))
		}
	}
}

// TestBreakerZeroNeverSwitchesOff keeps calling a connector that always
// fails when breaker_threshold = 0.
func TestBreakerZeroNeverSwitchesOff(t *testing.T) {
	tr := newTestTransform(t, breakerOpts(0, time.Hour, OnErrorPass), plugin("flaky", nil))
	for i := 0; i < 30; i++ {
		applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"fail":1}}`))
	}
	if p := tr.Health(); len(p) != 0 {
		t.Fatalf("Health() = %v", p)
	}
	if got := testutil.ToFloat64(tr.metrics.errors.WithLabelValues("enrich", "flaky", "error")); got != 30 {
		t.Fatalf("errors = %v, want 30 (every event called)", got)
	}
}

func eventsOf(t *testing.T, js []string) []*event.Event {
	t.Helper()
	out := make([]*event.Event, len(js))
	for i, j := range js {
		out[i] = mustEvent(t, j)
	}
	return out
}

// TestBreakerCountsComposeWebhook: failures of composeWebhook count too; a
// switched-off connector composes no webhook and each event is counted
// once as bypassed.
func TestBreakerCountsComposeWebhook(t *testing.T) {
	c := writeConnector(t, "hook", `export function composeWebhook(event) {
    if (event.properties.fail) throw new Error('no url for you')
    return { url: 'https://example.test/hook', body: event.event }
}`)
	tr := newTestTransform(t, breakerOpts(2, time.Hour, OnErrorPass), c)
	if out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`)); len(out.Webhooks) != 1 {
		t.Fatalf("webhooks: %+v", out.Webhooks)
	}
	for i := 0; i < 2; i++ {
		applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"fail":1}}`))
	}
	if p := tr.Health(); len(p) != 1 || !strings.Contains(p[0].Message, "no url for you") {
		t.Fatalf("Health() = %+v", p)
	}
	out := applyAll(t, tr, eventsOf(t, []string{`{"event":"e","distinct_id":"d"}`, `{"event":"e","distinct_id":"d"}`})...)
	if len(out.Webhooks) != 0 || len(out.Events) != 2 {
		t.Fatalf("switched off: %d webhooks, %d events", len(out.Webhooks), len(out.Events))
	}
	if got := testutil.ToFloat64(tr.metrics.bypassed.WithLabelValues("enrich", "hook")); got != 2 {
		t.Errorf("bypassed = %v, want 2", got)
	}
}
