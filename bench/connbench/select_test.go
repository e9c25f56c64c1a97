package main

import "testing"

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		only, name string
		want       bool
	}{
		{"", "user-agent", true},
		{"user-agent,taxonomy", "taxonomy", true},
		{"user-agent, taxonomy", "taxonomy", true},
		{"user-agent,taxonomy", "hash", false},
		{"chain", "chain: filter → flatten → url", true},
		{"chain: filter → flatten → url", "chain: filter → flatten → url", true},
		{"chai", "chain: filter → flatten → url", false},
		{"user", "user-agent", false},
	} {
		if got := selected(tc.only, tc.name); got != tc.want {
			t.Errorf("selected(%q, %q) = %v, want %v", tc.only, tc.name, got, tc.want)
		}
	}
}
