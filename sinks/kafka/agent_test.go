package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/sinks/kafka"
	"github.com/hogtail/hogtail/sources/demo"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runAgent runs the real agent (config.Parse, agent.New) with a demo
// source of count events (rate per second, 0 = as fast as possible) into
// a kafka sink until the source finished and the queue drained. During the
// run, during is called once; it may stop the agent early (a SIGTERM) with
// stop. dir is the data directory ("" = a new one).
func runAgent(t *testing.T, c *kfake.Cluster, dir string, count int, rate float64, sinkTOML string, during func(stop func(), logs *lockedBuffer)) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	brokers := `"` + strings.Join(c.ListenAddrs(), `", "`) + `"`
	text := fmt.Sprintf(`data_dir = %q
shutdown_timeout = "20s"
[api]
enabled = false

[sources.gen]
type = "demo"
rate = %g
count = %d
batch_size = 500

[sinks.k]
type = "kafka"
inputs = ["gen"]
brokers = [%s]
retry.initial_interval = "50ms"
retry.max_interval = "300ms"
%s
`, dir, rate, count, brokers, sinkTOML)
	reg := component.NewRegistry().AddSource(demo.NewFactory()).AddSink(kafka.NewFactory())
	cfg, err := config.Parse(filepath.Join(dir, "hogtail.toml"), []byte(text), reg, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	stopped := false
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	if during != nil {
		during(func() { stopped = true; cancel() }, &logs)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil && !stopped {
		t.Fatal("the agent did not finish by itself")
	}
	if strings.Contains(logs.String(), "shutdown_timeout reached") {
		t.Fatalf("the sink did not drain its queue in time:\n%s", logs.String())
	}
	return logs.String()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// consumeSeqs reads the topic from the start and counts each demo seq.
func consumeSeqs(t *testing.T, c *kfake.Cluster, topic string, want int) map[int64]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seqs := map[int64]int{}
	n := 0
	for n < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var e event.Event
			if err := e.UnmarshalJSON(r.Value); err != nil {
				t.Errorf("record is not an event: %v", err)
				return
			}
			seq, _ := e.Properties.Get("seq")
			s, _ := seq.(int64)
			seqs[s]++
			n++
		})
	}
	return seqs
}

func checkSeqs(t *testing.T, seqs map[int64]int, count int) {
	t.Helper()
	dups := 0
	for i := range count {
		switch n := seqs[int64(i)]; {
		case n == 0:
			t.Fatalf("demo seq %d never arrived (%d distinct seqs)", i, len(seqs))
		case n > 1:
			dups += n - 1
		}
	}
	if len(seqs) != count {
		t.Fatalf("%d distinct seqs, want %d", len(seqs), count)
	}
	t.Logf("%d events, %d redelivered duplicates", count, dups)
}

// TestAgentEndToEnd: the real agent ships every demo event into Kafka
// while partition leaders move and the whole cluster restarts (its logs
// kept on disk, the same ports).
func TestAgentEndToEnd(t *testing.T) {
	const count = 20000
	dataDir := t.TempDir()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(4, "demo.demo_log"), kfake.DataDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, addr := range c.ListenAddrs() {
		port := 0
		fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port)
		ports = append(ports, port)
	}
	runAgent(t, c, "", count, 10000, `topic = "demo.{event}"`, func(func(), *lockedBuffer) {
		// The source makes 10,000 events/s for 2 s: disturb the
		// cluster while they flow.
		for range 4 {
			time.Sleep(150 * time.Millisecond)
			c.ShufflePartitionLeaders()
		}
		c.Close()
		time.Sleep(300 * time.Millisecond)
		c, err = kfake.NewCluster(kfake.NumBrokers(3), kfake.Ports(ports...), kfake.DataDir(dataDir))
		if err != nil {
			t.Error(err)
		}
	})
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	checkSeqs(t, consumeSeqs(t, c, "demo.demo_log", count), count)
}

// TestAgentPausesUntilTopicExists: the topic is missing at first, so the
// sink pauses and keeps the events; once it is created every event arrives.
func TestAgentPausesUntilTopicExists(t *testing.T) {
	const count = 2000
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	logs := runAgent(t, c, "", count, 0, `topic = "late"`, func(_ func(), logs *lockedBuffer) {
		componenttest.Eventually(t, 20*time.Second, "the sink paused on the unknown topic", func() bool {
			return strings.Contains(logs.String(), "sink paused")
		})
		if err := c.CreateTopic("late", 2, nil); err != nil {
			t.Error(err)
		}
	})
	if !strings.Contains(logs, "sink paused") || !strings.Contains(logs, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("the sink did not pause on the unknown topic; log:\n%s", logs)
	}
	checkSeqs(t, consumeSeqs(t, c, "late", count), count)
}

// TestAgentTopicRecreated: the topic is deleted and created again (new
// topic ID) while events flow. The sink recovers by itself: the run drains
// its queue and ends, and the new topic receives every event produced after
// the recreation (those produced before it went with the old topic).
func TestAgentTopicRecreated(t *testing.T) {
	const count = 3000
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "hogtail_events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runAgent(t, c, "", count, 1000, "", func(func(), *lockedBuffer) {
		if got := consumeSeqs(t, c, "hogtail_events", 200); len(got) < 200 {
			t.Errorf("only %d events before the recreation", len(got))
		}
		if err := c.DeleteTopic("hogtail_events"); err != nil {
			t.Error(err)
		}
		if err := c.CreateTopic("hogtail_events", 2, nil); err != nil {
			t.Error(err)
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("hogtail_events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, last, n := int64(-1), int64(-1), 0
	for last != count-1 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var e event.Event
			if err := e.UnmarshalJSON(r.Value); err != nil {
				t.Errorf("record is not an event: %v", err)
				return
			}
			v, _ := e.Properties.Get("seq")
			seq, _ := v.(int64)
			if first < 0 || seq < first {
				first = seq
			}
			last = max(last, seq)
			n++
		})
	}
	if last != count-1 || int64(n) < last-first+1 {
		t.Fatalf("the recreated topic holds %d events, seqs %d..%d: want every seq up to %d", n, first, last, count-1)
	}
}

// TestAgentStopAndRestart: the agent is stopped (as by SIGTERM) while
// events flow, and started again on the same data directory: every event
// arrives, those the first run had not confirmed at most once more.
func TestAgentStopAndRestart(t *testing.T) {
	const count = 20000
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(4, "hogtail_events"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	runAgent(t, c, dir, count, 20000, "", func(stop func(), _ *lockedBuffer) {
		time.Sleep(400 * time.Millisecond)
		stop()
	})
	first := consumeSeqs(t, c, "hogtail_events", 1)
	runAgent(t, c, dir, count, 0, "", nil)
	seqs := consumeSeqs(t, c, "hogtail_events", count)
	checkSeqs(t, seqs, count)
	if len(first) == 0 {
		t.Error("the first run delivered nothing: the test did not stop it mid-flow")
	}
}
