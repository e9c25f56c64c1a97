package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/redact"
)

// health tracks the last error of each component; a component is healthy
// when its last error is nil.
type health struct {
	mu   sync.Mutex
	errs map[string]error
}

func newHealth() *health { return &health{errs: map[string]error{}} }

func (h *health) set(component string, err error) {
	h.mu.Lock()
	h.errs[component] = err
	h.mu.Unlock()
}

func (h *health) forget(component string) {
	h.mu.Lock()
	delete(h.errs, component)
	h.mu.Unlock()
}

// problems returns "component: error" for every unhealthy component.
func (h *health) problems() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for c, err := range h.errs {
		if err != nil {
			out[c] = redact.Text(err.Error())
		}
	}
	return out
}

// liveSet is the running components /health and the watchdog look at;
// apply replaces it.
type liveSet struct {
	sinks     []*runningSink
	sources   []*runningSource
	reporters map[string]component.HealthReporter // by "kind.name"
}

func (a *Agent) publishLive() {
	ls := &liveSet{reporters: map[string]component.HealthReporter{}}
	for name, s := range a.sinks {
		ls.sinks = append(ls.sinks, s)
		if r, ok := s.sink.(component.HealthReporter); ok {
			ls.reporters["sinks."+name] = r
		}
	}
	for name, t := range a.transforms {
		if r, ok := t.tr.(component.HealthReporter); ok {
			ls.reporters["transforms."+name] = r
		}
	}
	for name, s := range a.sources {
		ls.sources = append(ls.sources, s)
		if r, ok := s.src.(component.HealthReporter); ok {
			ls.reporters["sources."+name] = r
		}
	}
	a.live.Store(ls)
}

// Problems returns what /health reports, by component: components that
// failed or report a problem (component.HealthReporter), sinks paused by
// their receiver or failing for longer than health.sink_failing_after,
// buffer writes that fail and a data_dir disk short of
// health.min_free_disk. Empty means healthy.
func (a *Agent) Problems() map[string]string {
	out := a.health.problems()
	cfg := a.cfg.Load()
	ls := a.live.Load()
	if ls != nil {
		for _, s := range ls.sinks {
			since, paused, err := s.status.failing()
			if since.IsZero() || err == nil {
				continue
			}
			if paused {
				// At once: the receiver refuses us until an operator acts.
				out["sinks."+s.name] = "paused: " + err.Error()
			} else if d := time.Since(since); d >= cfg.Health.SinkFailingAfter.D() {
				key := "sinks." + s.name
				if _, ok := out[key]; !ok {
					out[key] = fmt.Sprintf("deliveries failing for %s (health.sink_failing_after %s): %v", d.Round(time.Second), cfg.Health.SinkFailingAfter.D(), err)
				}
			}
		}
		for name, r := range ls.reporters {
			for _, p := range r.Health() {
				key := name
				if p.Subject != "" {
					key += "/" + p.Subject
				}
				if prev, ok := out[key]; ok {
					out[key] = prev + "; " + p.Message
				} else {
					out[key] = p.Message
				}
			}
		}
	}
	if err := a.buf.WriteError(); err != nil {
		out["buffer"] = "writes fail: " + err.Error()
	}
	if min := int64(cfg.Health.MinFreeDisk); min > 0 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(cfg.DataDir, &st); err != nil {
			out["data_dir"] = fmt.Sprintf("cannot tell free space: %v", err)
		} else if free := int64(st.Bavail) * int64(st.Bsize); free < min {
			out["data_dir"] = fmt.Sprintf("disk nearly full: %d bytes free under %s, below health.min_free_disk (%d)", free, cfg.DataDir, min)
		}
	}
	for k, v := range out {
		out[k] = redact.Text(v) // receivers' errors may quote URLs with credentials
	}
	return out
}

// Alive reports whether hogtail's own machinery runs: no source's Run
// failed, the buffer's committer answers (every source's commit goes
// through it) and every sink's delivery loop runs. It is what the systemd watchdog pings mean;
// receivers that refuse or fail do not count (they show in Problems), since
// a restart cannot fix them and would only loop.
func (a *Agent) Alive(ctx context.Context) error {
	if err := a.buf.Ping(ctx); err != nil {
		return err
	}
	ls := a.live.Load()
	if ls == nil {
		return nil
	}
	var errs []error
	for _, s := range ls.sources {
		// A source whose Run failed accepts nothing any more; a restart
		// starts it again from its checkpoints. A source that finished
		// (stdin at its end) is not a failure.
		if err := s.failed.Load(); err != nil {
			errs = append(errs, fmt.Errorf("sources.%s: stopped: %w", s.name, *err))
		}
	}
	for _, s := range ls.sinks {
		if s.done == nil || s.stopping.Load() {
			continue // not started (a failed Start shows in Problems) or being replaced
		}
		select {
		case <-s.done:
			errs = append(errs, fmt.Errorf("sinks.%s: its delivery loop stopped", s.name))
		default:
		}
	}
	return errors.Join(errs...)
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
