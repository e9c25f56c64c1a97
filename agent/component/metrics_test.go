package component_test

import (
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A component rebuilt by a reload must keep counting on the collectors the
// first build registered, and a name clash must be reported, not dropped.
func TestCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := component.NewCollectors(reg, "hogtail_test_")
	n1 := first.Counter("things_total", "Things.")
	v1 := first.CounterVec("by_kind_total", "Things by kind.", "kind")
	g1 := first.Gauge("open", "Open things.")
	h1 := first.HistogramVec("seconds", "Durations.", []float64{1, 2}, "kind")
	if err := first.Err(); err != nil {
		t.Fatal(err)
	}
	n1.Inc()
	v1.WithLabelValues("a").Inc()
	g1.Set(3)
	h1.WithLabelValues("a").Observe(1)

	again := component.NewCollectors(reg, "hogtail_test_")
	n2 := again.Counter("things_total", "Things.")
	again.CounterVec("by_kind_total", "Things by kind.", "kind").WithLabelValues("a").Inc()
	again.Gauge("open", "Open things.")
	again.HistogramVec("seconds", "Durations.", []float64{1, 2}, "kind")
	if err := again.Err(); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	n2.Inc()
	if got := testutil.ToFloat64(n1); got != 2 {
		t.Errorf("things_total = %v after the rebuild counted, want 2 (the rebuild must reuse the collector)", got)
	}
	if got := testutil.ToFloat64(v1.WithLabelValues("a")); got != 2 {
		t.Errorf("by_kind_total{kind=a} = %v, want 2", got)
	}
	names := []string{"hogtail_test_things_total", "hogtail_test_by_kind_total", "hogtail_test_open", "hogtail_test_seconds"}
	if n, err := testutil.GatherAndCount(reg, names...); err != nil || n != 4 {
		t.Errorf("gathered %d series (%v), want 4", n, err)
	}

	clash := component.NewCollectors(reg, "hogtail_test_")
	clash.Gauge("things_total", "Things.")
	clash.Counter("fresh_total", "Fresh.")
	if err := clash.Err(); err == nil {
		t.Fatal("a gauge registered over a counter of the same name gave no error")
	}
	if n, err := testutil.GatherAndCount(reg, "hogtail_test_fresh_total"); err != nil || n != 1 {
		t.Errorf("a clash must not stop the next collector from registering: %d series, %v", n, err)
	}

	unexported := component.NewCollectors(nil, "hogtail_test_")
	unexported.Counter("things_total", "Things.").Inc()
	if err := unexported.Err(); err != nil {
		t.Errorf("nil registerer: %v", err)
	}
}
