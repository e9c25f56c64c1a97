package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/config"
)

// TestRejectedReloadLogsEveryProblem: a config with seven problems is
// rejected by the loader; all seven are logged although the log rate
// limiter allows five identical messages a minute, twice in a row, and
// hogtail_config_reload_failures_total counts both rejections.
func TestRejectedReloadLogsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hogtail.toml")
	good := "data_dir = \"data\"\n[api]\nenabled = false\n[sources.gen]\ntype = \"demo\"\nrate = 10.0\n[sinks.out]\ntype = \"console\"\ninputs = [\"gen\"]\ntarget = \"stderr\"\n"
	os.WriteFile(path, []byte(good), 0o644)
	cfg, err := config.Load(path, components())
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	level := new(slog.LevelVar)
	log := newLogger(cfg, level, &logs)
	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-a.Started()

	bad := good
	for i := range 7 {
		bad += fmt.Sprintf("bogus%d = 1\n", i)
	}
	os.WriteFile(path, []byte(bad), 0o644)
	for round := 1; round <= 2; round++ {
		reload(ctx, log, level, a, path, "test")
		for i := range 7 {
			if n := strings.Count(logs.String(), fmt.Sprintf("bogus%d: unknown key", i)); n != round {
				t.Fatalf("round %d: problem bogus%d logged %d times:\n%s", round, i, n, logs.String())
			}
		}
	}
	mfs, err := a.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var failures float64 = -1
	for _, mf := range mfs {
		if mf.GetName() == "hogtail_config_reload_failures_total" {
			failures = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if failures != 2 {
		t.Fatalf("hogtail_config_reload_failures_total = %v, want 2", failures)
	}
}
