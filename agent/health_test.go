package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
)

// degradable is a pass-through transform that reports the problems it is
// told to (component.HealthReporter).
type degradable struct {
	mu    sync.Mutex
	probs []component.Problem
}

func (d *degradable) Apply(_ context.Context, in component.Input, out *component.Output) error {
	out.Events = append(out.Events, in.Events...)
	return nil
}

func (d *degradable) Health() []component.Problem {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]component.Problem(nil), d.probs...)
}

func (d *degradable) set(p ...component.Problem) {
	d.mu.Lock()
	d.probs = p
	d.mu.Unlock()
}

// TestHealthAsksComponents: /health includes the problems a transform
// reports through component.HealthReporter, keyed by transform and subject,
// and turns ok again when they are gone; the systemd watchdog (Healthy) is
// not withheld for them.
func TestHealthAsksComponents(t *testing.T) {
	d := &degradable{}
	reg := testRegistry(map[string]*recorder{"out": {}})
	reg.AddTransform(component.NewTransformFactory("degradable", "",
		func() *taggerConfig { return &taggerConfig{} },
		func(*taggerConfig, component.Settings) (component.Transform, error) { return d, nil }))
	dir := t.TempDir()
	text := fmt.Sprintf(`data_dir = %q
[api]
address = "127.0.0.1:0"
[sources.gen]
type = "demo"
rate = 0.0
count = 1
[transforms.chain]
type = "degradable"
inputs = ["gen"]
[sinks.out]
type = "capture"
inputs = ["chain"]
`, dir)
	cfg, err := config.Parse(filepath.Join(dir, "h.toml"), []byte(text), reg, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := a.ServeAPI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-a.Started()
	health := func() (int, string) { return getHealth(addr) }
	if code, body := health(); code != 200 {
		t.Fatalf("health %d %s", code, body)
	}
	d.set(component.Problem{Subject: "flaky", Message: "switched off"}, component.Problem{Message: "degraded"})
	code, body := health()
	if code != 503 || !strings.Contains(body, `{"component":"transforms.chain","error":"degraded"}`) ||
		!strings.Contains(body, `{"component":"transforms.chain/flaky","error":"switched off"}`) {
		t.Fatalf("health %d %s", code, body)
	}
	alive, cancelAlive := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelAlive()
	if err := a.Alive(alive); err != nil {
		t.Errorf("a component's own problem withheld the watchdog: %v", err)
	}
	d.set()
	if code, body := health(); code != 200 {
		t.Fatalf("health after recovery %d %s", code, body)
	}
}

// getHealth answers the status and body of GET /health at addr.
func getHealth(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProblemsReportsWhatAgentCannotSeeAlone: a transform's own report, a
// disk short of health.min_free_disk; the machinery stays alive all along.
func TestProblemsReportsWhatAgentCannotSeeAlone(t *testing.T) {
	d := &degradable{}
	sinks := map[string]*recorder{"out": {}}
	reg := testRegistry(sinks).AddTransform(component.NewTransformFactory("breaker", "",
		func() *taggerConfig { return &taggerConfig{} },
		func(*taggerConfig, component.Settings) (component.Transform, error) { return d, nil }))
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

	d.set(component.Problem{Subject: "geoip", Message: "switched off after 10 failed events"})
	if p := a.Problems(); !strings.Contains(p["transforms.chain/geoip"], "switched off") || len(p) != 1 {
		t.Fatalf("problems with a switched-off connector: %v", p)
	}
	alive()
	d.set()

	// No test machine has 1000 TiB free: the threshold stands for a full disk.
	if err := a.Reload(context.Background(), load(strings.Replace(text, `"1KiB"`, `"1000TiB"`, 1))); err != nil {
		t.Fatal(err)
	}
	if p := a.Problems(); !strings.Contains(p["data_dir"], "disk nearly full") || len(p) != 1 {
		t.Fatalf("problems with a full disk: %v", p)
	}
	alive()
}

// brokenSource fails at once, as a source whose port is taken does.
type brokenSource struct{}

func (brokenSource) Run(context.Context, component.Emitter) error {
	return errors.New("listen 127.0.0.1:5514: address already in use")
}

// TestAliveReportsAFailedSource: a source whose Run failed accepts nothing,
// so the machinery is not alive (the watchdog is withheld and systemd
// starts hogtail again); a source that finished its input is not a failure.
func TestAliveReportsAFailedSource(t *testing.T) {
	reg := testRegistry(map[string]*recorder{"out": {}}).AddSource(component.NewSourceFactory("broken", "",
		func() *taggerConfig { return &taggerConfig{} },
		func(*taggerConfig, component.Settings) (component.Source, error) { return brokenSource{}, nil }))
	for _, tc := range []struct {
		name, source string
		wantDead     bool
	}{
		{"failed", "type = \"broken\"", true},
		{"finished", "type = \"demo\"\nrate = 0.0\ncount = 3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// A second source keeps running: with none left the agent
			// stops, as documented.
			text := fmt.Sprintf("data_dir = %q\n[api]\nenabled = false\n[sources.in]\n%s\n[sources.steady]\ntype = \"demo\"\nrate = 10.0\n[sinks.out]\ntype = \"capture\"\ninputs = [\"in\", \"steady\"]\n", dir, tc.source)
			cfg, err := config.Parse(filepath.Join(dir, "h.toml"), []byte(text), reg, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(cfg, Options{Logger: discard()})
			if err != nil {
				t.Fatal(err)
			}
			stop := startAgent(t, a)
			defer stop()
			alive := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return a.Alive(ctx)
			}
			if tc.wantDead {
				componenttest.Eventually(t, 10*time.Second, "the failed source to show in Alive", func() bool {
					err := alive()
					return err != nil && strings.Contains(err.Error(), "sources.in: stopped: listen")
				})
				return
			}
			componenttest.Eventually(t, 10*time.Second, "the demo source to finish", func() bool { return a.liveSrc.Load() == 1 })
			if err := alive(); err != nil {
				t.Errorf("a finished source withheld the watchdog: %v", err)
			}
		})
	}
}
