package posthog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/sinks/internal/httpx"
)

// benchRecords returns n events shaped like the demo source's (~290 bytes).
func benchRecords(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		e := &event.Event{
			UUID: event.NewUUID(), Event: "demo_log", DistinctID: "bench-host",
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

// drain is a receiver that reads the body and answers 200: the cheapest
// receiver, so the figures are the sender's.
func drain() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"status":1}`))
	}))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds events/s and CPU seconds per million events (of the whole
// process: sender and in-process receiver alike, for baseline and sink).
func report(b *testing.B, events int, wall, cpu time.Duration) {
	b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
	b.ReportMetric(cpu.Seconds()/float64(events)*1e6, "cpu-s/Mevents")
}

// BenchmarkPostHogSink delivers batches of 1000 events into a local
// receiver. The baseline POSTs the same uncompressed /batch/ body, built
// once, with a plain http.Client: the cost of HTTP alone.
func BenchmarkPostHogSink(b *testing.B) {
	const batch = 1000
	recs := benchRecords(batch)
	srv := drain()
	defer srv.Close()
	ctx := context.Background()

	b.Run("baseline_raw_post", func(b *testing.B) {
		var body bytes.Buffer
		writeBody(&body, []byte(`{"api_key":"phc_bench","sent_at":"`), []byte("2026-01-01T00:00:00.000Z"), recs)
		client := httpx.NewClient(30*time.Second, 2)
		b.SetBytes(int64(body.Len()))
		b.ResetTimer()
		start, cpu0 := time.Now(), cpuTime()
		for range b.N {
			resp, err := client.Post(srv.URL+"/batch/", "application/json", bytes.NewReader(body.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		report(b, b.N*batch, time.Since(start), cpuTime()-cpu0)
	})
	for _, tc := range []struct {
		name  string
		gzip  bool
		level int
	}{
		{"sink_plain", false, 1},
		{"sink_gzip1", true, 1},
		{"sink_gzip6", true, 6},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := defaultConfig()
			c.Host, c.APIKey, c.Gzip, c.GzipLevel = srv.URL, "phc_bench", tc.gzip, tc.level
			s := New(c, component.Settings{})
			b.SetBytes(int64(component.Batch{Records: recs}.Bytes()))
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for range b.N {
				if err := s.Deliver(ctx, component.Batch{Records: recs}); err != nil {
					b.Fatal(err)
				}
			}
			report(b, b.N*batch, time.Since(start), cpuTime()-cpu0)
		})
	}
}

// BenchmarkEncode is the body encoding alone (no network).
func BenchmarkEncode(b *testing.B) {
	recs := benchRecords(1000)
	for _, level := range []int{0, 1, 6} {
		b.Run(fmt.Sprintf("gzip%d", level), func(b *testing.B) {
			c := defaultConfig()
			c.APIKey, c.Gzip, c.GzipLevel = "phc_bench", level > 0, max(level, 1)
			s := New(c, component.Settings{})
			var buf bytes.Buffer
			b.SetBytes(int64(component.Batch{Records: recs}.Bytes()))
			b.ReportAllocs()
			for range b.N {
				buf.Reset()
				s.encode(&buf, s.prefix, recs)
			}
			b.ReportMetric(float64(buf.Len())/float64(component.Batch{Records: recs}.Bytes()), "ratio")
		})
	}
}
