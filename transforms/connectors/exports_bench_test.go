package connectors

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// BenchmarkExportSlowTarget measures processEvent throughput of a chain
// [add-property, exporter] whose export target takes 5 s per call:
// "export=idle" queues the exports and delivers none, "export=slow" keeps
// an onEvent call to the 5 s target in flight during the whole run. The
// exports run on the export sink's own runtime, so the two should be
// equal; compare them within one run:
//
//	go test -run '^$' -bench ExportSlowTarget -count 5 ./transforms/connectors/
func BenchmarkExportSlowTarget(b *testing.B) {
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	for _, mode := range []string{"idle", "slow"} {
		b.Run("export="+mode, func(b *testing.B) {
			tr := startBenchChain(b, 1, func(c *Config) {
				c.FetchAllowNetworks = []string{"127.0.0.1"}
				c.FetchTimeout = component.Duration(10 * time.Second)
			}, ChainEntry{Path: "testdata/bench/add-property"}, plugin("exporter", map[string]any{"url": slow.URL}))
			sink, _, _, err := tr.ExportSink()
			if err != nil {
				b.Fatal(err)
			}
			const batch = 1000
			evs := benchEvents(batch)
			ctx := context.Background()
			var first component.Output
			if err := tr.Apply(ctx, component.Input{Source: "bench", Events: evs[:1]}, &first); err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			if mode == "slow" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						_ = sink.Deliver(ctx, component.Batch{Records: first.Exports})
					}
				}()
				<-arrived // a 5 s call is in flight
			}
			out := component.Output{Events: make([]*event.Event, 0, batch)}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			n := 0
			for n < b.N {
				out.Events, out.Exports = out.Events[:0], out.Exports[:0]
				if err := tr.Apply(ctx, component.Input{Source: "bench", Events: evs}, &out); err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
			b.StopTimer()
			close(stop)
			slow.CloseClientConnections() // ends the call in flight
			wg.Wait()
		})
	}
}
