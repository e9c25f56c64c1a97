package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// countCases are JSON texts with the number of values and keys they hold.
var countCases = []struct {
	in   string
	want int
}{
	{`0`, 1},
	{`"a,b:[{"`, 1},
	{`"esc \" , ["`, 1},
	{`[]`, 1},
	{`{}`, 1},
	{`[0,1.5,-2e3,true,false,null]`, 7},
	{`{"a":1,"b":[2,3],"c":{"d":"x"}}`, 11},
	{` { "k" : [ [ ] , { } ] } `, 5},
	{`[` + strings.Repeat(`0,`, 999) + `0]`, 1001},
	{`{"event":"t","distinct_id":"u"}`, 5},
}

func TestCountValues(t *testing.T) {
	for _, c := range countCases {
		if got := CountValues([]byte(c.in)); got != c.want {
			t.Errorf("CountValues(%.40q) = %d, want %d", c.in, got, c.want)
		}
		v := NewValues([]byte(c.in))
		if _, err := v.Parse(0, len(c.in)); err != nil {
			t.Fatalf("%.40q: %v", c.in, err)
		}
		if v.Count() != c.want {
			t.Errorf("Values.Count after %.40q = %d, want %d", c.in, v.Count(), c.want)
		}
	}
}

func TestNumberOutOfRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`[1,2.5,-3e10,1e308]`, -1},
		{`{"a":"1e400","b":1}`, -1},
		{`{"a":1e400}`, 5},
		{`[0, -1E+999]`, 4},
		{`[` + strings.Repeat("9", 320) + `]`, 1},
		{`[` + strings.Repeat("9", 300) + `]`, -1},
	} {
		if got := NumberOutOfRange([]byte(c.in)); got != c.want {
			t.Errorf("NumberOutOfRange(%.40q) = %d, want %d", c.in, got, c.want)
		}
		_, err := ParseValue([]byte(c.in))
		if (err != nil) != (c.want >= 0) {
			t.Errorf("ParseValue(%.40q) error %v, but NumberOutOfRange says %d", c.in, err, c.want)
		}
	}
}

// FuzzCountValues checks the scanners against the parser: for every JSON
// text, CountValues counts what decoding it counts, and NumberOutOfRange
// finds a number exactly when ParseValue refuses one.
func FuzzCountValues(f *testing.F) {
	for _, c := range countCases {
		f.Add(c.in)
	}
	f.Add(`{"a":1e400}`)
	f.Add(`[1e-400, 2E+5]`)
	f.Fuzz(func(t *testing.T, in string) {
		b := []byte(in)
		if !json.Valid(b) {
			return
		}
		v := NewValues(b)
		_, err := v.Parse(0, len(b))
		bad := NumberOutOfRange(b)
		if err != nil {
			if !errors.Is(err, errSyntax) || !strings.Contains(err.Error(), "out of range") && !strings.Contains(err.Error(), "nested too deeply") {
				t.Fatalf("json.Valid text %q refused by ParseValue: %v", in, err)
			}
			if strings.Contains(err.Error(), "out of range") && bad < 0 {
				t.Fatalf("%q: ParseValue refuses a number (%v), NumberOutOfRange finds none", in, err)
			}
			return
		}
		if bad >= 0 {
			t.Fatalf("%q: NumberOutOfRange says %d, ParseValue accepts it", in, bad)
		}
		if got := CountValues(b); got != v.Count() {
			t.Fatalf("%q: CountValues %d, decoding counted %d", in, got, v.Count())
		}
	})
}
