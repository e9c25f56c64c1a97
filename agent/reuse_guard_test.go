package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/sources/file"
)

// hoarder is a transform that keeps every event it is given, as a tap
// that buffers or a connector that stores events in meta.global would,
// and declares that it does or, to prove the guard, that it does not.
type hoarderConfig struct {
	Declare string `toml:"declare"` // "keeps" or "keeps_none"
}

func (*hoarderConfig) Validate() error { return nil }

type hoarder struct {
	cfg  hoarderConfig
	mu   sync.Mutex
	kept []*event.Event
	// msgs are the events' messages as Apply saw them, not copied: the
	// file source's point into its read buffer.
	msgs []string
}

func (h *hoarder) Capabilities() component.Capabilities {
	return component.Capabilities{KeepsEvents: h.cfg.Declare == "keeps"}
}

func (h *hoarder) Apply(_ context.Context, in component.Input, out *component.Output) error {
	h.mu.Lock()
	h.kept = append(h.kept, in.Events...)
	for _, e := range in.Events {
		msg, _ := e.Properties.GetString("message")
		h.msgs = append(h.msgs, msg)
	}
	h.mu.Unlock()
	out.Events = append(out.Events, in.Events...)
	return nil
}

func (h *hoarder) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.kept)
}

// damaged lists the kept events that no longer read as the line they were
// built from: their memory was reused (or poisoned) under the hoarder.
func (h *hoarder) damaged(want func(i int) string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var bad []string
	for i, e := range h.kept {
		msg, _ := e.Properties.GetString("message")
		if msg != want(i) || h.msgs[i] != want(i) || len(e.UUID) != 36 || strings.Contains(e.UUID, event.Poison) {
			bad = append(bad, fmt.Sprintf("event %d: uuid %q message %q, kept message %q", i, e.UUID, msg, h.msgs[i]))
		}
	}
	return bad
}

// TestReusedEventsNeverReachAHolder runs the file source, which reuses a
// batch's memory once the agent released it, into a transform that keeps
// every event. Declared honestly, the agent never releases those batches
// and every kept event still reads as its line at the end. The lying
// declaration is the control that shows the check catches reuse: its kept
// events are overwritten by later batches or, built with -tags
// hogtailpoison, read event.Poison.
func TestReusedEventsNeverReachAHolder(t *testing.T) {
	cases := []struct {
		declare string
		intact  bool
	}{
		{"keeps", true},
		{"keeps_none", false},
	}
	for _, tc := range cases {
		t.Run(tc.declare, func(t *testing.T) {
			dir := t.TempDir()
			const n = 2000
			line := func(i int) string { return fmt.Sprintf("line %04d of a file read in batches of 100", i) }
			var text strings.Builder
			for i := 0; i < n; i++ {
				text.WriteString(line(i) + "\n")
			}
			logPath := filepath.Join(dir, "app.log")
			if err := os.WriteFile(logPath, []byte(text.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			var h *hoarder
			reg := testRegistry(map[string]*recorder{"out": {}}).
				AddSource(file.NewFactory()).
				AddTransform(component.NewTransformFactory("hoarder", "",
					func() *hoarderConfig { return &hoarderConfig{} },
					func(c *hoarderConfig, _ component.Settings) (component.Transform, error) {
						h = &hoarder{cfg: *c}
						return h, nil
					}))
			toml := fmt.Sprintf(`data_dir = %q
shutdown_timeout = "10s"
[api]
enabled = false
[sources.app]
type = "file"
include = [%q]
read_from = "beginning"
batch_lines = 100
[transforms.hold]
type = "hoarder"
inputs = ["app"]
declare = %q
[sinks.out]
type = "capture"
inputs = ["hold"]
`, dir, logPath, tc.declare)
			cfg, err := config.Parse(filepath.Join(dir, "hogtail.toml"), []byte(toml), reg, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			stop := startAgent(t, a)
			componenttest.Eventually(t, 20*time.Second, "every line reaches the hoarder", func() bool { return h.len() >= n })
			stop()
			bad := h.damaged(line)
			switch {
			case tc.intact && len(bad) > 0:
				t.Fatalf("%d of %d kept events were reused under their holder, e.g. %s", len(bad), n, bad[0])
			case !tc.intact && len(bad) == 0:
				t.Fatal("a transform that keeps events but declares it does not: no kept event was reused, so the check cannot catch reuse")
			}
			if len(bad) > 0 {
				t.Logf("%d of %d kept events damaged, e.g. %s", len(bad), n, bad[len(bad)-1])
			}
		})
	}
}
