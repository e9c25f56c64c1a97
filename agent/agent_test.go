package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/sources/demo"
)

// recorder is a sink that keeps every record it accepted, optionally
// failing the first failN deliveries.
type recorder struct {
	mu      sync.Mutex
	records []string
	failN   int
	delay   time.Duration
	discard bool // count only (benchmarks)
	n       int
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

type recorderConfig struct {
	component.DeliveryConfig
}

func (*recorderConfig) Validate() error { return nil }

func (r *recorder) Deliver(ctx context.Context, b component.Batch) error {
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failN > 0 {
		r.failN--
		return errors.New("receiver unavailable")
	}
	r.n += len(b.Records)
	if r.discard {
		return nil
	}
	for _, rec := range b.Records {
		r.records = append(r.records, string(rec))
	}
	return nil
}

func (r *recorder) events(t *testing.T) []*event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*event.Event, len(r.records))
	for i, s := range r.records {
		out[i] = &event.Event{}
		if err := out[i].UnmarshalJSON([]byte(s)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	return out
}

// tagger is a transform that sets properties.tag and discards odd seqs
// when drop_odd is set.
type taggerConfig struct {
	Tag     string `toml:"tag"`
	DropOdd bool   `toml:"drop_odd"`
	Webhook bool   `toml:"webhook"`
	// Keeps, when "yes" or "no", makes the tagger declare whether it keeps
	// events (component.Capabilities); empty declares nothing.
	Keeps string `toml:"keeps"`
}

func (*taggerConfig) Validate() error { return nil }

type tagger struct{ cfg taggerConfig }

// declaringTagger is a tagger that declares its capabilities.
type declaringTagger struct{ tagger }

func (t declaringTagger) Capabilities() component.Capabilities {
	return component.Capabilities{KeepsEvents: t.cfg.Keeps == "yes"}
}

func (t tagger) Apply(_ context.Context, in component.Input, out *component.Output) error {
	for _, e := range in.Events {
		if seq, _ := e.Properties.Get("seq"); t.cfg.DropOdd && seq.(int64)%2 == 1 {
			continue
		}
		e.Properties.Set("tag", t.cfg.Tag)
		out.Events = append(out.Events, e)
		if t.cfg.Webhook {
			out.Webhooks = append(out.Webhooks, component.Webhook{Connector: "t/hook", URL: "http://example.invalid/", Method: "POST", Body: e.UUID})
		}
	}
	return nil
}

func testRegistry(sinks map[string]*recorder) *component.Registry {
	reg := component.NewRegistry().
		AddSource(demo.NewFactory()).
		AddTransform(component.NewTransformFactory("tagger", "",
			func() *taggerConfig { return &taggerConfig{} },
			func(c *taggerConfig, _ component.Settings) (component.Transform, error) {
				if c.Keeps != "" {
					return declaringTagger{tagger{*c}}, nil
				}
				return tagger{*c}, nil
			}))
	for _, kind := range []component.Kind{component.KindEvents, component.KindWebhooks} {
		typ := "capture"
		if kind == component.KindWebhooks {
			typ = "capture_webhooks"
		}
		reg.AddSink(component.NewSinkFactory(typ, kind, "",
			func() *recorderConfig {
				d := component.DefaultDelivery()
				d.BatchTimeout = 0
				d.Retry.InitialInterval = component.Duration(time.Millisecond)
				d.Retry.MaxInterval = component.Duration(10 * time.Millisecond)
				return &recorderConfig{DeliveryConfig: d}
			},
			func(_ *recorderConfig, set component.Settings) (component.Sink, error) {
				r, ok := sinks[set.Name]
				if !ok {
					return nil, fmt.Errorf("no recorder for sink %q", set.Name)
				}
				return r, nil
			}))
	}
	return reg
}

func newAgent(t testing.TB, toml string, sinks map[string]*recorder) *Agent {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf("data_dir = %q\nshutdown_timeout = \"10s\"\n[api]\nenabled = false\n%s", dir, toml)
	cfg, err := config.Parse(filepath.Join(dir, "hogtail.toml"), []byte(text), testRegistry(sinks), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func runToEnd(t *testing.T, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("agent did not finish by itself")
	}
}

func seqs(t *testing.T, evs []*event.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		v, _ := e.Properties.Get("seq")
		out[i] = v.(int64)
	}
	return out
}

// TestWiringFanOutAndChains: one source feeds a sink directly and a chain
// of two transforms; the second transform's output feeds another sink.
// Every event arrives, in order, and a transform changing events does not
// change what the direct sink got.
func TestWiringFanOutAndChains(t *testing.T) {
	sinks := map[string]*recorder{"raw": {}, "tagged": {}}
	a := newAgent(t, `
[sources.gen]
type = "demo"
rate = 0.0
count = 2500
batch_size = 100

[transforms.first]
type = "tagger"
inputs = ["gen"]
tag = "one"

[transforms.second]
type = "tagger"
inputs = ["first"]
tag = "two"
drop_odd = true

[sinks.raw]
type = "capture"
inputs = ["gen"]
concurrency = 1

[sinks.tagged]
type = "capture"
inputs = ["second"]
concurrency = 1
`, sinks)
	runToEnd(t, a)
	raw := sinks["raw"].events(t)
	if len(raw) != 2500 {
		t.Fatalf("raw sink got %d events, want 2500", len(raw))
	}
	for i, s := range seqs(t, raw) {
		if s != int64(i) {
			t.Fatalf("raw event %d has seq %d: order lost", i, s)
		}
	}
	if _, tagged := raw[0].Properties.Get("tag"); tagged {
		t.Fatal("a transform's change leaked into the direct sink")
	}
	tagged := sinks["tagged"].events(t)
	if len(tagged) != 1250 {
		t.Fatalf("tagged sink got %d events, want 1250 (odd seqs discarded)", len(tagged))
	}
	for i, e := range tagged {
		if tag, _ := e.Properties.GetString("tag"); tag != "two" {
			t.Fatalf("event %d tag %q", i, tag)
		}
		if seq, _ := e.Properties.Get("seq"); seq != int64(2*i) {
			t.Fatalf("tagged event %d has seq %v", i, seq)
		}
	}
	if raw[0].UUID == "" || raw[0].UUID != tagged[0].UUID {
		t.Fatalf("uuid must be assigned once at the edge and kept: %q vs %q", raw[0].UUID, tagged[0].UUID)
	}
}

// TestShutdownDrainsEverything stops the agent while deliveries are slow
// and failing; every committed event still reaches the sink (count in ==
// count out), because shutdown drains the queues before stopping sinks.
func TestShutdownDrainsEverything(t *testing.T) {
	sinks := map[string]*recorder{"out": {failN: 3, delay: 2 * time.Millisecond}}
	a := newAgent(t, `
[sources.gen]
type = "demo"
rate = 20000.0
batch_size = 50

[sinks.out]
type = "capture"
inputs = ["gen"]
batch_max_events = 100
`, sinks)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// Stop once deliveries failed and resumed, with the source still
	// producing faster than the slow sink takes.
	componenttest.Eventually(t, 10*time.Second, "deliveries after the failures", func() bool { return sinks["out"].count() >= 500 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Reopen the buffer to read the committed checkpoint: the number of
	// events the source committed.
	cps, err := reopenCheckpoints(a, "gen")
	if err != nil {
		t.Fatal(err)
	}
	got := sinks["out"].events(t)
	if fmt.Sprint(len(got)) != string(cps["seq"]) || len(got) == 0 {
		t.Fatalf("committed %s events, delivered %d", cps["seq"], len(got))
	}
	seen := map[int64]bool{}
	for _, s := range seqs(t, got) {
		if seen[s] {
			t.Fatalf("seq %d delivered twice", s)
		}
		seen[s] = true
	}
}

func reopenCheckpoints(a *Agent, source string) (map[string][]byte, error) {
	b, err := openBuffer(a.cfg.Load().DataDir)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.Checkpoints(source).LoadCheckpoints()
}

// TestWebhooksRouted: webhooks composed by a transform reach the webhook
// sink that reads it; with no webhook sink they become dead letters.
func TestWebhooksRouted(t *testing.T) {
	sinks := map[string]*recorder{"hooks": {}, "events": {}}
	a := newAgent(t, `
[sources.gen]
type = "demo"
rate = 0.0
count = 30

[transforms.t]
type = "tagger"
inputs = ["gen"]
webhook = true

[transforms.orphan]
type = "tagger"
inputs = ["gen"]
webhook = true

[sinks.events]
type = "capture"
inputs = ["t", "orphan"]

[sinks.hooks]
type = "capture_webhooks"
inputs = ["t"]
`, sinks)
	runToEnd(t, a)
	if n := len(sinks["hooks"].records); n != 30 {
		t.Fatalf("webhook sink got %d requests, want 30", n)
	}
	if n := len(sinks["events"].records); n != 60 {
		t.Fatalf("event sink got %d, want 60", n)
	}
	b, err := openBuffer(a.cfg.Load().DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	b.DeadLetters(func(dl bufferDeadLetter) bool {
		if dl.Component == "orphan" {
			n++
		}
		return true
	})
	if n != 30 {
		t.Fatalf("orphan webhooks in dead letters: %d, want 30", n)
	}
}
