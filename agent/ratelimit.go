package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// RateLimitedHandler wraps a slog.Handler so that a message repeated in a
// burst (a receiver down, a connector throwing on every event) is logged at
// most Burst times per Every for each component; the next record after a
// quiet period says how many were suppressed. Debug records pass untouched.
type RateLimitedHandler struct {
	next  slog.Handler
	scope string // attrs added with WithAttrs, part of the key
	state *rlState
}

type rlState struct {
	mu    sync.Mutex
	burst int
	every time.Duration
	now   func() time.Time
	seen  map[string]*rlEntry
}

type rlEntry struct {
	start      time.Time
	count      int
	suppressed int
}

// NewRateLimitedHandler returns h limited to burst records per every, per
// message and component.
func NewRateLimitedHandler(h slog.Handler, burst int, every time.Duration) *RateLimitedHandler {
	return &RateLimitedHandler{next: h, state: &rlState{burst: burst, every: every, now: time.Now, seen: map[string]*rlEntry{}}}
}

// Enabled implements slog.Handler.
func (h *RateLimitedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// noLimitKey marks a context whose records are never rate limited.
type noLimitKey struct{}

// NoRateLimit returns a context whose log records RateLimitedHandler never
// suppresses: for messages an operator must see in full, such as every
// problem of a rejected config.
func NoRateLimit(ctx context.Context) context.Context {
	return context.WithValue(ctx, noLimitKey{}, true)
}

// Handle implements slog.Handler.
func (h *RateLimitedHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo || ctx.Value(noLimitKey{}) != nil {
		return h.next.Handle(ctx, r)
	}
	key := h.scope + "\x00" + r.Message
	s := h.state
	s.mu.Lock()
	now := s.now()
	e := s.seen[key]
	if e == nil || now.Sub(e.start) >= s.every {
		suppressed := 0
		if e != nil {
			suppressed = e.suppressed
		}
		e = &rlEntry{start: now}
		s.seen[key] = e
		if len(s.seen) > 10000 { // bound memory under a flood of distinct messages
			s.seen = map[string]*rlEntry{key: e}
		}
		if suppressed > 0 {
			r.AddAttrs(slog.Int("suppressed_before", suppressed))
		}
	}
	e.count++
	if e.count > s.burst {
		e.suppressed++
		s.mu.Unlock()
		return nil
	}
	if e.count == s.burst {
		r.AddAttrs(slog.String("rate_limit", fmt.Sprintf("further identical messages suppressed for %s", s.every)))
	}
	s.mu.Unlock()
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *RateLimitedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	scope := h.scope
	for _, a := range attrs {
		scope += a.String() + ";"
	}
	return &RateLimitedHandler{next: h.next.WithAttrs(attrs), scope: scope, state: h.state}
}

// WithGroup implements slog.Handler.
func (h *RateLimitedHandler) WithGroup(name string) slog.Handler {
	return &RateLimitedHandler{next: h.next.WithGroup(name), scope: h.scope + name + ".", state: h.state}
}
