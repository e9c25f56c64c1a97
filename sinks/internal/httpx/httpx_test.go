package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"999999999", MaxRetryAfter},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute}, // RFC 850
		{"Sun Mar  1 12:00:10 2026", 10 * time.Second},  // ANSI C
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0},            // past
		{"Mon, 01 Mar 2027 12:00:00 GMT", MaxRetryAfter},
		{"soon", 0},
		{"1.5", 0},
	} {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	ra := http.Header{"Retry-After": {"3"}}
	for _, tc := range []struct {
		status int
		header http.Header
		want   string
		after  time.Duration
	}{
		{200, nil, "ok", 0},
		{202, nil, "ok", 0},
		{204, nil, "ok", 0},
		{301, nil, "retry", 0},
		{400, nil, "permanent", 0},
		{400, ra, "permanent", 0},
		{401, nil, "paused", 0},
		{403, nil, "paused", 0},
		{404, nil, "permanent", 0},
		{408, nil, "retry", 0},
		{413, nil, "too_large", 0},
		{422, nil, "permanent", 0},
		{429, nil, "retry", 0},
		{429, ra, "retry", 3 * time.Second},
		{500, nil, "retry", 0},
		{502, ra, "retry", 3 * time.Second},
		{503, ra, "retry", 3 * time.Second},
		{504, nil, "retry", 0},
	} {
		err := Classify(tc.status, tc.header, []byte(" body "))
		got := "ok"
		var after time.Duration
		if err != nil {
			de := component.AsDeliveryError(err)
			after = de.RetryAfter
			switch {
			case de.Permanent:
				got = "permanent"
			case de.TooLarge:
				got = "too_large"
			case de.Paused:
				got = "paused"
			default:
				got = "retry"
			}
		}
		if got != tc.want || after != tc.after {
			t.Errorf("%d %v: got %s after %s (%v), want %s after %s", tc.status, tc.header, got, after, err, tc.want, tc.after)
		}
	}
}

// TestDoErrorNamesURLOnce: a transport error names the request once, with
// no query, and keeps its cause (a timeout stays a timeout).
func TestDoErrorNamesURLOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/batch/?token=secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Do(context.Background(), NewClient(2*time.Second, 1), req, NewMetrics(prometheus.NewRegistry()))
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	msg := err.Error()
	if strings.Count(msg, "http://"+addr) != 1 || strings.Contains(msg, `Post "`) || strings.Contains(msg, "secret") || !strings.HasPrefix(msg, "POST http://"+addr+"/batch/") {
		t.Fatalf("message %q", msg)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("cause lost: %v", err)
	}
}

// TestDoMasksURLSecrets: a transport error (net/http's *url.Error names
// the whole URL) and a status error both show the URL without user info
// or query values, and the error still classifies as a timeout.
func TestDoMasksURLSecrets(t *testing.T) {
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		http.Error(w, "nope", http.StatusUnauthorized)
	}))
	defer slow.Close()
	defer close(stop)
	m := NewMetrics(prometheus.NewRegistry())
	for _, tc := range []struct {
		name    string
		path    string
		timeout bool
	}{
		{"transport error", "/slow", true},
		{"status error", "/denied", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := strings.Replace(slow.URL, "http://", "http://user:pw-s3cret@", 1) + tc.path + "?api_key=phc_s3cret&x=1"
			req, err := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			c := &http.Client{Timeout: 100 * time.Millisecond}
			err = Do(context.Background(), c, req, m)
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "api_key=REDACTED") {
				t.Fatalf("error shows a secret: %v", err)
			}
			if IsTimeout(err) != tc.timeout {
				t.Fatalf("IsTimeout = %v for %v", !tc.timeout, err)
			}
		})
	}
}
