package syslogsource

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// bufferEmitter commits events to a real bbolt disk buffer (fsync on), as
// the agent does, and signals once target events are stored.
type bufferEmitter struct {
	b      *buffer.Buffer
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func (e *bufferEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	recs := make([][]byte, len(evs))
	for i, ev := range evs {
		recs[i] = ev.AppendJSON(nil)
	}
	if err := e.b.Commit(ctx, &buffer.Commit{Appends: []buffer.Append{{Queue: "events", Records: recs}}, Source: "syslog_in", Checkpoints: cps}); err != nil {
		return err
	}
	if e.n.Add(int64(len(evs))) >= e.target {
		select {
		case e.done <- struct{}{}:
		default:
		}
	}
	return nil
}

// BenchmarkSyslogTCPDurable is BenchmarkSyslogTCP with the durable buffer
// on: every batch is committed (and fsynced) to a bbolt file.
func BenchmarkSyslogTCPDurable(b *testing.B) {
	buf, err := buffer.Open(filepath.Join(b.TempDir(), "buffer.db"), buffer.Options{Sync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	if err := buf.Queue("events", buffer.QueueConfig{}); err != nil {
		b.Fatal(err)
	}
	r := rounds(b)
	be := &bufferEmitter{b: buf, target: int64(r * benchChunk), done: make(chan struct{}, 1)}
	h := startWith(b, be, func(c *Config) { c.Mode = ModeTCP })
	b.ReportAllocs()
	b.ResetTimer()
	benchSend(b, h.src.Addr().String(), r)
	<-be.done
	b.StopTimer()
	h.stop()
	report(b, r*benchChunk)
}
