package event

import (
	"testing"
	"time"
)

func TestTimestampForms(t *testing.T) {
	now := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, in, want string
		bare           bool // no timestamp on the event itself
	}{
		{"iso kept verbatim", `{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2024-03-05T13:00:00+01:00"}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2024-03-05T13:00:00+01:00","properties":{}}`, false},
		{"epoch ms stays a number", `{"uuid":"u","event":"e","distinct_id":"d","timestamp":1709647631987}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":1709647631987,"properties":{}}`, false},
		{"offset: stored as now - offset", `{"uuid":"u","event":"e","distinct_id":"d","offset":1500}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2024-03-05T11:59:58.500Z","properties":{},"now":"2024-03-05T12:00:00.000Z","offset":1500}`, true},
		{"offset relative to the event's own now", `{"uuid":"u","event":"e","distinct_id":"d","now":"2024-01-01T00:00:01.000Z","offset":1000}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2024-01-01T00:00:00.000Z","properties":{},"now":"2024-01-01T00:00:01.000Z","offset":1000}`, true},
		{"timestamp wins over offset", `{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2020-01-01T00:00:00Z","offset":1000}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2020-01-01T00:00:00Z","properties":{},"offset":1000}`, false},
		{"non-numeric offset ignored", `{"uuid":"u","event":"e","distinct_id":"d","offset":"soon"}`,
			`{"uuid":"u","event":"e","distinct_id":"d","timestamp":"2024-03-05T12:00:00.000Z","properties":{},"offset":"soon"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &Event{}
			if err := e.UnmarshalJSON([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			e.EnsureIdentity(now)
			if (e.Timestamp == "") != tc.bare {
				t.Errorf("Timestamp = %q, want bare=%v", e.Timestamp, tc.bare)
			}
			got := string(e.AppendJSON(nil))
			if ts := e.OffsetTimestamp(); ts != "" {
				c := *e
				c.Timestamp = ts
				got = string(c.AppendJSON(nil))
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			// The stored form reads back to the same JSON (stable on redelivery).
			back := &Event{}
			if err := back.UnmarshalJSON([]byte(got)); err != nil {
				t.Fatal(err)
			}
			if again := string(back.AppendJSON(nil)); again != got {
				t.Errorf("round trip changed it:\n got %s\nwant %s", again, got)
			}
		})
	}
}
