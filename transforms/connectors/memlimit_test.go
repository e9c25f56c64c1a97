package connectors

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMemoryBombIsStopped: a call that allocates without bound (a string
// doubling forever, an array growing forever) is stopped by max_memory long
// before the timeout, its event follows on_error, the error is counted as
// "memory", the runtime is replaced and what it held is freed; the next
// events are processed as usual.
func TestMemoryBombIsStopped(t *testing.T) {
	for _, bomb := range []string{"string", "array"} {
		t.Run(bomb, func(t *testing.T) {
			tr := newTestTransform(t, testOpts{onError: OnErrorDeadLetter, timeout: time.Minute, mutate: func(c *Config) {
				c.MaxMemory = 64 << 20
			}}, plugin("memory-bomb", nil))
			applyAll(t, tr, mustEvent(t, `{"event":"warm-up","distinct_id":"d"}`))
			before := tr.allLanes[0].insts[0]
			start := time.Now()
			out := applyAll(t, tr, eventsOf(t, []string{
				`{"event":"a","distinct_id":"d","properties":{"bomb":"` + bomb + `"}}`,
				`{"event":"b","distinct_id":"d"}`,
			})...)
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("stopped after %s: the timeout, not the memory guard, stopped it", d)
			}
			if len(out.DeadLetters) != 1 || !strings.Contains(out.DeadLetters[0].Reason, "the heap grew by more than max_memory (64 MiB)") {
				t.Fatalf("dead letters: %+v", out.DeadLetters)
			}
			if len(out.Events) != 1 || out.Events[0].Event != "b" {
				t.Fatalf("events: %d", len(out.Events))
			}
			if v, _ := out.Events[0].Properties.Get("survived"); v != true {
				t.Fatalf("the next event was not processed: %s", out.Events[0].AppendJSON(nil))
			}
			if got := testutil.ToFloat64(tr.metrics.errors.WithLabelValues("enrich", "memory-bomb", "memory")); got != 1 {
				t.Errorf("memory errors = %v, want 1", got)
			}
			if tr.allLanes[0].insts[0] == before {
				t.Error("the runtime that ran out of memory was not replaced")
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > 64<<20 {
				t.Errorf("heap still holds %d MiB after the runtime was replaced", ms.HeapAlloc>>20)
			}
		})
	}
}

// TestMemoryGuardOff: max_memory = 0 turns the guard off; no goroutine
// samples the heap.
func TestMemoryGuardOff(t *testing.T) {
	tr := newTestTransform(t, testOpts{mutate: func(c *Config) { c.MaxMemory = 0 }}, plugin("memory-bomb", nil))
	if tr.guard.limit != 0 {
		t.Fatal("limit not 0")
	}
	out := applyAll(t, tr, mustEvent(t, `{"event":"b","distinct_id":"d"}`))
	if v, _ := out.Events[0].Properties.Get("survived"); v != true {
		t.Fatal("not processed")
	}
	tr.guard.mu.Lock()
	running := tr.guard.stop != nil
	tr.guard.mu.Unlock()
	if running {
		t.Error("the guard samples the heap with max_memory = 0")
	}
}

// BenchmarkGuards measures what the memory guard and the breaker cost on
// BenchmarkChain's one-lane chain: "off" turns both off (max_memory = 0,
// breaker_threshold = 0), "on" keeps the defaults. Run with -count to
// alternate them in one process; compare the ratio, not the figures.
func BenchmarkGuards(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			tr := startBenchChain(b, 1, func(cfg *Config) {
				if !on {
					cfg.MaxMemory = 0
					cfg.BreakerThreshold = 0
				}
			}, ChainEntry{Path: "testdata/bench/add-property"})
			applyBatches(b, tr)
		})
	}
}
