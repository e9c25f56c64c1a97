package agent

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRateLimitedHandler(t *testing.T) {
	var buf bytes.Buffer
	h := NewRateLimitedHandler(slog.NewTextHandler(&buf, nil), 3, time.Minute)
	now := time.Unix(1000, 0)
	h.state.now = func() time.Time { return now }
	log := slog.New(h)
	a, b := log.With("sink", "a"), log.With("sink", "b")
	for i := 0; i < 10; i++ {
		a.Error("delivery failed")
		b.Error("delivery failed")
	}
	log.Debug("debug is not limited") // below the handler's level: not printed at all
	if n := strings.Count(buf.String(), "sink=a"); n != 3 {
		t.Fatalf("component a logged %d times, want 3:\n%s", n, buf.String())
	}
	if n := strings.Count(buf.String(), "sink=b"); n != 3 {
		t.Fatalf("component b logged %d times, want 3", n)
	}
	if !strings.Contains(buf.String(), "further identical messages suppressed") {
		t.Fatal("no notice of suppression")
	}
	buf.Reset()
	now = now.Add(2 * time.Minute)
	a.Error("delivery failed")
	if !strings.Contains(buf.String(), "suppressed_before=7") {
		t.Fatalf("after the window: %s", buf.String())
	}
}

// TestNoRateLimit: records logged with a NoRateLimit context all pass, and
// do not use up the budget of the limited ones.
func TestNoRateLimit(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewRateLimitedHandler(slog.NewTextHandler(&buf, nil), 2, time.Minute))
	full := NoRateLimit(context.Background())
	for i := 0; i < 7; i++ {
		log.ErrorContext(full, "config rejected", "problem", i)
	}
	if n := strings.Count(buf.String(), "config rejected"); n != 7 {
		t.Fatalf("logged %d of 7 problems:\n%s", n, buf.String())
	}
	buf.Reset()
	for i := 0; i < 3; i++ {
		log.Error("config rejected")
	}
	if n := strings.Count(buf.String(), "config rejected"); n != 2 {
		t.Fatalf("limited records: %d logged, want 2", n)
	}
}
