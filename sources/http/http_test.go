package httpsource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/klauspost/compress/gzip"
)

// harness runs one source on 127.0.0.1:0.
type harness struct {
	src  *source
	emit *componenttest.Emitter
	url  string
	stop func()
}

func start(t testing.TB, mutate func(*Config)) *harness {
	t.Helper()
	return startWith(t, componenttest.NewEmitter(), mutate)
}

func startWith(t testing.TB, emit component.Emitter, mutate func(*Config)) *harness {
	t.Helper()
	f := NewFactory()
	cfg := f.NewConfig().(*Config)
	cfg.Address = "127.0.0.1:0"
	if mutate != nil {
		mutate(cfg)
	}
	src, err := f.CreateSource(cfg, componenttest.Settings("web", t.TempDir()))
	if err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
	s := src.(*source)
	stop := componenttest.StartSource(t, s, emit, s.ready)
	h := &harness{src: s, url: "http://" + s.Addr().String(), stop: stop}
	if e, ok := emit.(*componenttest.Emitter); ok {
		h.emit = e
	}
	return h
}

type httpCase struct {
	Name            string            `json:"name"`
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	Query           string            `json:"query"`
	ContentType     string            `json:"content_type"`
	ContentEncoding string            `json:"content_encoding"`
	Encode          string            `json:"encode"`
	Body            string            `json:"body"`
	BodyFile        string            `json:"body_file"`
	Status          int               `json:"status"`
	Events          int               `json:"events"`
	Rejected        int               `json:"rejected"`
	Code            string            `json:"code"`
	Checks          map[string]any    `json:"checks"`
	Headers         map[string]string `json:"headers"`
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (c httpCase) request(t *testing.T, base string) *http.Request {
	body := []byte(c.Body)
	if c.BodyFile != "" {
		b, err := os.ReadFile(filepath.Join("testdata", c.BodyFile))
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.TrimSpace(b)
	}
	q := c.Query
	switch c.Encode {
	case "", "none":
	case "gzip":
		body = gz(t, body)
	case "badgzip":
		body = gz(t, body)[:20]
	case "base64":
		body = []byte(base64.StdEncoding.EncodeToString(body))
	case "form":
		body = []byte("data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(body)))
	case "form-raw":
		// As some clients send it: the base64 not URL-escaped.
		body = []byte("data=" + base64.StdEncoding.EncodeToString(body))
	case "form-gzip":
		body = []byte("data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(gz(t, body))))
	case "get":
		if q != "" {
			q += "&"
		}
		q += "data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(body))
		body = nil
	default:
		t.Fatalf("unknown encode %q", c.Encode)
	}
	u := base + c.Path
	if q != "" {
		u += "?" + q
	}
	method := c.Method
	if method == "" {
		method = http.MethodPost
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.ContentType != "" {
		req.Header.Set("Content-Type", c.ContentType)
	}
	if c.ContentEncoding != "" {
		req.Header.Set("Content-Encoding", c.ContentEncoding)
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	return req
}

// lookup walks a dotted path ("0.properties.$lib") through the events'
// JSON as a sink would see it.
func lookup(t *testing.T, events []*event.Event, path string) (any, bool) {
	t.Helper()
	idx, rest, _ := strings.Cut(path, ".")
	var i int
	fmt.Sscan(idx, &i)
	if i >= len(events) {
		t.Fatalf("check %s: only %d events", path, len(events))
	}
	v, err := event.ParseValue(events[i].AppendJSON(nil))
	if err != nil {
		t.Fatalf("event %d does not round-trip: %v", i, err)
	}
	for _, k := range strings.Split(rest, ".") {
		m, ok := v.(event.Map)
		if !ok {
			return nil, false
		}
		if v, ok = m.Get(k); !ok {
			return nil, false
		}
	}
	return v, true
}

func checkValue(t *testing.T, path string, got any, present bool, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if present {
			t.Errorf("%s: want absent, got %v", path, got)
		}
		return
	case string:
		switch {
		case w == "<set>":
			if !present || got == "" || got == nil {
				t.Errorf("%s: want a value, got %v", path, got)
			}
			return
		case w == "<uuidv7>":
			s, _ := got.(string)
			id, err := uuid.Parse(s)
			if err != nil || id.Version() != 7 || len(s) != 36 {
				t.Errorf("%s: want a UUIDv7, got %q", path, s)
			}
			return
		case strings.HasPrefix(w, "<len:"):
			var n int
			fmt.Sscanf(w, "<len:%d>", &n)
			s, _ := got.(string)
			if utf8.RuneCountInString(s) != n {
				t.Errorf("%s: want %d characters, got %d", path, n, utf8.RuneCountInString(s))
			}
			return
		}
	case float64:
		// JSON numbers in cases.json decode as float64; events keep ints.
		if i, ok := got.(int64); ok {
			got = float64(i)
		}
	}
	if !present || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v (present %v), want %v", path, got, present, want)
	}
}

func TestCaptureCases(t *testing.T) {
	raw, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []httpCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			h := start(t, nil)
			resp, err := http.DefaultClient.Do(c.request(t, h.url))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.Status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, c.Status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var rb struct {
				Status   any               `json:"status"`
				Code     string            `json:"code"`
				Accepted int               `json:"accepted"`
				Rejected []json.RawMessage `json:"rejected"`
			}
			if err := json.Unmarshal(body, &rb); err != nil {
				t.Fatalf("response is not JSON: %s", body)
			}
			if c.Code != "" && rb.Code != c.Code {
				t.Errorf("code %q, want %q (%s)", rb.Code, c.Code, body)
			}
			if len(rb.Rejected) != c.Rejected {
				t.Errorf("rejected %d, want %d (%s)", len(rb.Rejected), c.Rejected, body)
			}
			if c.Status == 200 && c.Rejected == 0 && string(body) != `{"status":1}` {
				t.Errorf("body %s, want {\"status\":1}", body)
			}
			events := h.emit.Events()
			if len(events) != c.Events {
				t.Fatalf("%d events stored, want %d", len(events), c.Events)
			}
			for path, want := range c.Checks {
				got, ok := lookup(t, events, path)
				checkValue(t, path, got, ok, want)
			}
			for i, ev := range events {
				if _, err := uuid.Parse(ev.UUID); err != nil {
					t.Errorf("event %d: uuid %q", i, ev.UUID)
				}
				// An offset event keeps no timestamp (connectors see it as
				// PostHog plugins do); it is stored with now − offset.
				if (ev.Timestamp == "" && ev.OffsetTimestamp() == "") || ev.DistinctID == "" || ev.Event == "" {
					t.Errorf("event %d incomplete: %s", i, ev.AppendJSON(nil))
				}
			}
		})
	}
}

