package connectors

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hogtail/hogtail/agent/component"
)

// breaker switches a connector off after threshold consecutive events it
// failed (a throw, a rejection, a timeout, a memory stop, in any of its
// per-event calls), as PostHog disables a plugin that keeps failing. While
// it is off, events follow on_error without calling the connector, so a
// connector that times out on every event no longer holds a lane for
// `timeout` per event and stalls every source feeding the chain. Every
// retry, one event probes the connector; a probe that succeeds switches it
// back on. A hot reload builds a new connector version with a fresh
// breaker.
//
// One breaker serves every lane of a connector version. The closed path
// (every event of a healthy connector) reads two atomics and writes
// nothing.
type breaker struct {
	threshold int32 // 0: never switch off
	retry     time.Duration

	open  atomic.Bool
	fails atomic.Int32

	mu        sync.Mutex
	nextProbe time.Time
	probing   bool
	lastErr   string
	since     time.Time
}

func newBreaker(threshold int, retry time.Duration) *breaker {
	return &breaker{threshold: int32(threshold), retry: retry}
}

// admission is what the breaker decided for one connector and one event.
type admission uint8

const (
	admitUnknown admission = iota // not asked yet for this event
	admitCall                     // closed: call the connector
	admitProbe                    // open, and this event probes it
	admitBypass                   // open: do not call it
)

// admit decides whether the connector is called for an event.
func (b *breaker) admit() admission {
	if !b.open.Load() {
		return admitCall
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open.Load() {
		return admitCall
	}
	if b.probing || time.Now().Before(b.nextProbe) {
		return admitBypass
	}
	b.probing = true
	return admitProbe
}

// transition is a change of state that record reports for logs and metrics.
type transition uint8

const (
	noChange transition = iota
	tripped
	recovered
)

// record takes the outcome of an admitted event (admitCall or admitProbe).
func (b *breaker) record(a admission, failed bool, errText string) transition {
	if !failed {
		if a == admitProbe {
			b.mu.Lock()
			b.probing = false
			b.open.Store(false)
			b.fails.Store(0)
			b.mu.Unlock()
			return recovered
		}
		if b.fails.Load() != 0 {
			b.fails.Store(0)
		}
		return noChange
	}
	if b.threshold <= 0 {
		return noChange
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastErr = firstLine(errText)
	if a == admitProbe {
		b.probing = false
		b.nextProbe = time.Now().Add(b.retry)
		return noChange
	}
	if b.fails.Add(1) < b.threshold || b.open.Load() {
		return noChange
	}
	b.open.Store(true)
	b.since = time.Now()
	b.nextProbe = b.since.Add(b.retry)
	return tripped
}

// problem describes an open breaker for /health, or returns false.
func (b *breaker) problem(name string) (component.Problem, bool) {
	if !b.open.Load() {
		return component.Problem{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return component.Problem{
		Subject: name,
		Message: fmt.Sprintf("connector switched off since %s after %d consecutive failed events (last error: %s); events follow on_error; next probe at %s",
			b.since.UTC().Format(time.RFC3339), b.threshold, b.lastErr, b.nextProbe.UTC().Format(time.RFC3339)),
	}, true
}

// Health reports every connector that is switched off by its breaker.
func (t *Transform) Health() []component.Problem {
	st := t.state.Load()
	if st == nil {
		return nil
	}
	var out []component.Problem
	for _, c := range st.conns {
		if p, ok := c.breaker.problem(c.spec.name); ok {
			out = append(out, p)
		}
	}
	return out
}

// admit asks connector i's breaker about the event being processed on l,
// once per event.
func (l *lane) admit(i int) admission {
	if l.admits[i] == admitUnknown {
		l.admits[i] = l.insts[i].c.breaker.admit()
	}
	return l.admits[i]
}

// settleBreakers records the outcome of the event just processed on l with
// every connector that was admitted, and clears the lane's per-event state.
func (t *Transform) settleBreakers(l *lane) {
	for i, a := range l.admits {
		if a == admitCall || a == admitProbe {
			c := l.insts[i].c
			switch c.breaker.record(a, l.failed[i] != "", l.failed[i]) {
			case tripped:
				t.metrics.tripped.WithLabelValues(t.name, c.spec.name).Set(1)
				t.log.Error("connector switched off: too many consecutive failed events; its events follow on_error until a probe succeeds",
					"connector", c.spec.name, "failed_events", c.breaker.threshold, "on_error", t.cfg.OnError, "probe_every", c.breaker.retry, "error", firstLine(l.failed[i]))
			case recovered:
				t.metrics.tripped.WithLabelValues(t.name, c.spec.name).Set(0)
				t.log.Info("connector switched back on: a probe event succeeded", "connector", c.spec.name)
			}
		}
		l.admits[i] = admitUnknown
		l.failed[i] = ""
	}
}

// errBypassed is the error of an event that a switched-off connector was
// not called for.
type errBypassed struct{ name string }

func (e errBypassed) Error() string {
	return fmt.Sprintf("connector %q is switched off after consecutive failures; not called", e.name)
}
