package connectors

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/bench/realworld"
)

// realWorldChains are the workloads of bench/connbench (connectors written
// like popular PostHog plugins), by name.
var realWorldChains = map[string][]string{
	"user-agent":      {"user-agent"},
	"flatten":         {"flatten"},
	"property-filter": {"property-filter"},
	"url-normalizer":  {"url-normalizer"},
	"taxonomy":        {"taxonomy"},
	"hash":            {"hash"},
	"chain":           {"property-filter", "flatten", "url-normalizer"},
}

// realWorldEvents parses n events of the connector benchmark.
func realWorldEvents(b testing.TB, n int) []*event.Event {
	evs := make([]*event.Event, n)
	var line []byte
	for i := range evs {
		line = realworld.AppendEvent(line[:0], i)
		var e event.Event
		if err := e.UnmarshalJSON(line); err != nil {
			b.Fatal(err)
		}
		evs[i] = &e
	}
	return evs
}

// BenchmarkRealWorld runs the real-world connectors through the transform,
// one lane and two lanes fed by two sources, on fresh copies of the same
// events each round (connectors change the events they get).
//
//	go test -run XXX -bench RealWorld -benchtime 20000x ./transforms/connectors/
func BenchmarkRealWorld(b *testing.B) {
	const batch = 500
	for _, name := range []string{"user-agent", "flatten", "property-filter", "url-normalizer", "taxonomy", "hash", "chain"} {
		for _, lanes := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/lanes=%d", name, lanes), func(b *testing.B) {
				var chain []ChainEntry
				for _, c := range realWorldChains[name] {
					chain = append(chain, ChainEntry{Path: filepath.Join("../../bench/realworld/connectors", c)})
				}
				tr := startBenchChain(b, lanes, nil, chain...)
				src := realWorldEvents(b, batch)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				per := (b.N + lanes - 1) / lanes
				for s := 0; s < lanes; s++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						evs := make([]*event.Event, len(src))
						out := component.Output{Events: make([]*event.Event, 0, batch)}
						for n := 0; n < per; n += batch {
							for i, e := range src {
								evs[i] = e.Clone()
							}
							out.Events = out.Events[:0]
							if err := tr.Apply(context.Background(), component.Input{Source: fmt.Sprint("bench", s), Events: evs}, &out); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(lanes*per)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkRealWorldFloor runs each real-world connector the way Node's
// runner in bench/connbench does, inside one of hogtail's connector
// runtimes: a JavaScript loop parses each event line with JSON.parse, calls
// processEvent and serialises the result with JSON.stringify. Nothing of
// hogtail's event bridge, lanes or batching is involved, so its ns/op (per
// event) is what goja itself needs for the connector: the floor under
// BenchmarkRealWorld, and the figure to set beside Node's CPU per event.
// The "json-only" case calls an identity function instead, so its figure is
// what JSON.parse and JSON.stringify take out of every other case.
//
//	go test -run XXX -bench 'RealWorld(Floor)?/' -benchtime 20000x ./transforms/connectors/
func BenchmarkRealWorldFloor(b *testing.B) {
	const distinct = 500
	for _, name := range []string{"json-only", "user-agent", "flatten", "property-filter", "url-normalizer", "taxonomy", "hash"} {
		b.Run(name, func(b *testing.B) {
			dir := name
			if name == "json-only" {
				dir = "hash" // any connector: only its runtime is used
			}
			tr := startBenchChain(b, 1, nil, ChainEntry{Path: filepath.Join("../../bench/realworld/connectors", dir)})
			l := tr.allLanes[0]
			tr.syncLane(l)
			if err := tr.waitSetup(context.Background(), l, 0); err != nil {
				b.Fatal(err)
			}
			in := l.insts[0]
			vm := in.vm
			lines := make([]any, distinct)
			var line []byte
			for i := range lines {
				line = realworld.AppendEvent(line[:0], i)
				lines[i] = string(line[:len(line)-1])
			}
			drive, err := vm.RunString(`(function (lines, n, processEvent, meta) {
  let out = 0
  for (let i = 0; i < n; i++) {
    let event = JSON.parse(lines[i % lines.length])
    event = processEvent(event, meta) || null
    if (event) { JSON.stringify(event); out++ }
  }
  return out
})`)
			if err != nil {
				b.Fatal(err)
			}
			fn, ok := goja.AssertFunction(drive)
			if !ok {
				b.Fatal("driver is not a function")
			}
			processEvent := in.exportValue("processEvent")
			if name == "json-only" {
				if processEvent, err = vm.RunString(`(event) => event`); err != nil {
					b.Fatal(err)
				}
			}
			args := []goja.Value{vm.ToValue(lines), nil, processEvent, in.meta}
			// One warm-up pass, as the Node runner's JIT gets one.
			args[1] = vm.ToValue(distinct)
			if _, err := fn(goja.Undefined(), args...); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			args[1] = vm.ToValue(b.N)
			out, err := fn(goja.Undefined(), args...)
			if err != nil {
				b.Fatal(err)
			}
			if out.ToInteger() == 0 {
				b.Fatal("no event came out")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
