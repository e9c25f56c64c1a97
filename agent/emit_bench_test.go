package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

// BenchmarkEmitCommitDeliver measures the agent's own path for one source:
// Emit (encode + group commit with fsync) of 1000-event batches of
// ~280-byte log lines, read back and acknowledged by a sink that accepts
// everything. Compare with BenchmarkBufferWriteReadDelete (the buffer
// alone) in the same run.
func BenchmarkEmitCommitDeliver(b *testing.B) {
	sinks := map[string]*recorder{"out": {}}
	a := newAgent(b, `
[sources.gen]
type = "demo"
rate = 0.001
[sinks.out]
type = "capture"
inputs = ["gen"]
batch_max_events = 1000
`, sinks)
	sinks["out"].discard = true
	stop := startAgent(b, a)
	defer stop()
	em := a.emitterLike("bench", "gen")
	const per = 1000
	msg := `{"seq":1,"ts":"2026-11-27T09:00:00.000Z","level":"info","service":"checkout","msg":"request served xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`
	batch := make([]*event.Event, per)
	for i := range batch {
		batch[i] = &event.Event{UUID: event.NewUUID(), Event: "log", DistinctID: "host", Timestamp: "2026-11-27T09:00:00.000Z",
			Properties: event.Map{{Key: "message", Value: msg}, {Key: "$file", Value: "/var/log/app.log"}, {Key: "$host", Value: "host"}, {Key: "$offset", Value: int64(i * 280)}}}
	}
	ctx := context.Background()
	b.ResetTimer()
	for n := 0; n < b.N; n += per {
		if err := em.Emit(ctx, batch[:min(per, b.N-n)], component.Checkpoint{Key: "k", Value: []byte(fmt.Sprint(n))}); err != nil {
			b.Fatal(err)
		}
	}
	componenttest.Eventually(b, 30*time.Second, "every event delivered", func() bool { return sinks["out"].count() >= b.N })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