func post(t testing.TB, u string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

const oneEvent = `{"api_key":"phc_good","batch":[{"event":"a","distinct_id":"u"}]}`

func TestAuth(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*Config)
		path    string
		hdr     map[string]string
		body    string
		status  int
		emitted int
	}{
		{"allowlisted key", func(c *Config) { c.APIKeys = []string{"phc_good"} }, "/batch/", nil, oneEvent, 200, 1},
		{"key not in allowlist", func(c *Config) { c.APIKeys = []string{"phc_other"} }, "/batch/", nil, oneEvent, 401, 0},
		{"per-event token not in allowlist", func(c *Config) { c.APIKeys = []string{"phc_good"} }, "/e/", nil,
			`[{"event":"a","distinct_id":"u","properties":{"token":"phc_bad"}}]`, 401, 0},
		{"bearer required on generic", func(c *Config) { c.AuthToken = "s3cret" }, "/ingest", nil, `{"msg":"x"}`, 401, 0},
		{"wrong bearer on generic", func(c *Config) { c.AuthToken = "s3cret" }, "/ingest",
			map[string]string{"Authorization": "Bearer nope"}, `{"msg":"x"}`, 401, 0},
		{"good bearer on generic", func(c *Config) { c.AuthToken = "s3cret" }, "/ingest",
			map[string]string{"Authorization": "Bearer s3cret"}, `{"msg":"x"}`, 200, 1},
		{"bearer scheme in lower case", func(c *Config) { c.AuthToken = "s3cret" }, "/ingest",
			map[string]string{"Authorization": "bearer s3cret"}, `{"msg":"x"}`, 200, 1},
		{"bearer required on capture without api_keys", func(c *Config) { c.AuthToken = "s3cret" }, "/batch/", nil, oneEvent, 401, 0},
		{"good bearer on capture", func(c *Config) { c.AuthToken = "s3cret" }, "/batch/",
			map[string]string{"Authorization": "Bearer s3cret"}, oneEvent, 200, 1},
		{"allowlisted key exempt from bearer", func(c *Config) { c.AuthToken = "s3cret"; c.APIKeys = []string{"phc_good"} }, "/batch/", nil, oneEvent, 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, tt.cfg)
			resp, body := post(t, h.url+tt.path, tt.hdr, []byte(tt.body))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if n := h.emit.Len(); n != tt.emitted {
				t.Fatalf("%d events stored, want %d", n, tt.emitted)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	h := start(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, h.url+"/e/?ver=1.2", nil)
	req.Header.Set("Origin", "https://shop.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, x-posthog")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://shop.example.com",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods":     "GET, POST, OPTIONS",
		"Access-Control-Allow-Headers":     "content-type, x-posthog",
	}
	if resp.StatusCode != 200 {
		t.Fatalf("preflight status %d", resp.StatusCode)
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	if h.emit.Len() != 0 {
		t.Fatal("preflight stored events")
	}
	// The POST that follows carries the same CORS answer.
	resp, _ = post(t, h.url+"/e/", map[string]string{"Origin": "https://shop.example.com", "Content-Type": "text/plain"},
		gz(t, []byte(`{"event":"a","distinct_id":"u","properties":{"token":"phc_x"}}`)))
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("POST: %d %v", resp.StatusCode, resp.Header)
	}
	// cors = false: no CORS headers.
	h2 := start(t, func(c *Config) { c.CORS = false })
	resp, _ = post(t, h2.url+"/e/", map[string]string{"Origin": "https://shop.example.com"},
		[]byte(`{"event":"a","distinct_id":"u","properties":{"token":"phc_x"}}`))
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("cors = false still answers CORS")
	}
}

