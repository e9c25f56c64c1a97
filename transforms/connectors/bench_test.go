package connectors

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

func benchEvents(n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = &event.Event{
			UUID: event.NewUUID(), Event: "$pageview", DistinctID: fmt.Sprintf("user-%d", i%100),
			Timestamp: "2026-01-01T00:00:00.000Z",
			Properties: event.Map{
				{Key: "$current_url", Value: "https://example.com/pricing"},
				{Key: "$browser", Value: "Firefox"},
				{Key: "$os", Value: "Linux"},
				{Key: "$lib", Value: "web"},
				{Key: "$screen_width", Value: int64(1920)},
				{Key: "$screen_height", Value: int64(1080)},
				{Key: "plan", Value: "pro"},
				{Key: "count", Value: int64(i)},
			},
		}
	}
	return evs
}

// goNoop is the baseline: a Go transform that adds the same property.
type goNoop struct{}

func (goNoop) Apply(_ context.Context, in component.Input, out *component.Output) error {
	for _, ev := range in.Events {
		ev.Properties.Set("processed_by", "hogtail")
		out.Events = append(out.Events, ev)
	}
	return nil
}

// applyBatches runs b.N events through tr in batches of 1000 from one
// caller and reports events/s.
func applyBatches(b *testing.B, tr component.Transform) {
	const batch = 1000
	evs := benchEvents(batch)
	out := component.Output{Events: make([]*event.Event, 0, batch)}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for n < b.N {
		out.Events = out.Events[:0]
		if err := tr.Apply(ctx, component.Input{Source: "bench", Events: evs}, &out); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkChain measures events/s through a one-connector chain that adds a
// property, with 1 and 2 lanes, against a Go transform doing the same.
func BenchmarkChain(b *testing.B) {
	const batch = 1000
	b.Run("go-noop", func(b *testing.B) { applyBatches(b, goNoop{}) })
	// Two sources calling Apply concurrently on a 2-lane chain: each batch
	// stays on one lane (no split).
	b.Run("lanes=2,sources=2", func(b *testing.B) {
		tr := startBenchChain(b, 2, nil, ChainEntry{Path: "testdata/bench/add-property"})
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		per := (b.N + 1) / 2
		for s := 0; s < 2; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				evs := benchEvents(batch)
				out := component.Output{Events: make([]*event.Event, 0, batch)}
				for n := 0; n < per; n += minChunk {
					out.Events = out.Events[:0]
					// minChunk-sized batches: never split across lanes.
					if err := tr.Apply(context.Background(), component.Input{Source: "bench", Events: evs[:minChunk]}, &out); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(2*per)/time.Since(start).Seconds(), "events/s")
	})
	for _, lanes := range []int{1, 2} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			applyBatches(b, startBenchChain(b, lanes, nil, ChainEntry{Path: "testdata/bench/add-property"}))
		})
	}
}

// startBenchChain starts a transform over chain with lanes lanes, shut down
// when the benchmark ends.
func startBenchChain(b *testing.B, lanes int, mutate func(*Config), chain ...ChainEntry) *Transform {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Lanes = lanes
	cfg.HotReload = false
	cfg.Chain = chain
	if mutate != nil {
		mutate(cfg)
	}
	tr, err := New(cfg, componenttest.Settings("bench", b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	if err := tr.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr
}

// BenchmarkMapping compares ways of handing an event to processEvent on one
// runtime: the DynamicObject view (used), a fresh native object per event,
// and JSON encode/parse.
func BenchmarkMapping(b *testing.B) {
	vm := goja.New()
	_, err := vm.RunString(`function processEvent(event) { event.properties.processed_by = 'hogtail'; return event }
function viaJSON(s) { const e = JSON.parse(s); e.properties.processed_by = 'hogtail'; return JSON.stringify(e) }`)
	if err != nil {
		b.Fatal(err)
	}
	pe, _ := goja.AssertFunction(vm.Get("processEvent"))
	vj, _ := goja.AssertFunction(vm.Get("viaJSON"))
	evs := benchEvents(1000)
	b.Run("dynamic", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ev := evs[i%len(evs)]
			eo := newEventObj(vm, ev)
			if _, err := pe(goja.Undefined(), eo.obj); err != nil {
				b.Fatal(err)
			}
			eo.materialize()
		}
	})
	b.Run("fresh-object", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ev := evs[i%len(evs)]
			r, err := pe(goja.Undefined(), toJS(vm, eventToMap(ev)))
			if err != nil {
				b.Fatal(err)
			}
			var ne event.Event
			v, err := fromJS(r)
			if err != nil {
				b.Fatal(err)
			}
			if err := ne.FromMap(v.(event.Map)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := 0; i < b.N; i++ {
			ev := evs[i%len(evs)]
			buf = ev.AppendJSON(buf[:0])
			r, err := vj(goja.Undefined(), vm.ToValue(string(buf)))
			if err != nil {
				b.Fatal(err)
			}
			var ne event.Event
			if err := ne.UnmarshalJSON([]byte(r.String())); err != nil {
				b.Fatal(err)
			}
		}
	})
}
