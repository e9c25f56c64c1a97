package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// records returns n events of 7 people, with a seq property.
func records(n int) [][]byte {
	return recordsFrom(0, n)
}

func recordsFrom(first, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		seq := first + i
		out[i] = (&event.Event{
			UUID: fmt.Sprintf("0190a0c0-0000-7000-8000-%012d", seq), Event: "log", DistinctID: fmt.Sprintf("user-%d", seq%7),
			Timestamp:  "2026-01-02T03:04:05.678Z",
			Properties: event.Map{{Key: "message", Value: "a\nb"}, {Key: "seq", Value: int64(seq)}},
		}).AppendJSON(nil)
	}
	return out
}

func cluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newSink returns a started sink on the cluster's brokers.
func newSink(t testing.TB, c *kfake.Cluster, mod func(*Config)) *Sink {
	t.Helper()
	cfg := defaultConfig()
	cfg.Brokers = c.ListenAddrs()
	if mod != nil {
		mod(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, componenttest.Settings("kafka", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// consume reads want records from the topics (fewer if they do not come
// within the timeout), with a fresh client reading from the start.
func consume(t testing.TB, c *kfake.Cluster, want int, timeout time.Duration, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// deliverLikeAgent delivers a batch the way the agent does: it drops what
// the sink reported as delivered, splits on permanent and too-large errors
// (collecting the records it would dead-letter), and retries other errors.
func deliverLikeAgent(t testing.TB, s *Sink, recs [][]byte, dead *[][]byte) (errs int) {
	for {
		err := s.Deliver(context.Background(), component.Batch{Records: recs})
		if err == nil {
			return errs
		}
		errs++
		de := component.AsDeliveryError(err)
		if n := de.Delivered; n > 0 && n < len(recs) {
			recs = recs[n:]
		}
		switch {
		case de.Permanent || de.TooLarge:
			if len(recs) == 1 {
				*dead = append(*dead, recs[0])
				return errs
			}
			h := len(recs) / 2
			return errs + deliverLikeAgent(t, s, recs[:h], dead) + deliverLikeAgent(t, s, recs[h:], dead)
		case de.Paused:
			t.Fatalf("sink paused: %v", err)
		}
		t.Logf("retrying after: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
}

// seqOf returns properties.seq of a json-encoded event record.
func seqOf(t testing.TB, value []byte) int64 {
	t.Helper()
	var e event.Event
	if err := e.UnmarshalJSON(value); err != nil {
		t.Fatalf("record value is not an event: %v: %s", err, value)
	}
	v, _ := e.Properties.Get("seq")
	n, ok := v.(int64)
	if !ok {
		t.Fatalf("no seq in %s", value)
	}
	return n
}
