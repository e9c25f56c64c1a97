package connectors

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
