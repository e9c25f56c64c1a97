package connectors

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce groups the burst of file events an editor or a deploy
// makes into one reload.
const reloadDebounce = 200 * time.Millisecond

// watch reloads connectors whose folder changed: fsnotify events
// (debounced) and a poll as a fallback both trigger a fingerprint check.
func (t *Transform) watch(ctx context.Context) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.log.Warn("fsnotify unavailable; polling connector folders only", "error", err)
	} else {
		defer w.Close()
		for _, c := range t.state.Load().conns {
			_ = filepath.WalkDir(c.spec.dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					if d.Name() == "node_modules" || d.Name() == ".git" {
						return filepath.SkipDir
					}
					if werr := w.Add(p); werr != nil {
						t.log.Warn("cannot watch connector folder; polling covers it", "dir", p, "error", werr)
					}
				}
				return nil
			})
		}
		events, errs = w.Events, w.Errors
	}
	poll := time.NewTicker(t.cfg.PollInterval.D())
	defer poll.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op&fsnotify.Create != 0 && w != nil {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					_ = w.Add(ev.Name)
				}
			}
			debounce.Reset(reloadDebounce)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			t.log.Warn("fsnotify error; polling continues", "error", err)
		case <-debounce.C:
			t.checkReload()
		case <-poll.C:
			t.checkReload()
		}
	}
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
