package agent

import (
	"bytes"
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
