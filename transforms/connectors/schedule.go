package connectors

import (
	"context"
	"errors"
	"time"
)

func (t *Transform) schedule(ctx context.Context) {
	minute := time.NewTicker(time.Minute)
	hour := time.NewTicker(time.Hour)
	day := time.NewTicker(24 * time.Hour)
	defer minute.Stop()
	defer hour.Stop()
	defer day.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-minute.C:
			t.runScheduled(ctx, "runEveryMinute")
			for _, c := range t.state.Load().conns {
				c.sh.cache.sweep()
			}
		case <-hour.C:
			t.runScheduled(ctx, "runEveryHour")
		case <-day.C:
			t.runScheduled(ctx, "runEveryDay")
		}
	}
}

// runScheduled calls a runEvery* task of every connector that exports it,
// on a runtime of its own (so tasks never wait for a lane). Events it
// captures go out with the next Apply.
func (t *Transform) runScheduled(ctx context.Context, name string) {
	t.schedMu.Lock()
	defer t.schedMu.Unlock()
	st := t.state.Load()
	if st == nil {
		return
	}
	for i, c := range st.conns {
		if !c.hasScheduled {
			continue
		}
		in := t.sched[i]
		if in == nil || in.c != c {
			if in != nil {
				in.teardown()
				delete(t.sched, i)
			}
			var err error
			in, err = newInstance(t, c)
			if err != nil {
				c.sh.logError(t.log, "cannot create scheduler runtime", err)
				continue
			}
			t.sched[i] = in
		}
		fn := in.fns[name]
		if fn == nil {
			continue
		}
		if err := in.setup(); err != nil {
			t.metrics.errors.WithLabelValues(t.name, c.spec.name, "setup").Inc()
			c.sh.logError(t.log, "setupPlugin failed before "+name, err)
			if in.broken {
				in.teardown()
				delete(t.sched, i)
			}
			continue
		}
		if _, err := in.call(fn, in.meta); err != nil {
			t.metrics.errors.WithLabelValues(t.name, c.spec.name, "scheduled").Inc()
			c.sh.logError(t.log, name+" failed", errors.New(jsErrorText(err)))
		}
		if in.broken {
			in.teardown()
			delete(t.sched, i)
		}
		if cap := in.takeCaptured(); len(cap) > 0 {
			t.pendingMu.Lock()
			t.pending = append(t.pending, cap...)
			t.pendingMu.Unlock()
		}
	}
}
