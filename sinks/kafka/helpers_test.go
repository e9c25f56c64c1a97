package kafka

import (
	"fmt"

	"github.com/hogtail/hogtail/agent/event"
)

// records returns n events from n%7 distinct people with a seq property.
func records(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = (&event.Event{
			UUID: fmt.Sprintf("0190a0c0-0000-7000-8000-%012d", i), Event: "log", DistinctID: fmt.Sprintf("user-%d", i%7),
			Timestamp:  "2026-01-02T03:04:05.678Z",
			Properties: event.Map{{Key: "message", Value: "a\nb"}, {Key: "seq", Value: int64(i)}},
		}).AppendJSON(nil)
	}
	return out
}
