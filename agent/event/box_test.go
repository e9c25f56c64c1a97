package event

import (
	"runtime"
	"testing"
)

func TestBoxSharesSlab(t *testing.T) {
	strs := []string{"alpha", "beta"}
	ints := []int64{-7, 1 << 50}
	vals := []any{BoxString(&strs[0]), BoxString(&strs[1]), BoxInt64(&ints[0]), BoxInt64(&ints[1])}
	strs, ints = nil, nil
	runtime.GC() // the boxes alone keep the slabs alive
	want := []any{"alpha", "beta", int64(-7), int64(1 << 50)}
	for i, v := range vals {
		if v != want[i] {
			t.Fatalf("box %d = %#v, want %#v", i, v, want[i])
		}
	}
	if s, ok := vals[1].(string); !ok || s != "beta" {
		t.Fatalf("type switch: %#v", vals[1])
	}
	m := Map{{Key: "k", Value: vals[0]}, {Key: "n", Value: vals[3]}}
	if got := string(AppendValue(nil, m)); got != `{"k":"alpha","n":1125899906842624}` {
		t.Fatalf("json %s", got)
	}
}

func TestBoxAllocatesNothing(t *testing.T) {
	s, n := "x", int64(99999)
	if a := testing.AllocsPerRun(100, func() { _, _ = BoxString(&s), BoxInt64(&n) }); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}
