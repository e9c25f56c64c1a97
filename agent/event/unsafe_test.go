package event

import "testing"

func TestElementIndex(t *testing.T) {
	type rec struct {
		a, b string
		n    int64
	}
	for _, n := range []int{1, 2, 7, 100} {
		s := make([]rec, n)
		for i := range s {
			if got := ElementIndex(s, &s[i]); got != i {
				t.Fatalf("len %d: element %d at index %d", n, i, got)
			}
		}
	}
}
