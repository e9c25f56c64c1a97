package event

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// toPlain converts a decoded value to what encoding/json produces into
// `any` (unordered maps, float64 numbers), for comparison.
func toPlain(v any) any {
	switch t := v.(type) {
	case Map:
		m := make(map[string]any, len(t))
		for _, f := range t {
			m[f.Key] = toPlain(f.Value)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = toPlain(t[i])
		}
		return out
	case int64:
		return float64(t)
	}
	return v
}

var parseCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e3`, `-12.25E-2`, `true`, `false`, `null`,
	`{"a":1,"b":[1,2,{"c":null}],"d":"x"}`,
	`"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \ud800 x"`,
	"\"raw \xff invalid\"",
	` { "a" : [ 1 , 2 ] } `,
	`{"dup":1,"dup":2}`,
	`9223372036854775807`, `9223372036854775808`, `1e400`,
	// invalid
	`{`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `+1`, `"\x"`, "\"a\tb\"", `tru`, `{"a" 1}`, `[1 2]`, `1 2`, `"\u12"`, `-`, ``,
}

func FuzzParseValue(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseValue(data)
		var want any
		werr := json.Unmarshal(data, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: ParseValue err=%v, encoding/json err=%v", data, err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(toPlain(got), want) {
			t.Fatalf("%q: got %#v, encoding/json %#v", data, toPlain(got), want)
		}
		// Re-encoding gives valid JSON that decodes to the same value.
		enc := AppendValue(nil, got)
		var back any
		if err := json.Unmarshal(enc, &back); err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("%q: re-encoded %s (%v)", data, enc, err)
		}
	})
}

func TestParseKeepsOrderAndInts(t *testing.T) {
	v, err := ParseValue([]byte(`{"z":1,"a":{"y":2,"b":3},"big":9007199254740993}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(Map)
	if m[0].Key != "z" || m[1].Key != "a" || m[1].Value.(Map)[0].Key != "y" {
		t.Fatalf("order lost: %v", m)
	}
	if big, _ := m.Get("big"); big != int64(9007199254740993) {
		t.Fatalf("big int = %v", big)
	}
}

func TestDuplicateKeysLikeJSONParse(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":2,"a":3}`: `{"a":3,"b":2}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k1":"last"}`: `{"k0":0,"k1":"last","k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16}`,
		`{"x":{"y":1,"y":2}}`: `{"x":{"y":2}}`,
	} {
		v, err := ParseValue([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(AppendValue(nil, v)); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

// TestParseAfterError: a document that fails half-way leaves nothing behind
// for the next one (the parser's stacks are reused).
func TestParseAfterError(t *testing.T) {
	for _, bad := range []string{`{"a":[1,2,{"b":`, `[{"x":1},[2,3`, `{"k":"v","m":{"n":[true,`} {
		if _, err := ParseValue([]byte(bad)); err == nil {
			t.Fatalf("%s parsed", bad)
		}
		v, err := ParseValue([]byte(`{"c":[1,{"d":"e"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(AppendValue(nil, v)); got != `{"c":[1,{"d":"e"}]}` {
			t.Fatalf("after %s: parsed %s", bad, got)
		}
	}
}

// TestParseStringEdges: strings that end, or stop, at a word boundary of
// the eight-byte scan.
func TestParseStringEdges(t *testing.T) {
	for n := 0; n <= 20; n++ {
		body := strings.Repeat("a", n)
		for _, tc := range []struct {
			in string
			ok bool
		}{
			{`"` + body + `"`, true},
			{`"` + body, false},
			{`"` + body + `\"x"`, true},
			{`"` + body + "é" + body + `"`, true},
			{`"` + body + "\x01" + `"`, false},
			{`"` + body + "\xff" + `"`, true}, // invalid UTF-8 becomes U+FFFD
		} {
			v, err := ParseValue([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("%q: err %v, want ok=%v", tc.in, err, tc.ok)
			}
			var want any
			if jerr := json.Unmarshal([]byte(tc.in), &want); (jerr == nil) != tc.ok {
				t.Fatalf("%q: encoding/json says %v", tc.in, jerr)
			}
			if tc.ok && v != want {
				t.Fatalf("%q: parsed %q, encoding/json %q", tc.in, v, want)
			}
		}
	}
}
