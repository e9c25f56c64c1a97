package connectors

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestInvalidUUIDIsCounted: a uuid that is not a UUID is refused, counted
// and logged; a valid one replaces the event's uuid.
func TestInvalidUUIDIsCounted(t *testing.T) {
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{logs: logs}, plugin("set-uuid", nil))
	out := applyAll(t, tr,
		mustEvent(t, `{"uuid":"0190a0a0-0000-7000-8000-000000000001","event":"e","distinct_id":"d","properties":{"next_uuid":"nope"}}`),
		mustEvent(t, `{"uuid":"0190a0a0-0000-7000-8000-000000000002","event":"e","distinct_id":"d","properties":{"next_uuid":"bad","copy":true}}`),
		mustEvent(t, `{"uuid":"0190a0a0-0000-7000-8000-000000000003","event":"e","distinct_id":"d","properties":{"next_uuid":"5d4b1e8a-2f7c-4d6e-9a1b-3c2d4e5f6a7b"}}`),
	)
	want := []string{"0190a0a0-0000-7000-8000-000000000001", "0190a0a0-0000-7000-8000-000000000002", "5d4b1e8a-2f7c-4d6e-9a1b-3c2d4e5f6a7b"}
	for i, ev := range out.Events {
		if ev.UUID != want[i] {
			t.Errorf("event %d: uuid %s, want %s", i, ev.UUID, want[i])
		}
	}
	if got := testutil.ToFloat64(tr.metrics.errors.WithLabelValues("enrich", "set-uuid", "invalid_uuid")); got != 2 {
		t.Errorf("invalid_uuid errors = %v, want 2", got)
	}
	if !strings.Contains(logs.String(), `not a UUID: \"nope\"`) {
		t.Errorf("not logged:\n%s", logs)
	}
}
