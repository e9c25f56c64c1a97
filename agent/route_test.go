package agent

import (
	"context"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// TestEmitAsyncReleasesOnlyUntransformedBatches: a source may reuse the
// memory of a batch that was only encoded, never that of a batch a
// transform received (a connector may keep an event).
func TestEmitAsyncReleasesOnlyUntransformedBatches(t *testing.T) {
	sinks := map[string]*recorder{"raw": {}, "tagged": {}}
	a := newAgent(t, `
[sources.plain]
type = "demo"
rate = 0.001
[sources.chained]
type = "demo"
rate = 0.001
[transforms.tag]
type = "tagger"
inputs = ["chained"]
tag = "x"
[sinks.raw]
type = "capture"
inputs = ["plain"]
[sinks.tagged]
type = "capture"
inputs = ["tag"]
`, sinks)
	stop := startAgent(t, a)
	defer stop()
	for _, tc := range []struct {
		source   string
		released bool
	}{{"plain", true}, {"chained", false}} {
		em := a.emitter(tc.source).(component.AsyncEmitter)
		ev := &event.Event{UUID: event.NewUUID(), Event: "log", DistinctID: "h", Properties: event.Map{{Key: "seq", Value: int64(1)}}}
		p, err := em.EmitAsync(context.Background(), nil, []*event.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		r, ok := p.(component.Recycler)
		if !ok {
			t.Fatalf("%s: the agent's Pending is not a component.Recycler", tc.source)
		}
		if r.Released() != tc.released {
			t.Errorf("%s: Released() = %v, want %v", tc.source, r.Released(), tc.released)
		}
	}
}
