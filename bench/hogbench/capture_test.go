package main

import (
	"encoding/json"
	"testing"
)

// TestCaptureEvent: the generated events are valid JSON of 400 to 800
// bytes, with their seq where the receiver finds it.
func TestCaptureEvent(t *testing.T) {
	for _, seq := range []int{0, 1, 199, 400, 401, 99999} {
		b := appendCaptureEvent(nil, seq)
		if len(b) < 400 || len(b) > 800 {
			t.Errorf("seq %d: %d bytes", seq, len(b))
		}
		var ev struct {
			Properties struct {
				Seq int `json:"seq"`
			} `json:"properties"`
			UUID string `json:"uuid"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("seq %d: %v\n%s", seq, err, b)
		}
		if ev.Properties.Seq != seq || len(ev.UUID) != 36 {
			t.Errorf("seq %d: parsed %+v", seq, ev)
		}
		recs := scanLine(b, nil)
		if len(recs) != 1 || recs[0].seq != seq {
			t.Errorf("seq %d: receiver reads %+v", seq, recs)
		}
	}
}
