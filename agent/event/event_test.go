package event

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestRoundTrip decodes each testdata line and encodes it again: the output
// must equal the input byte for byte (key order, numbers, escapes), since
// plugins and PostHog's dedup see exactly these bytes.
func TestRoundTrip(t *testing.T) {
	f, err := os.Open("testdata/roundtrip.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		var e Event
		if err := e.UnmarshalJSON(sc.Bytes()); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		got := e.AppendJSON(nil)
		// Compare with the input re-encoded by encoding/json semantics:
		// both must be valid and equal as values, and equal as bytes
		// for our canonical key order.
		if !json.Valid(got) {
			t.Fatalf("line %d: invalid JSON %s", n, got)
		}
		if string(got) != sc.Text() {
			t.Errorf("line %d:\n got %s\nwant %s", n, got, sc.Text())
		}
	}
	if n != 3 {
		t.Fatalf("read %d lines", n)
	}
}

func TestFromMapCoercions(t *testing.T) {
	v, err := ParseValue([]byte(`{"event":"e","distinct_id":12345,"properties":{"b":1,"a":2},"team_id":7.0}`))
	if err != nil {
		t.Fatal(err)
	}
	var e Event
	if err := e.FromMap(v.(Map)); err != nil {
		t.Fatal(err)
	}
	if e.DistinctID != "12345" || e.TeamID != 7 {
		t.Fatalf("distinct_id %q team_id %d", e.DistinctID, e.TeamID)
	}
	if e.Properties[0].Key != "b" || e.Properties[1].Key != "a" {
		t.Fatalf("property order lost: %v", e.Properties)
	}
	for _, bad := range []string{`[1]`, `{"properties":[1]}`, `{"event":5}`, `{"a":`, `{"a":1} x`} {
		var e Event
		if err := e.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestMapSetDeleteClone(t *testing.T) {
	m := Map{{"a", 1}, {"b", Map{{"x", []any{"y"}}}}}
	c := m.Clone()
	c.Set("a", 2)
	c.Set("c", 3)
	c.Delete("b")
	if v, _ := m.Get("a"); v != 1 {
		t.Fatal("clone shares scalars")
	}
	if got := string(AppendValue(nil, c)); got != `{"a":2,"c":3}` {
		t.Fatalf("clone = %s", got)
	}
	cv, _ := c.Get("b")
	if cv != nil {
		t.Fatal("delete failed")
	}
	orig := Map{{"k", []any{"v"}}}
	cl := orig.Clone()
	cl[0].Value.([]any)[0] = "w"
	if orig[0].Value.([]any)[0] != "v" {
		t.Fatal("clone shares arrays")
	}
}

func TestNewAndEnsureIdentity(t *testing.T) {
	e := New("log", "host")
	if len(e.UUID) != 36 || e.UUID[14] != '7' {
		t.Fatalf("uuid %q is not a v7", e.UUID)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
		t.Fatal(err)
	}
	kept := &Event{UUID: "keep", Timestamp: "2020-01-01T00:00:00Z"}
	kept.EnsureIdentity(time.Now())
	if kept.UUID != "keep" || kept.Timestamp != "2020-01-01T00:00:00Z" {
		t.Fatal("EnsureIdentity replaced existing identity")
	}
	if !reflect.DeepEqual(e.Clone(), e) {
		t.Fatal("clone differs")
	}
}

func TestTimeFormatter(t *testing.T) {
	var f TimeFormatter
	base := time.Date(2026, 11, 27, 9, 59, 59, 0, time.FixedZone("X", 3600))
	for _, d := range []time.Duration{0, 0, time.Millisecond, time.Millisecond + 300*time.Microsecond, 999 * time.Millisecond,
		time.Second, time.Second + 999*time.Millisecond, 1500 * time.Millisecond, -time.Hour, -time.Hour, 36 * time.Hour, 0} {
		tm := base.Add(d)
		if got, want := f.Format(tm), FormatTime(tm); got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}
