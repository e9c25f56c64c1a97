package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/sinks/sinktest"
)

func newSink(t *testing.T, mod func(*Config)) *Sink {
	t.Helper()
	c := defaultConfig()
	if mod != nil {
		mod(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(c, componenttest.Settings("hooks", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func record(t *testing.T, w component.Webhook) []byte {
	t.Helper()
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEachRequestToItsOwnURL(t *testing.T) {
	a := sinktest.NewReceiver(nil)
	defer a.Close()
	b := sinktest.NewReceiver(nil)
	defer b.Close()
	hooks := []component.Webhook{
		{Connector: "t/slack", URL: a.URL + "/hook?x=1", Method: "POST", Headers: map[string]string{"Content-Type": "application/json", "X-Token": "s3cret"}, Body: `{"text":"hi é"}`},
		{Connector: "t/other", URL: b.URL + "/put", Method: "put", Body: "plain body\n"},
		{Connector: "t/slack", URL: a.URL + "/get", Method: "GET"},
		{Connector: "t/slack", URL: a.URL + "/default", Body: "x"},
	}
	var recs [][]byte
	for _, h := range hooks {
		recs = append(recs, record(t, h))
	}
	if err := newSink(t, nil).Deliver(context.Background(), component.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	ra, rb := a.Requests(), b.Requests()
	if len(ra) != 3 || len(rb) != 1 {
		t.Fatalf("a got %d requests, b %d", len(ra), len(rb))
	}
	for i, tc := range []struct {
		r            *sinktest.Request
		method, path string
		body         string
	}{
		{ra[0], "POST", "/hook", `{"text":"hi é"}`},
		{rb[0], "PUT", "/put", "plain body\n"},
		{ra[1], "GET", "/get", ""},
		{ra[2], "POST", "/default", "x"},
	} {
		if tc.r.Method != tc.method || tc.r.Path != tc.path || string(tc.r.Body) != tc.body {
			t.Errorf("request %d: %s %s %q, want %s %s %q", i, tc.r.Method, tc.r.Path, tc.r.Body, tc.method, tc.path, tc.body)
		}
	}
	if ra[0].Header.Get("X-Token") != "s3cret" || ra[0].Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers not sent: %v", ra[0].Header)
	}
}

// TestRetryDoesNotResendDelivered: a batch failing at its third request
// reports the two accepted ones, so the agent retries from the third on
// (agent/delivery_test.go checks the agent side end to end).
func TestRetryDoesNotResendDelivered(t *testing.T) {
	rcv := sinktest.NewReceiver(nil)
	defer rcv.Close()
	failed := false
	rcv.SetPolicy(func(r *sinktest.Request) sinktest.Answer {
		if string(r.Body) == "2" && !failed {
			failed = true
			return sinktest.Answer{Status: 503, Header: http.Header{"Retry-After": {"1"}}}
		}
		return sinktest.Answer{}
	})
	s := newSink(t, nil)
	var recs [][]byte
	for i := range 5 {
		recs = append(recs, record(t, component.Webhook{URL: rcv.URL, Method: "POST", Body: fmt.Sprint(i)}))
	}
	err := s.Deliver(context.Background(), component.Batch{Records: recs})
	de := component.AsDeliveryError(err)
	if err == nil || de.RetryAfter != time.Second || de.Permanent || de.Delivered != 2 {
		t.Fatalf("got %v (delivered %d), want retry after 1s with 2 delivered", err, de.Delivered)
	}
	if err := s.Deliver(context.Background(), component.Batch{Records: recs[de.Delivered:]}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rcv.Requests() {
		got = append(got, string(r.Body))
	}
	if strings.Join(got, ",") != "0,1,2,2,3,4" {
		t.Fatalf("requests %v, want 0,1,2,2,3,4", got)
	}
}

func TestStatusMappingAndBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		ans  sinktest.Answer
		rec  func(url string) []byte
		want string
	}{
		{"200", sinktest.Answer{}, nil, "ok"},
		{"201", sinktest.Answer{Status: 201}, nil, "ok"},
		{"500", sinktest.Answer{Status: 500}, nil, "retry"},
		{"429", sinktest.Answer{Status: 429}, nil, "retry"},
		{"413", sinktest.Answer{Status: 413}, nil, "too_large"},
		{"401", sinktest.Answer{Status: 401}, nil, "paused"},
		{"400", sinktest.Answer{Status: 400}, nil, "permanent"},
		{"410", sinktest.Answer{Status: 410}, nil, "permanent"},
		{"dropped", sinktest.Answer{Drop: true}, nil, "retry"},
		{"slow", sinktest.Answer{Delay: 2 * time.Second}, nil, "retry"},
		{"not json", sinktest.Answer{}, func(string) []byte { return []byte("{nope") }, "permanent"},
		{"bad url", sinktest.Answer{}, func(string) []byte { return []byte(`{"url":"ftp://x/y","body":""}`) }, "permanent"},
		{"no url", sinktest.Answer{}, func(string) []byte { return []byte(`{"body":"x"}`) }, "permanent"},
		{"connection refused", sinktest.Answer{}, func(string) []byte { return []byte(`{"url":"http://127.0.0.1:1/x","body":""}`) }, "retry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer { return tc.ans })
			defer rcv.Close()
			rec := record(t, component.Webhook{URL: rcv.URL, Method: "POST", Body: "{}"})
			if tc.rec != nil {
				rec = tc.rec(rcv.URL)
			}
			s := newSink(t, func(c *Config) { c.Timeout = component.Duration(300 * time.Millisecond) })
			err := s.Deliver(context.Background(), component.Batch{Records: [][]byte{rec}})
			if got := sinktest.Classify(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	c := defaultConfig()
	c.Timeout = 0
	err := c.Validate()
	for _, w := range []string{"timeout: must be positive"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if err := defaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSample(t *testing.T) {
	componenttest.CheckSample(t, "sinks", NewFactory(), nil)
}

// TestAgentAPIRefused: a connector chooses the url, and must not reach the
// agent's API (it can replay and purge dead letters): the request is
// refused at the connection, whatever name or loopback address the url
// uses, as a permanent failure (dead letters, no retries). Other loopback
// ports are not concerned.
func TestAgentAPIRefused(t *testing.T) {
	api := sinktest.NewReceiver(nil)
	defer api.Close()
	other := sinktest.NewReceiver(nil)
	defer other.Close()
	set := componenttest.Settings("hooks", t.TempDir())
	set.APIAddress = strings.TrimPrefix(api.URL, "http://")
	s, err := New(defaultConfig(), set)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	port := api.URL[strings.LastIndexByte(api.URL, ':'):]
	for _, u := range []string{api.URL + "/dead-letters/purge", "http://localhost" + port + "/dead-letters/purge", "http://127.0.0.2" + port + "/tap"} {
		err := s.Deliver(context.Background(), component.Batch{Records: [][]byte{record(t, component.Webhook{Connector: "c/x", URL: u, Method: "POST", Body: `{"all":true}`})}})
		var de *component.DeliveryError
		if !errors.As(err, &de) || !de.Permanent || !strings.Contains(err.Error(), "agent's own API") {
			t.Fatalf("%s: error %v, want a permanent refusal", u, err)
		}
	}
	if n := len(api.Requests()); n != 0 {
		t.Fatalf("the API got %d requests", n)
	}
	if err := s.Deliver(context.Background(), component.Batch{Records: [][]byte{record(t, component.Webhook{Connector: "c/x", URL: other.URL + "/h", Body: "b"})}}); err != nil {
		t.Fatalf("another loopback port: %v", err)
	}
}
