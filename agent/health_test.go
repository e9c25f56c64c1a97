package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
)

// breaker is a transform passing events through that reports a tripped
// circuit breaker through component.HealthReporter when told to.
type breaker struct{ tripped *atomic.Bool }

func (b breaker) Apply(_ context.Context, in component.Input, out *component.Output) error {
	out.Events = append(out.Events, in.Events...)
	return nil
}

func (b breaker) Health() error {
	if b.tripped.Load() {
		return errors.New("connector geoip: circuit breaker open after 50 errors")
	}
	return nil
}

// TestProblemsReportsWhatAgentCannotSeeAlone: a transform's own report, a
// disk short of health.min_free_disk; the machinery stays alive all along.
func TestProblemsReportsWhatAgentCannotSeeAlone(t *testing.T) {
	var tripped atomic.Bool
	sinks := map[string]*recorder{"out": {}}
	reg := testRegistry(sinks).AddTransform(component.NewTransformFactory("breaker", "",
		func() *taggerConfig { return &taggerConfig{} },
		func(*taggerConfig, component.Settings) (component.Transform, error) { return breaker{&tripped}, nil }))
	dir := t.TempDir()
	text := fmt.Sprintf(`data_dir = %q
[api]
enabled = false
[health]
min_free_disk = "%s"
[sources.gen]
type = "demo"
rate = 20.0
[transforms.chain]
type = "breaker"
inputs = ["gen"]
[sinks.out]
type = "capture"
inputs = ["chain"]
`, dir, "1KiB")
	load := func(text string) *config.Config {
		cfg, err := config.Parse(filepath.Join(dir, "h.toml"), []byte(text), reg, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a, err := New(load(text), Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	defer stop()
	alive := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Alive(ctx); err != nil {
			t.Fatalf("machinery not alive: %v", err)
		}
	}
	if p := a.Problems(); len(p) != 0 {
		t.Fatalf("problems of a healthy agent: %v", p)
	}
	alive()

	tripped.Store(true)
	if p := a.Problems(); !strings.Contains(p["transforms.chain"], "circuit breaker open") || len(p) != 1 {
		t.Fatalf("problems with a tripped breaker: %v", p)
	}
	alive()
	tripped.Store(false)

	// No test machine has 1000 TiB free: the threshold stands for a full disk.
	if err := a.Reload(context.Background(), load(strings.Replace(text, `"1KiB"`, `"1000TiB"`, 1))); err != nil {
		t.Fatal(err)
	}
	if p := a.Problems(); !strings.Contains(p["data_dir"], "disk nearly full") || len(p) != 1 {
		t.Fatalf("problems with a full disk: %v", p)
	}
	alive()
}
