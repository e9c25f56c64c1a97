package connectors

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

// checkRuns bundles and compiles a connector and runs its top-level code in
// a throwaway runtime, as the agent does when it starts, so that a config
// that validates does not fail to start because of a connector's code.
// setupPlugin is not called: the agent retries it with backoff, it never
// stops a start.
func (c *Config) checkRuns(i int, sp *spec) error {
	t, err := New(c, component.Settings{
		Name:    "validate",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: prometheus.NewRegistry(),
	})
	if err != nil {
		return fmt.Errorf("chain[%d].path: connector %q: %w", i, sp.name, err)
	}
	t.nLanes = 1
	defer t.guard.close()
	conn, err := t.build(i, sp, &shared{name: sp.name, cache: newCache(), kv: component.NewMemoryKV()}, false)
	if err != nil {
		return err
	}
	conn.retire()
	return nil
}
