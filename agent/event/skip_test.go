package event

import (
	"strings"
	"testing"
)

func TestSkipValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`"a\"b",`, 6},
		{`"a\\",`, 5},
		{`{"k":"}"},1`, 9},
		{`[1,[2,{"x":"]"}]] `, 17},
		{`123,`, 3},
		{`true}`, 4},
		{`"open`, -1},
		{`{"k":1`, -1},
		{``, -1},
		{`,`, -1},
	} {
		if got := SkipValue([]byte(tc.in), 0); got != tc.want {
			t.Errorf("SkipValue(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if got := SkipSpace([]byte(" \t\r\nx"), 0); got != 4 {
		t.Errorf("SkipSpace = %d", got)
	}
}

// TestValues: values decoded one by one out of a document equal what
// ParseValue gives for each alone, and errors name document offsets.
func TestValues(t *testing.T) {
	doc := []byte(`[{"a":"x\"y","n":1,"f":1.5,"l":[true,null]}, "s" ,{"b":{}}]`)
	var spans [][2]int
	for i := 1; doc[i] != ']'; {
		end := SkipValue(doc, i)
		spans = append(spans, [2]int{i, end})
		i = SkipSpace(doc, end)
		if doc[i] == ',' {
			i = SkipSpace(doc, i+1)
		}
	}
	if len(spans) != 3 {
		t.Fatalf("spans %v", spans)
	}
	vals := NewValues(doc)
	for _, sp := range spans {
		got, err := vals.Parse(sp[0], sp[1])
		if err != nil {
			t.Fatalf("Parse(%d, %d): %v", sp[0], sp[1], err)
		}
		want, err := ParseValue(doc[sp[0]:sp[1]])
		if err != nil {
			t.Fatal(err)
		}
		if string(AppendValue(nil, got)) != string(AppendValue(nil, want)) {
			t.Errorf("span %v: got %s, want %s", sp, AppendValue(nil, got), AppendValue(nil, want))
		}
	}
	if _, err := NewValues([]byte(`[1, {"a":}]`)).Parse(4, 10); err == nil || !strings.Contains(err.Error(), "offset 9") {
		t.Errorf("error %v, want one at offset 9", err)
	}
}
