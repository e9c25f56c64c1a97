package connectors

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testOpts struct {
	onError string
	timeout time.Duration
	lanes   int
	kv      component.KV
	logs    *syncBuffer
	mutate  func(*Config)
	noStart bool
	// apiAddress is the agent API address the transform is told about.
	apiAddress string
}

// newTestTransform builds and starts a transform over chain, shut down at
// the end of the test.
func newTestTransform(t *testing.T, o testOpts, chain ...ChainEntry) *Transform {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HotReload = false
	cfg.Lanes = 1
	cfg.SetupRetry = component.Duration(10 * time.Millisecond)
	if o.lanes > 0 {
		cfg.Lanes = o.lanes
	}
	if o.onError != "" {
		cfg.OnError = o.onError
	}
	if o.timeout > 0 {
		cfg.Timeout = component.Duration(o.timeout)
	}
	cfg.Chain = chain
	if o.mutate != nil {
		o.mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	set := componenttest.Settings("enrich", t.TempDir())
	set.Store = o.kv
	set.APIAddress = o.apiAddress
	if set.Store == nil {
		set.Store = componenttest.NewKV()
	}
	if o.logs != nil {
		set.Logger = slog.New(slog.NewTextHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tr, err := New(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	if !o.noStart {
		if err := tr.Start(context.Background()); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return tr
}

func mustEvent(t *testing.T, js string) *event.Event {
	t.Helper()
	ev := &event.Event{}
	if err := ev.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatalf("event %s: %v", js, err)
	}
	ev.EnsureIdentity(time.Now())
	return ev
}

func applyAll(t *testing.T, tr *Transform, evs ...*event.Event) component.Output {
	t.Helper()
	var out component.Output
	if err := tr.Apply(context.Background(), component.Input{Source: "test", Events: evs}, &out); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return out
}

func plugin(name string, config map[string]any) ChainEntry {
	return ChainEntry{Path: "testdata/plugins/" + name, Config: config}
}

func testSettings(t *testing.T) component.Settings {
	set := componenttest.Settings("enrich", t.TempDir())
	set.Store = componenttest.NewKV()
	return set
}