func TestLimits(t *testing.T) {
	const limit = 64 << 10
	h := start(t, func(c *Config) { c.MaxBodyBytes = limit; c.MaxEventBytes = 2000 })

	t.Run("Content-Length over the limit", func(t *testing.T) {
		resp, _ := post(t, h.url+"/ingest", nil, bytes.Repeat([]byte(" "), limit+10))
		if resp.StatusCode != 413 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/ingest", io.MultiReader(strings.NewReader(`{"msg":"`), strings.NewReader(strings.Repeat("x", limit)), strings.NewReader(`"}`)))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("gzip bomb", func(t *testing.T) {
		// 1 MiB of zeros gzips to ~1 KiB; concatenated gzip members form one
		// valid stream, so this is ~50 MiB once inflated, which must stop
		// at the limit, not in memory.
		member := gz(t, make([]byte, 1<<20))
		buf := bytes.NewBuffer(nil)
		for buf.Len()+len(member) < limit {
			buf.Write(member)
		}
		if buf.Len() >= limit || buf.Len()/len(member) < 40 {
			t.Fatalf("bomb is %d bytes compressed, not under the raw limit", buf.Len())
		}
		bomb := buf.Bytes()
		resp, body := post(t, h.url+"/batch/", map[string]string{"Content-Type": "text/plain"}, bomb)
		if resp.StatusCode != 413 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	t.Run("one event too large", func(t *testing.T) {
		big := strings.Repeat("y", 3000)
		resp, body := post(t, h.url+"/batch/", nil, []byte(`{"api_key":"phc_x","batch":[{"event":"a","distinct_id":"u","properties":{"big":"`+big+`"}}]}`))
		if resp.StatusCode != 413 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		resp, body = post(t, h.url+"/batch/", nil, []byte(`{"api_key":"phc_x","batch":[{"event":"ok","distinct_id":"u"},{"event":"a","distinct_id":"u","properties":{"big":"`+big+`"}}]}`))
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"code":"too_large"`)) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	if h.emit.Len() != 1 {
		t.Fatalf("%d events stored, want 1", h.emit.Len())
	}
}

func TestBufferFull503(t *testing.T) {
	h := start(t, func(c *Config) {
		c.FullWait = component.Duration(50 * time.Millisecond)
		c.RetryAfter = component.Duration(7 * time.Second)
	})
	h.emit.SetFull(true)
	for _, path := range []string{"/batch/", "/ingest"} {
		resp, body := post(t, h.url+path, nil, []byte(oneEvent))
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("%s: status %d Retry-After %q: %s", path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	h.emit.SetFull(false)
	resp, _ := post(t, h.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 200 || h.emit.Len() != 1 {
		t.Fatalf("after the buffer drained: status %d, %d events", resp.StatusCode, h.emit.Len())
	}
}

// blockingEmitter holds every Emit until release is closed.
type blockingEmitter struct {
	*componenttest.Emitter
	entered chan struct{}
	release chan struct{}
}

func (b *blockingEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Emitter.Emit(ctx, evs, cps...)
}

func TestMaxConcurrentRequests(t *testing.T) {
	be := &blockingEmitter{componenttest.NewEmitter(), make(chan struct{}, 4), make(chan struct{})}
	h := startWith(t, be, func(c *Config) { c.MaxConcurrentRequests = 1; c.FullWait = component.Duration(10 * time.Second) })
	first := make(chan int)
	go func() {
		resp, _ := post(t, h.url+"/batch/", nil, []byte(oneEvent))
		first <- resp.StatusCode
	}()
	<-be.entered
	resp, _ := post(t, h.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second request: %d", resp.StatusCode)
	}
	close(be.release)
	if code := <-first; code != 200 {
		t.Fatalf("first request: %d", code)
	}
}

// TestShutdownFinishesInFlight cancels Run while a request is inside Emit:
// the request must still get its 200 after the commit, and Run must wait.
func TestShutdownFinishesInFlight(t *testing.T) {
	be := &blockingEmitter{componenttest.NewEmitter(), make(chan struct{}, 4), make(chan struct{})}
	h := startWith(t, be, func(c *Config) { c.FullWait = component.Duration(10 * time.Second) })
	got := make(chan int)
	go func() {
		resp, _ := post(t, h.url+"/batch/", nil, []byte(oneEvent))
		got <- resp.StatusCode
	}()
	<-be.entered
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned with a request in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(be.release)
	if code := <-got; code != 200 {
		t.Fatalf("in-flight request got %d", code)
	}
	<-stopped
	if be.Emitter.Len() != 1 {
		t.Fatal("event not stored")
	}
	if _, err := http.Post(h.url+"/batch/", "application/json", strings.NewReader(oneEvent)); err == nil {
		t.Fatal("server still accepts after shutdown")
	}
}

func TestProxyUpstream(t *testing.T) {
	var seen []string
	up := http.NewServeMux()
	up.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" fwd="+r.Header.Get("X-Forwarded-For"))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"featureFlags":{"beta":true}}`)
	})
	upstream := newTestServer(t, up)
	h := start(t, func(c *Config) { c.ProxyUpstream = upstream + "/base" })
	for _, p := range []string{"/decide/?v=3", "/flags/?v=2", "/static/array.js", "/array/phc_x/config"} {
		req, _ := http.NewRequest(http.MethodPost, h.url+p, strings.NewReader(`{"token":"phc_x"}`))
		if strings.HasPrefix(p, "/static") || strings.HasPrefix(p, "/array") {
			req, _ = http.NewRequest(http.MethodGet, h.url+p, nil)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("featureFlags")) {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	want := []string{"POST /base/decide/?v=3 fwd=127.0.0.1", "POST /base/flags/?v=2 fwd=127.0.0.1", "GET /base/static/array.js fwd=127.0.0.1", "GET /base/array/phc_x/config fwd=127.0.0.1"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("upstream saw %v\nwant %v", seen, want)
	}
	// Capture paths are never proxied.
	resp, _ := post(t, h.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 200 || h.emit.Len() != 1 || len(seen) != 4 {
		t.Fatalf("capture went upstream: %d, %d events, %d upstream requests", resp.StatusCode, h.emit.Len(), len(seen))
	}
}

// TestProxyAuth: with auth_token, proxied paths need the bearer as every
// path does (unless api_keys lets browsers in, as on capture), and
// hogtail's token never reaches the upstream; another Authorization (a
// PostHog personal key) passes through.
func TestProxyAuth(t *testing.T) {
	var seen []string
	up := http.NewServeMux()
	up.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.Path+" auth="+r.Header.Get("Authorization"))
	})
	upstream := newTestServer(t, up)
	for _, tc := range []struct {
		name, auth string
		apiKeys    []string
		status     int
		upstream   string // what the upstream saw; "" = nothing
	}{
		{"no bearer", "", nil, 401, ""},
		{"wrong bearer", "Bearer nope", nil, 401, ""},
		{"bearer, stripped", "Bearer s3cret", nil, 200, "/flags/ auth="},
		{"bearer in lower case", "bearer s3cret", nil, 200, "/flags/ auth="},
		{"api_keys: open to browsers", "", []string{"phc_k"}, 200, "/flags/ auth="},
		{"api_keys: other authorization passes", "Bearer phx_personal", []string{"phc_k"}, 200, "/flags/ auth=Bearer phx_personal"},
		{"api_keys: bearer still stripped", "Bearer s3cret", []string{"phc_k"}, 200, "/flags/ auth="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			h := start(t, func(c *Config) { c.ProxyUpstream, c.AuthToken, c.APIKeys = upstream, "s3cret", tc.apiKeys })
			var hdr map[string]string
			if tc.auth != "" {
				hdr = map[string]string{"Authorization": tc.auth}
			}
			resp, body := post(t, h.url+"/flags/", hdr, []byte(`{"token":"phc_k"}`))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := strings.Join(seen, ";"); got != tc.upstream {
				t.Fatalf("upstream saw %q, want %q", got, tc.upstream)
			}
		})
	}
}

