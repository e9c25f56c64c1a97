package httpauth

import (
	"net/http"
	"testing"
)

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		header, cred string
		ok           bool
	}{
		{"Bearer s3cret", "s3cret", true},
		{"bearer s3cret", "s3cret", true},
		{"BEARER s3cret", "s3cret", true},
		{"Basic s3cret", "", false},
		{"s3cret", "", false},
		{"Bearer", "", false},
		{"", "", false},
	} {
		r := &http.Request{Header: http.Header{}}
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		cred, ok := Bearer(r)
		if cred != tc.cred || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.header, cred, ok, tc.cred, tc.ok)
		}
	}
	if !Equal("s3cret", "s3cret") || Equal("s3cre", "s3cret") || Equal("", "s3cret") {
		t.Error("Equal")
	}
}
