package file

import (
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTailBasic(t *testing.T) {
	h := newHarness(t, nil)
	appendFile(t, h.path("a.log"), "one\ntwo\r\nthree")
	h.start()
	evs := h.waitFor(2)
	appendFile(t, h.path("a.log"), " and more\n")
	evs = h.waitFor(3)
	got := messages(t, evs)
	want := []string{"one", "two", "three and more"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("got %q, want %q", got, want)
	}
	ev := evs[1]
	if f, _ := ev.Properties.GetString("$file"); f != h.path("a.log") {
		t.Errorf("$file = %q", f)
	}
	if off, _ := ev.Properties.Get("$offset"); off != int64(4) {
		t.Errorf("$offset = %v", off)
	}
	if ev.DistinctID != "testhost" || ev.Event != "log" || len(ev.UUID) != 36 {
		t.Errorf("event = %+v", ev)
	}
	// Counted once Emit returned, which is just after the emitter saw them.
	componenttest.Eventually(t, 5*time.Second, "lines_total = 3", func() bool { return testutil.ToFloat64(h.src.metrics.lines) == 3 })
	if n := testutil.ToFloat64(h.src.metrics.open); n != 1 {
		t.Errorf("open_files = %v, want 1", n)
	}
}
