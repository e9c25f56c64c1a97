package agent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReloadLogsWhatChanged: a reload that adds, removes, changes and
// keeps components says which, in one line.
func TestReloadLogsWhatChanged(t *testing.T) {
	sinks := map[string]*recorder{"a": {}, "b": {}, "c": {}}
	dir := t.TempDir()
	parse := func(body string) *config.Config {
		t.Helper()
		text := fmt.Sprintf("data_dir = %q\n[api]\nenabled = false\n%s", dir, body)
		cfg, err := config.Parse(filepath.Join(dir, "h.toml"), []byte(text), testRegistry(sinks), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	var logs componenttest.SyncBuffer
	before := `
[sources.gen]
type = "demo"
rate = 100.0
[transforms.tag]
type = "tagger"
inputs = ["gen"]
tag = "one"
[sinks.a]
type = "capture"
inputs = ["tag"]
[sinks.b]
type = "capture"
inputs = ["gen"]
`
	after := strings.NewReplacer(`tag = "one"`, `tag = "two"`, "[sinks.b]", "[sinks.c]").Replace(before)
	a, err := New(parse(before), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	defer stop()
	if err := a.Reload(context.Background(), parse(after)); err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "config applied") {
			line = l
		}
	}
	for _, want := range []string{"started=[sinks.c]", "stopped=[sinks.b]", "changed=[transforms.tag]", "kept=\"[sinks.a sources.gen]\""} {
		if !strings.Contains(line, want) {
			t.Errorf("reload line lacks %s:\n%s", want, line)
		}
	}
	// Series of the new sink exist at 0 before anything happened to it.
	if got := testutil.CollectAndCount(a.m.deadLetters); got != 3 {
		t.Errorf("dead letter series: %d, want one per sink started (a, b, c)", got)
	}
	if got := testutil.ToFloat64(a.m.retries.WithLabelValues("c")); got != 0 {
		t.Errorf("retries of c = %v", got)
	}
}

// TestReloadLogsPastRateLimit: every reload says what it did, however many
// come in a burst; the log rate limiter (burst 2 here) does not swallow
// them.
func TestReloadLogsPastRateLimit(t *testing.T) {
	sinks := map[string]*recorder{"a": {}}
	dir := t.TempDir()
	parse := func(tag string) *config.Config {
		t.Helper()
		text := fmt.Sprintf("data_dir = %q\n[api]\nenabled = false\n[sources.gen]\ntype = \"demo\"\nrate = 100.0\n[transforms.tag]\ntype = \"tagger\"\ninputs = [\"gen\"]\ntag = %q\n[sinks.a]\ntype = \"capture\"\ninputs = [\"tag\"]\n", dir, tag)
		cfg, err := config.Parse(filepath.Join(dir, "h.toml"), []byte(text), testRegistry(sinks), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	var logs componenttest.SyncBuffer
	a, err := New(parse("v0"), Options{Logger: slog.New(NewRateLimitedHandler(slog.NewTextHandler(&logs, nil), 2, time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	stop := startAgent(t, a)
	defer stop()
	const reloads = 5
	for i := 1; i <= reloads; i++ {
		if err := a.Reload(context.Background(), parse(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "config applied"); n != reloads {
		t.Fatalf("%d config applied lines for %d reloads:\n%s", n, reloads, logs.String())
	}
}
