package kafka

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	httpsink "github.com/hogtail/hogtail/sinks/http"
	"github.com/twmb/franz-go/pkg/kfake"
)

// benchRecords returns n events shaped like the demo source's (~290 bytes),
// from 50 people.
func benchRecords(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		e := &event.Event{
			UUID: event.NewUUID(), Event: "demo_log", DistinctID: "host-" + string(rune('a'+i%50)),
			Timestamp: event.FormatTime(time.Now()),
			Properties: event.Map{
				{Key: "message", Value: "slow query: SELECT * FROM orders WHERE user_id = ? (412ms)"},
				{Key: "level", Value: "info"}, {Key: "service", Value: "checkout"},
				{Key: "seq", Value: int64(i)}, {Key: "$host", Value: "bench-host"},
			},
		}
		out[i] = e.AppendJSON(nil)
	}
	return out
}

// deliverer is a sink under benchmark.
type deliverer interface {
	Deliver(context.Context, component.Batch) error
}

// run delivers b.N batches with `inflight` Deliver calls at a time (as the
// agent does with concurrency) and reports events/s.
func run(b *testing.B, s deliverer, recs [][]byte, inflight int) {
	b.SetBytes(int64(component.Batch{Records: recs}.Bytes()))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan struct{})
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := s.Deliver(context.Background(), component.Batch{Records: recs}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	b.ReportMetric(float64(b.N*len(recs))/time.Since(start).Seconds(), "events/s")
}

// BenchmarkSinks delivers batches of 1000 events into kfake through the
// kafka sink, and into a local HTTP receiver through the http sink, in the
// same run: compare their events/s. Both receivers discard what they get
// (kfake with BlackholeProduce, the HTTP one reads the body and answers
// 200), so the figures are the senders' (and the in-process receivers').
func BenchmarkSinks(b *testing.B) {
	const batch = 1000
	recs := benchRecords(batch)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	c := cluster(b, kfake.NumBrokers(1), kfake.SeedTopics(4, "hogtail_events"), kfake.BlackholeProduce())

	for _, inflight := range []int{1, 4} {
		name := map[int]string{1: "seq", 4: "inflight4"}[inflight]
		b.Run("http_json_array/"+name, func(b *testing.B) {
			hc := httpsink.NewFactory().NewConfig().(*httpsink.Config)
			hc.URL = srv.URL
			hc.Concurrency = inflight
			s, err := httpsink.New(hc, component.Settings{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			run(b, s, recs, inflight)
		})
		for _, tc := range []struct {
			name        string
			encoding    string
			compression string
		}{
			{"kafka_json_none", EncodingJSON, "none"},
			{"kafka_json_lz4", EncodingJSON, "lz4"},
			{"kafka_json_zstd", EncodingJSON, "zstd"},
			{"kafka_ingestion_lz4", EncodingPostHogIngestion, "lz4"},
		} {
			b.Run(tc.name+"/"+name, func(b *testing.B) {
				s := newSink(b, c, func(c *Config) {
					c.Encoding, c.Compression, c.Token, c.Concurrency = tc.encoding, tc.compression, "phc_bench", inflight
				})
				run(b, s, recs, inflight)
			})
		}
	}
}

// BenchmarkBuild is the sink's own work per batch (no network): scanning
// the records and building kgo records.
func BenchmarkBuild(b *testing.B) {
	recs := benchRecords(1000)
	for _, encoding := range []string{EncodingJSON, EncodingPostHogIngestion} {
		b.Run(encoding, func(b *testing.B) {
			cfg := defaultConfig()
			cfg.Encoding, cfg.Token = encoding, "phc_bench"
			s, err := New(cfg, component.Settings{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(component.Batch{Records: recs}.Bytes()))
			b.ReportAllocs()
			for range b.N {
				bt := s.getBatch()
				if err := s.build(bt, recs); err != nil {
					b.Fatal(err)
				}
				s.putBatch(bt)
			}
		})
	}
}
