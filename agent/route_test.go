package agent

import (
	"context"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// TestEmitAsyncReleasesOnlyWhatNothingKeeps: a source may reuse the memory
// of a batch only when no transform it reaches may keep an event: each
// declares that it keeps none (component.Capabilities). A transform that
// declares nothing (a connector may keep an event in meta.global) or
// declares it keeps events, anywhere downstream, stops the reuse.
func TestEmitAsyncReleasesOnlyWhatNothingKeeps(t *testing.T) {
	sinks := map[string]*recorder{"raw": {}, "tagged": {}}
	a := newAgent(t, `
[sources.plain]
type = "demo"
rate = 0.001
[sources.chained]
type = "demo"
rate = 0.001
[sources.declared]
type = "demo"
rate = 0.001
[sources.mixed]
type = "demo"
rate = 0.001
[sources.kept]
type = "demo"
rate = 0.001
[transforms.tag]
type = "tagger"
inputs = ["chained"]
tag = "x"
[transforms.nokeep]
type = "tagger"
inputs = ["declared"]
tag = "y"
keeps = "no"
[transforms.nokeep2]
type = "tagger"
inputs = ["mixed"]
tag = "y"
keeps = "no"
[transforms.after]
type = "tagger"
inputs = ["nokeep2"]
tag = "z"
[transforms.keep]
type = "tagger"
inputs = ["kept"]
tag = "k"
keeps = "yes"
[sinks.raw]
type = "capture"
inputs = ["plain", "nokeep", "after"]
[sinks.tagged]
type = "capture"
inputs = ["tag", "keep"]
`, sinks)
	stop := startAgent(t, a)
	defer stop()
	for _, tc := range []struct {
		source   string
		released bool
	}{
		{"plain", true},    // no transform
		{"chained", false}, // a transform that declares nothing
		{"kept", false},    // one that declares it keeps events
		{"declared", true}, // a transform that declares it keeps none
		{"mixed", false},   // nokeep2 keeps none, but after declares nothing
	} {
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
