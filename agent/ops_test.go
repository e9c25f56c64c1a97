package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// pausable is a sink that answers like a receiver refusing our
// credentials while paused.
type pausable struct {
	recorder
	mu     sync.Mutex
	paused bool
}

func (p *pausable) setPaused(v bool) {
	p.mu.Lock()
	p.paused = v
	p.mu.Unlock()
}

func (p *pausable) Deliver(ctx context.Context, b component.Batch) error {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused {
		return component.Paused(fmt.Errorf("401 Unauthorized"))
	}
	return p.recorder.Deliver(ctx, b)
}

func startAgent(t testing.TB, a *Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Started():
	case err := <-done:
		t.Fatalf("agent stopped: %v", err)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.records)
}

func TestHealthFlipsWhenSinkPausedAndMetricsCount(t *testing.T) {
	p := &pausable{}
	reg := testRegistry(nil)
	reg.AddSink(component.NewSinkFactory("pausable", component.KindEvents, "",
		func() *recorderConfig {
			d := component.DefaultDelivery()
			d.BatchTimeout = 0
			d.Retry.InitialInterval = component.Duration(time.Millisecond)
			d.Retry.MaxInterval = component.Duration(20 * time.Millisecond)
			return &recorderConfig{DeliveryConfig: d}
		},
		func(*recorderConfig, component.Settings) (component.Sink, error) { return p, nil }))
	dir := t.TempDir()
	text := fmt.Sprintf(`data_dir = %q
[api]
address = "127.0.0.1:0"
[sources.gen]
type = "demo"
rate = 0.0
count = 500
[sinks.out]
type = "pausable"
inputs = ["gen"]
`, dir)
	cfg, err := config.Parse(filepath.Join(dir, "h.toml"), []byte(text), reg, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	p.setPaused(true)
	a, err := New(cfg, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	addr, _, err := a.ServeAPI(apiCtx)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	health := func() (int, string) { return getHealth(addr) }
	componenttest.Eventually(t, 10*time.Second, "health 503 while paused", func() bool {
		code, body := health()
		return code == 503 && strings.Contains(body, "sinks.out") && strings.Contains(body, "401")
	})
	p.setPaused(false)
	componenttest.Eventually(t, 10*time.Second, "health 200 after the receiver accepts again", func() bool {
		code, _ := health()
		return code == 200
	})
	if err := <-done; err != nil { // the demo source finishes after 500 events
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(a.m.eventsDelivered.WithLabelValues("out")); got != 500 {
		t.Fatalf("delivered metric = %v, want 500", got)
	}
	if got := testutil.ToFloat64(a.m.eventsOut.WithLabelValues("gen")); got != 500 {
		t.Fatalf("source sent metric = %v, want 500", got)
	}
	if p.len() != 500 {
		t.Fatalf("sink got %d records", p.len())
	}
}

func TestTapShowsEvents(t *testing.T) {
	sinks := map[string]*recorder{"out": {}}
	a := newAgent(t, `
[sources.gen]
type = "demo"
rate = 2000.0
batch_size = 10
[transforms.tag]
type = "tagger"
inputs = ["gen"]
tag = "tapped"
[sinks.out]
type = "capture"
inputs = ["tag"]
`, sinks)
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	a.cfg.Load().API.Address = "127.0.0.1:0"
	a.cfg.Load().API.Tap = true
	addr, _, err := a.ServeAPI(apiCtx)
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	defer stop()
	resp, err := http.Get("http://" + addr + "/tap?component=tag&limit=5")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		var e struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("tap line %q: %v", sc.Text(), err)
		}
		if e.Properties["tag"] != "tapped" {
			t.Fatalf("tap of the transform shows %v", e.Properties)
		}
		n++
	}
	if n != 5 {
		t.Fatalf("tap gave %d events, want 5", n)
	}
	if resp, _ := http.Get("http://" + addr + "/tap?component=nope"); resp.StatusCode != 404 {
		t.Fatalf("unknown component: %d", resp.StatusCode)
	}
	componenttest.Eventually(t, 10*time.Second, "tap removed", func() bool { return a.taps.active.Load() == 0 })
}

// TestReloadAddsAndRemovesSinksUnderLoad: events flow all along; a reload
// adds sink b, another removes sink a. a holds a gap-free prefix, b a
// gap-free suffix up to the last committed event, and they overlap.
func TestReloadAddsAndRemovesSinksUnderLoad(t *testing.T) {
	sinks := map[string]*recorder{"a": {}, "b": {}}
	head := `
[sources.gen]
type = "demo"
rate = 5000.0
batch_size = 20
`
	sinkA := "[sinks.a]\ntype = \"capture\"\ninputs = [\"gen\"]\nconcurrency = 1\n"
	sinkB := "[sinks.b]\ntype = \"capture\"\ninputs = [\"gen\"]\nconcurrency = 1\n"
	a := newAgent(t, head+sinkA, sinks)
	stop := startAgent(t, a)
	reload := func(body string) {
		t.Helper()
		old := a.cfg.Load()
		text := fmt.Sprintf("data_dir = %q\nshutdown_timeout = \"10s\"\n[api]\nenabled = false\n%s", old.DataDir, body)
		cfg, err := config.Parse(old.File, []byte(text), testRegistry(sinks), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	componenttest.Eventually(t, 10*time.Second, "a receives", func() bool { return sinks["a"].len() > 200 })
	reload(head + sinkA + sinkB)
	componenttest.Eventually(t, 10*time.Second, "b receives", func() bool { return sinks["b"].len() > 200 })
	reload(head + sinkB)
	nA := sinks["a"].len()
	componenttest.Eventually(t, 10*time.Second, "b keeps receiving", func() bool { return sinks["b"].len() > nA+200 })
	stop()

	cps, err := reopenCheckpoints(a, "gen")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	fmt.Sscan(string(cps["seq"]), &committed)
	as, bs := seqs(t, sinks["a"].events(t)), seqs(t, sinks["b"].events(t))
	for i, s := range as {
		if s != int64(i) {
			t.Fatalf("a: position %d holds seq %d (gap or duplicate)", i, s)
		}
	}
	for i := 1; i < len(bs); i++ {
		if bs[i] != bs[i-1]+1 {
			t.Fatalf("b: seq %d follows %d", bs[i], bs[i-1])
		}
	}
	if bs[len(bs)-1] != committed-1 {
		t.Fatalf("b ends at %d, but %d events were committed", bs[len(bs)-1], committed)
	}
	if bs[0] > as[len(as)-1]+1 {
		t.Fatalf("gap between a (up to %d) and b (from %d)", as[len(as)-1], bs[0])
	}
}

func TestReloadRejectsBadComponentKeepsOld(t *testing.T) {
	sinks := map[string]*recorder{"out": {}}
	a := newAgent(t, `
[sources.gen]
type = "demo"
rate = 1000.0
[sinks.out]
type = "capture"
inputs = ["gen"]
`, sinks)
	stop := startAgent(t, a)
	defer stop()
	old := a.cfg.Load()
	text := fmt.Sprintf("data_dir = %q\n[api]\nenabled = false\n[sources.gen]\ntype = \"demo\"\nrate = 1000.0\n[sinks.out]\ntype = \"capture\"\ninputs = [\"gen\"]\n[sinks.ghost]\ntype = \"capture\"\ninputs = [\"gen\"]\n", old.DataDir)
	cfg, err := config.Parse(old.File, []byte(text), testRegistry(sinks), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	// sinks.ghost has no recorder: its factory fails, so the reload fails.
	if err := a.Reload(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("reload error = %v", err)
	}
	if a.cfg.Load() != old {
		t.Fatal("config replaced despite the failed reload")
	}
	n := sinks["out"].len()
	componenttest.Eventually(t, 10*time.Second, "old pipeline keeps running", func() bool { return sinks["out"].len() > n+100 })
}

// TestSourceSentCountsStoredOnly: a source's sent events are counted once
// they are stored. A commit refused by a full queue is not counted: a
// source that reads again after it (a full disk) would count the same
// events again and again.
func TestSourceSentCountsStoredOnly(t *testing.T) {
	sinks := map[string]*recorder{"out": {}}
	a := newAgent(t, `
[sources.gen]
type = "demo"
rate = 0.001
[sinks.out]
type = "capture"
inputs = ["gen"]
buffer.max_size = "1KiB"
`, sinks)
	// Not run: no sink empties the queue, and no source shares it.
	t.Cleanup(func() { a.buf.Close() })
	// An emitter of its own, routed as gen is: the demo source's events
	// do not count under its name.
	em := a.emitterLike("probe", "gen")
	batch := func() []*event.Event {
		evs := make([]*event.Event, 10)
		for i := range evs {
			evs[i] = event.New("e", "d")
			// Random text: the chunk stays larger than the queue once
			// compressed.
			var pad strings.Builder
			for range 20 {
				pad.WriteString(event.NewUUID())
			}
			evs[i].Properties = event.Map{{Key: "pad", Value: pad.String()}}
		}
		return evs
	}
	sent := func() float64 { return testutil.ToFloat64(a.m.eventsOut.WithLabelValues("probe")) }
	base := sent()
	if err := em.Emit(context.Background(), batch()); err != nil { // an empty queue takes it
		t.Fatal(err)
	}
	if got := sent() - base; got != 10 {
		t.Fatalf("sent %v after a stored batch, want 10", got)
	}
	for range 3 { // the queue is full now: refused, not counted
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := em.Emit(ctx, batch())
		cancel()
		if !errors.Is(err, component.ErrFull) {
			t.Fatalf("emit into a full queue: %v", err)
		}
	}
	if got := sent() - base; got != 10 {
		t.Fatalf("sent %v after refused batches, want still 10", got)
	}
}

// emitterLike returns an emitter for a source name of its own, routed to
// the sinks that source like reaches (tests and benchmarks emit through
// it beside a running source).
func (a *Agent) emitterLike(name, like string) component.Emitter {
	em := a.emitter(name)
	a.flowMu.Lock()
	topo := a.topo.Load()
	topo.eventSinks[name] = topo.eventSinks[like]
	a.flowMu.Unlock()
	return em
}