// TestRootHealth: "/" answers 200 as capture's health check without
// proxy_upstream (with it, "/" is proxied).
func TestRootHealth(t *testing.T) {
	h := start(t, nil)
	resp, err := http.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / answered %d", resp.StatusCode)
	}
}

// TestNowIsTheEdge: a client's now is replaced by the receive time, and a
// timestamp computed from offset uses it, as capture does.
func TestNowIsTheEdge(t *testing.T) {
	h := start(t, nil)
	before := time.Now()
	resp, body := post(t, h.url+"/batch/", nil, []byte(`{"api_key":"phc_k","batch":[{"event":"a","distinct_id":"u","now":"2001-01-01T00:00:00.000Z","offset":1000}]}`))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	ev := h.emit.Events()[0]
	now, err := time.Parse(time.RFC3339Nano, ev.Now)
	if err != nil || now.Before(before.Add(-time.Second)) {
		t.Fatalf("now %q kept from the client", ev.Now)
	}
	ev.EnsureIdentity(time.Now())
	js := string(ev.AppendJSON(nil))
	if strings.Contains(js, "2000-12-31") || strings.Contains(js, "2001-01-01") {
		t.Fatalf("the client's now was used: %s", js)
	}
}

func TestIPHeader(t *testing.T) {
	h := start(t, func(c *Config) { c.IPHeader = "X-Forwarded-For" })
	resp, _ := post(t, h.url+"/batch/", map[string]string{"X-Forwarded-For": "203.0.113.9, 10.0.0.1"}, []byte(oneEvent))
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	ev := h.emit.Events()[0]
	if ip, _ := ev.Properties.GetString("$ip"); ip != "203.0.113.9" || ev.IP != "203.0.113.9" {
		t.Fatalf("ip %q $ip %q", ev.IP, ip)
	}
	h2 := start(t, func(c *Config) { c.SetIP = false })
	post(t, h2.url+"/batch/", nil, []byte(oneEvent))
	if ev := h2.emit.Events()[0]; ev.IP != "" || len(ev.Properties) != 0 {
		t.Fatalf("set_ip = false still sets the ip: %s", ev.AppendJSON(nil))
	}
}

