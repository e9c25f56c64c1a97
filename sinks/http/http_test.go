package http

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/sinks/sinktest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func records(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = (&event.Event{
			UUID: fmt.Sprintf("0190a0c0-0000-7000-8000-%012d", i), Event: "log", DistinctID: "h",
			Timestamp:  "2026-01-02T03:04:05.678Z",
			Properties: event.Map{{Key: "message", Value: "a\nb"}, {Key: "seq", Value: int64(i)}},
		}).AppendJSON(nil)
	}
	return out
}

func newSink(t *testing.T, url string, mod func(*Config)) *Sink {
	t.Helper()
	c := defaultConfig()
	c.URL = url
	if mod != nil {
		mod(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(c, componenttest.Settings("out", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func TestEncodings(t *testing.T) {
	for _, tc := range []struct {
		name, encoding string
		gzip           bool
		contentType    string
	}{
		{"json_array", EncodingJSONArray, false, "application/json"},
		{"json_array_gzip", EncodingJSONArray, true, "application/json"},
		{"ndjson", EncodingNDJSON, false, "application/x-ndjson"},
		{"ndjson_gzip", EncodingNDJSON, true, "application/x-ndjson"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := sinktest.NewReceiver(nil)
			defer rcv.Close()
			s := newSink(t, rcv.URL+"/ingest", func(c *Config) { c.Encoding, c.Gzip = tc.encoding, tc.gzip })
			recs := records(3)
			if err := s.Deliver(context.Background(), component.Batch{Records: recs}); err != nil {
				t.Fatal(err)
			}
			r := rcv.Requests()[0]
			if r.Path != "/ingest" || r.Method != "POST" || r.Gzip != tc.gzip || r.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("%s %s gzip %v content-type %q", r.Method, r.Path, r.Gzip, r.Header.Get("Content-Type"))
			}
			if (r.Header.Get("Content-Encoding") == "gzip") != tc.gzip {
				t.Errorf("Content-Encoding %q", r.Header.Get("Content-Encoding"))
			}
			if r.DecodeErr != nil || len(r.Events) != 3 {
				t.Fatalf("decoded %d events: %v", len(r.Events), r.DecodeErr)
			}
			for i, e := range r.Events {
				if !bytes.Equal(e.Raw, recs[i]) {
					t.Errorf("event %d changed: %s", i, e.Raw)
				}
			}
			golden := filepath.Join("testdata", tc.encoding+".golden")
			if *update {
				os.WriteFile(golden, r.Body, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Body, want) {
				t.Errorf("body differs from %s:\n got %q\nwant %q", golden, r.Body, want)
			}
		})
	}
}

func TestHeadersAndAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth AuthConfig
		want string
	}{
		{"none", AuthConfig{}, ""},
		{"basic", AuthConfig{Strategy: "basic", User: "alice", Password: "pw"}, "Basic YWxpY2U6cHc="},
		{"bearer", AuthConfig{Strategy: "bearer", Token: "tok"}, "Bearer tok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := sinktest.NewReceiver(nil)
			defer rcv.Close()
			s := newSink(t, rcv.URL, func(c *Config) {
				c.Auth = tc.auth
				c.Method = "PUT"
				c.Headers = map[string]string{"X-Scope-OrgID": "tenant1", "authorization": "from headers"}
			})
			if err := s.Deliver(context.Background(), component.Batch{Records: records(1)}); err != nil {
				t.Fatal(err)
			}
			r := rcv.Requests()[0]
			want := tc.want
			if want == "" {
				want = "from headers"
			}
			if r.Method != "PUT" || r.Header.Get("X-Scope-OrgID") != "tenant1" || r.Header.Get("Authorization") != want {
				t.Errorf("method %s headers %v", r.Method, r.Header)
			}
		})
	}
}

func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		ans  sinktest.Answer
		want string
	}{
		{sinktest.Answer{Status: 200}, "ok"},
		{sinktest.Answer{Status: 503}, "retry"},
		{sinktest.Answer{Status: 413}, "too_large"},
		{sinktest.Answer{Status: 403}, "paused"},
		{sinktest.Answer{Status: 400}, "permanent"},
		{sinktest.Answer{Drop: true}, "retry"},
		{sinktest.Answer{Delay: 2 * time.Second}, "retry"},
	} {
		rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer { return tc.ans })
		s := newSink(t, rcv.URL, func(c *Config) { c.Timeout = component.Duration(300 * time.Millisecond) })
		err := s.Deliver(context.Background(), component.Batch{Records: records(2)})
		rcv.Close()
		de := component.AsDeliveryError(err)
		got := "retry"
		switch {
		case err == nil:
			got = "ok"
		case de.Permanent:
			got = "permanent"
		case de.TooLarge:
			got = "too_large"
		case de.Paused:
			got = "paused"
		}
		if got != tc.want {
			t.Errorf("%+v: got %s (%v), want %s", tc.ans, got, err, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	c := defaultConfig()
	c.Method = "GET"
	c.Encoding = "xml"
	c.GzipLevel = 10
	c.Headers = map[string]string{"bad name": "x"}
	c.Auth = AuthConfig{Strategy: "digest"}
	err := c.Validate()
	for _, w := range []string{"url: must be an http(s) URL", "method: must be POST or PUT", "encoding: must be", "gzip_level: must be 1 to 9",
		"headers: invalid header name", "auth.strategy: must be"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	for _, tc := range []struct {
		auth AuthConfig
		want string
	}{
		{AuthConfig{Strategy: "basic"}, "auth.user: must be set"},
		{AuthConfig{Strategy: "bearer"}, "auth.token: must be set"},
		{AuthConfig{Token: "x"}, "auth.strategy: must be \"basic\" or \"bearer\" when credentials are set"},
	} {
		c := defaultConfig()
		c.URL = "http://x"
		c.Auth = tc.auth
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.auth, err, tc.want)
		}
	}
}

func TestSample(t *testing.T) {
	cfg := componenttest.CheckSample(t, "sinks", NewFactory(), func(want component.Config) {
		want.(*Config).URL = "http://127.0.0.1:8080/ingest"
	})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestRedirects: 307 and 308 resend the same request and are followed; 301,
// 302 and 303 would resend it as a GET without its body, whose 200 must not
// acknowledge a batch the receiver never got: the sink pauses, keeping the
// data, and says where the receiver points.
func TestRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			target := sinktest.NewReceiver(nil)
			defer target.Close()
			var gets atomic.Int64
			redir := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
				if r.Method != nethttp.MethodPost {
					gets.Add(1)
				}
				nethttp.Redirect(w, r, target.URL+"/moved", code)
			}))
			defer redir.Close()
			s := newSink(t, redir.URL+"/ingest", nil)
			err := s.Deliver(context.Background(), component.Batch{Records: records(3)})
			if code == 307 || code == 308 {
				if err != nil || len(target.Accepted()) != 3 {
					t.Fatalf("error %v, %d events at the target", err, len(target.Accepted()))
				}
				return
			}
			de := component.AsDeliveryError(err)
			if err == nil || !de.Paused || !strings.Contains(err.Error(), target.URL+"/moved") {
				t.Fatalf("error %v, want a pause naming the new location", err)
			}
			if n := len(target.Requests()); n != 0 || gets.Load() != 0 {
				t.Fatalf("the redirect was followed: %d requests at the target", n)
			}
		})
	}
}
