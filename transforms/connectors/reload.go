package connectors

import (
	"context"
	"fmt"
	"time"
)

// watch reloads connectors whose folder changed: fsnotify events
// (debounced) and a poll as a fallback both trigger a fingerprint check.
func (t *Transform) watch(ctx context.Context, poll time.Duration) {
	var dirs []string
	for _, c := range t.state.Load().conns {
		dirs = append(dirs, c.spec.dir)
	}
	folderWatch{dirs: dirs, recursive: true, poll: poll, check: t.checkReload, log: t.log}.run(ctx)
}

// checkReload reloads every connector whose files changed.
func (t *Transform) checkReload() {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	st := t.state.Load()
	for i, c := range st.conns {
		fp, err := fingerprint(c.spec.dir)
		if err != nil || fp == c.fp || fp == t.failedFP[i] {
			continue
		}
		if err := t.reload(i, fp); err != nil {
			t.failedFP[i] = fp
			t.metrics.reloads.WithLabelValues(t.name, c.spec.name, "error").Inc()
			t.log.Error("connector reload failed; keeping the running version", "connector", c.spec.name, "error", err)
			continue
		}
		delete(t.failedFP, i)
		t.metrics.reloads.WithLabelValues(t.name, c.spec.name, "ok").Inc()
		t.log.Info("connector reloaded", "connector", c.spec.name)
	}
}

// reload compiles and sets up a new version of connector i off the hot
// path, then publishes it; lanes switch between batches.
func (t *Transform) reload(i int, fp string) error {
	st := t.state.Load()
	old := st.conns[i]
	sp, err := t.loadSpec(i)
	if err != nil {
		return err
	}
	// As the config check at start would refuse it.
	for j, other := range st.conns {
		if j != i && other.spec.name == sp.name {
			return fmt.Errorf("plugin.json now names it %q, the name of chain[%d]; a connector may appear once per chain", sp.name, j)
		}
	}
	c, err := t.build(i, sp, old.sh, true)
	if err != nil {
		return err
	}
	conns := append([]*connector(nil), st.conns...)
	conns[i] = c
	t.state.Store(&chainState{gen: st.gen + 1, conns: conns})
	// The new version starts switched on: a reload is how an operator
	// brings a fixed connector back at once.
	t.metrics.tripped.WithLabelValues(t.name, c.spec.name).Set(0)
	old.retire()
	return nil
}
