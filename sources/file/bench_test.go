package file

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

const benchLines = 200_000

// benchFile writes benchLines JSON lines of about 280 bytes, each with a
// unique seq, as in the workload.
func benchFile(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range benchLines {
		fmt.Fprintf(w, `{"seq":%d,"level":"info","ts":"2026-11-27T01:02:03.456Z","service":"checkout","host":"web-12","msg":"order placed by customer after payment authorised","order_id":"ord_%010d","amount":1234.56,"currency":"EUR","duration_ms":42,"path":"/api/v1/orders"}`+"\n", i, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// countEmitter counts events and drops them, as a buffer that costs
// nothing. Like the agent's emitter on a route without transforms, it
// queues asynchronously and releases the events (see component.Recycler).
type countEmitter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *countEmitter) Emit(_ context.Context, evs []*event.Event, _ ...component.Checkpoint) error {
	if c.n.Add(int64(len(evs))) == c.want {
		close(c.done)
	}
	return nil
}

func (c *countEmitter) EmitAsync(ctx context.Context, _ component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	return releasedPending{}, c.Emit(ctx, evs, cps...)
}

type releasedPending struct{}

func (releasedPending) Wait() error    { return nil }
func (releasedPending) Released() bool { return true }

func runBench(b *testing.B, codec string) {
	path := benchFile(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	start, m0 := time.Now(), mallocs()
	for range b.N {
		cfg := defaultConfig()
		cfg.Include = []string{path}
		cfg.Codec = codec
		src, err := NewFactory().CreateSource(cfg, componenttest.Settings("bench", b.TempDir()))
		if err != nil {
			b.Fatal(err)
		}
		em := &countEmitter{want: benchLines, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- src.Run(ctx, em) }()
		<-em.done
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(benchLines*b.N)/el.Seconds(), "lines/s")
	b.ReportMetric(float64(mallocs()-m0)/float64(benchLines*b.N), "allocs/line")
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// BenchmarkFileSourceText reads the workload with codec text into an emitter
// that drops events. Compare lines/s with BenchmarkFileSourceBaselineScanner.
func BenchmarkFileSourceText(b *testing.B) { runBench(b, "text") }

// BenchmarkFileSourceJSON is the same with codec json.
func BenchmarkFileSourceJSON(b *testing.B) { runBench(b, "json") }

// BenchmarkFileSourceBaselineScanner is the floor: bufio.Scanner over the
// same file, one string per line, no events.
func BenchmarkFileSourceBaselineScanner(b *testing.B) {
	path := benchFile(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	start, m0 := time.Now(), mallocs()
	var sink int
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			s := sc.Text()
			sink += len(s)
			n++
		}
		f.Close()
		if n != benchLines {
			b.Fatalf("read %d lines", n)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(benchLines*b.N)/el.Seconds(), "lines/s")
	b.ReportMetric(float64(mallocs()-m0)/float64(benchLines*b.N), "allocs/line")
	_ = sink
}
