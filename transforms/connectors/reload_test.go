package connectors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

// versionSource is a connector that stamps its version and counts how often
// it saw each event (hits must stay 1: no event processed twice).
func versionSource(v int) string {
	return fmt.Sprintf(`export function setupPlugin({ global }) { global.version = %d }
export function processEvent(event, { global }) {
    event.properties.hits = (event.properties.hits || 0) + 1
    event.properties.version = global.version
    return event
}
export function teardownPlugin() {}
`, v)
}

func writeSource(t *testing.T, dir, src string) {
	t.Helper()
	tmp := filepath.Join(dir, ".index.js.tmp")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// rename: the watcher never sees a half-written file
	if err := os.Rename(tmp, filepath.Join(dir, "index.js")); err != nil {
		t.Fatal(err)
	}
}

func reloadTransform(t *testing.T, dir string, logs *syncBuffer) *Transform {
	writePlugin(t, dir, versionSource(1))
	return newTestTransform(t, testOpts{lanes: 2, logs: logs, mutate: func(c *Config) {
		c.HotReload = true
		c.PollInterval = component.Duration(50 * time.Millisecond)
	}}, ChainEntry{Path: dir})
}

func versionOf(t *testing.T, tr *Transform) any {
	t.Helper()
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	v, _ := out.Events[0].Properties.Get("version")
	return v
}

func waitVersion(t *testing.T, tr *Transform, want int64) {
	t.Helper()
	componenttest.Eventually(t, 5*time.Second, fmt.Sprintf("version %d to become active", want), func() bool {
		return versionOf(t, tr) == want
	})
}

func TestHotReloadUnderLoadLosesNothing(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	tr := reloadTransform(t, dir, logs)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var total atomic.Int64
	versions := sync.Map{}
	errs := make(chan error, 3)
	for s := 0; s < 3; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for b := 0; !stop.Load(); b++ {
				in := make([]*event.Event, 40)
				for i := range in {
					in[i] = &event.Event{UUID: fmt.Sprintf("%d-%d-%d", s, b, i), Event: "e", DistinctID: "d", Properties: event.Map{{Key: "seq", Value: int64(i)}}}
				}
				var out component.Output
				if err := tr.Apply(context.Background(), component.Input{Source: fmt.Sprint(s), Events: in}, &out); err != nil {
					errs <- err
					return
				}
				if len(out.Events) != len(in) {
					errs <- fmt.Errorf("batch %d-%d: %d events out of %d", s, b, len(out.Events), len(in))
					return
				}
				for i, ev := range out.Events {
					hits, _ := ev.Properties.Get("hits")
					v, _ := ev.Properties.Get("version")
					if ev.UUID != in[i].UUID || hits != int64(1) || v == nil {
						errs <- fmt.Errorf("batch %d-%d position %d: %s", s, b, i, ev.AppendJSON(nil))
						return
					}
					versions.Store(v, true)
				}
				total.Add(int64(len(in)))
			}
		}(s)
	}
	for v := 2; v <= 5; v++ {
		time.Sleep(80 * time.Millisecond)
		writeSource(t, dir, versionSource(v))
		waitVersion(t, tr, int64(v))
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for v := int64(1); v <= 5; v++ {
		if _, ok := versions.Load(v); !ok {
			t.Errorf("no event saw version %d", v)
		}
	}
	if total.Load() == 0 {
		t.Fatal("no load")
	}
	if !strings.Contains(logs.String(), "connector reloaded") {
		t.Errorf("reload not logged:\n%s", logs)
	}
	t.Logf("%d events across 4 reloads", total.Load())
}

func TestReloadErrorsKeepTheRunningVersion(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	tr := reloadTransform(t, dir, logs)
	if v := versionOf(t, tr); v != int64(1) {
		t.Fatalf("version %v", v)
	}
	bad := []struct{ name, src, log string }{
		{"syntax error", "export function processEvent(event { return event }", "connector reload failed"},
		{"bare import", "import x from 'left-pad'\nexport function processEvent(e) { return e }", "Cannot import 'left-pad'"},
		{"setupPlugin throws", "export function setupPlugin() { throw new Error('setup says no') }\nexport function processEvent(e) { e.properties.version = 99; return e }", "setup says no"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			writeSource(t, dir, b.src)
			componenttest.Eventually(t, 5*time.Second, "the reload error "+b.log+" in the log", func() bool {
				return strings.Contains(logs.String(), b.log)
			})
			if v := versionOf(t, tr); v != int64(1) {
				t.Errorf("version %v after a failed reload, want the old 1", v)
			}
		})
	}
	writeSource(t, dir, versionSource(2))
	waitVersion(t, tr, 2)
}

func TestShutdownLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	writePlugin(t, dir, versionSource(1))
	cfg := DefaultConfig()
	cfg.Lanes = 2
	cfg.PollInterval = component.Duration(10 * time.Millisecond)
	cfg.Chain = []ChainEntry{{Path: dir}, plugin("capture", nil)}
	tr, err := New(cfg, testSettings(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out component.Output
	if err := tr.Apply(context.Background(), component.Input{Events: []*event.Event{mustEvent(t, `{"event":"e","distinct_id":"d"}`)}}, &out); err == nil {
		t.Error("Apply after Shutdown must fail")
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines before, %d after Shutdown:\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHotReloadThroughFsnotify(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, versionSource(1))
	tr := newTestTransform(t, testOpts{mutate: func(c *Config) {
		c.HotReload = true
		c.PollInterval = component.Duration(time.Hour) // only fsnotify can see the change
	}}, ChainEntry{Path: dir})
	if v := versionOf(t, tr); v != int64(1) {
		t.Fatalf("version %v", v)
	}
	// A new file in a new subfolder, imported by the main file.
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "lib", "v.js"), []byte("export const v = 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSource(t, dir, `import { v } from './lib/v.js'
export function processEvent(event) { event.properties.version = v; return event }`)
	waitVersion(t, tr, 7)
	// An edit of the imported file alone is seen too (the subfolder is watched).
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "lib", "v.js"), []byte("export const v = 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, tr, 8)
}

// TestReloadRefusesDuplicateName: a reload whose plugin.json takes the name
// of another connector of the chain is refused, as the config check at
// start refuses it; the running version stays.
func TestReloadRefusesDuplicateName(t *testing.T) {
	root := t.TempDir()
	alpha, beta := filepath.Join(root, "alpha"), filepath.Join(root, "beta")
	for _, d := range []string{alpha, beta} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writePlugin(t, alpha, "export function processEvent(e) { e.properties.alpha = 1; return e }")
	writePlugin(t, beta, versionSource(1))
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{logs: logs, mutate: func(c *Config) {
		c.HotReload = true
		c.PollInterval = component.Duration(50 * time.Millisecond)
	}}, ChainEntry{Path: alpha}, ChainEntry{Path: beta})
	if err := os.WriteFile(filepath.Join(beta, "plugin.json"), []byte(`{"name":"alpha","config":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSource(t, beta, versionSource(2))
	componenttest.Eventually(t, 5*time.Second, "the reload to be refused", func() bool {
		return strings.Contains(logs.String(), "once per chain")
	})
	if v := versionOf(t, tr); v != int64(1) {
		t.Fatalf("version %v after a refused reload, want the old 1", v)
	}
}
