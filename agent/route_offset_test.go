package agent

import (
	"testing"

	"github.com/hogtail/hogtail/agent/event"
)

// TestEncodeEventsOffsetTimestamp: an event that came with an offset and
// no timestamp is stored with now − offset, without changing the event the
// transforms see.
func TestEncodeEventsOffsetTimestamp(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"uuid":"u","event":"e","distinct_id":"d","now":"2024-01-01T00:00:01.000Z","offset":250}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2024-01-01T00:00:00.750Z","properties":{},"now":"2024-01-01T00:00:01.000Z","offset":250}`},
		{`{"uuid":"u","event":"e","distinct_id":"d","timestamp":1709647631987,"now":"2024-01-01T00:00:01.000Z","offset":250}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":1709647631987,"properties":{},"now":"2024-01-01T00:00:01.000Z","offset":250}`},
	}
	for _, tc := range cases {
		ev := &event.Event{}
		if err := ev.UnmarshalJSON([]byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		before := ev.Timestamp
		recs, _ := encodeEvents(nil, []*event.Event{ev})
		if string(recs[0]) != tc.want {
			t.Errorf("stored\n got %s\nwant %s", recs[0], tc.want)
		}
		if ev.Timestamp != before {
			t.Errorf("the event itself changed: timestamp %q", ev.Timestamp)
		}
	}
}