func TestSample(t *testing.T) {
	cfg := componenttest.CheckSample(t, "sources", NewFactory(), nil)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	c := defaultConfig()
	c.Address = "nope"
	c.Path = "batch"
	c.ProxyUpstream = "ftp://x"
	c.TLSCertFile = "cert.pem"
	c.MaxBodyBytes = 0
	c.MaxConcurrentRequests = 0
	c.MaxRequestsPerClient = 0
	c.RetryAfter = 0
	c.APIKeys = []string{""}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{"address:", "path:", "proxy_upstream:", "tls_cert_file:", "max_body_bytes:", "max_concurrent_requests:", "max_requests_per_client:", "retry_after:", "api_keys:"} {
		if !strings.Contains(err.Error(), "\n"+key) && !strings.HasPrefix(err.Error(), key) {
			t.Errorf("missing %s in:\n%v", key, err)
		}
	}
	// The budget must let the largest request through.
	c = defaultConfig()
	c.MaxInflightBytes = 2 * c.MaxBodyBytes
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "max_inflight_bytes:") {
		t.Errorf("budget under two bodies: %v", err)
	}
	c.MaxInflightBytes = 2*c.MaxBodyBytes + minEventReserve
	if err := c.Validate(); err != nil {
		t.Errorf("smallest budget: %v", err)
	}
	c = defaultConfig()
	c.Path = "/batch/"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "path:") {
		t.Errorf("capture path as generic path: %v", err)
	}
}
