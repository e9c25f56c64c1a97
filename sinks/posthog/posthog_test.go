package posthog

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/sinks/sinktest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// records returns n encoded events with fixed uuids and timestamps.
func records(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		e := &event.Event{
			UUID:       fmt.Sprintf("0190a0c0-0000-7000-8000-%012d", i),
			Event:      "log",
			DistinctID: "host-1",
			Timestamp:  "2026-01-02T03:04:05.678Z",
			Properties: event.Map{{Key: "message", Value: fmt.Sprintf("line %d \"quoted\" é", i)}, {Key: "seq", Value: int64(i)}},
		}
		out[i] = e.AppendJSON(nil)
	}
	return out
}

func newSink(t *testing.T, url string, mod func(*Config)) *Sink {
	t.Helper()
	c := defaultConfig()
	c.Host = url
	c.APIKey = "phc_test"
	c.Timeout = component.Duration(2 * time.Second)
	if mod != nil {
		mod(c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(c, componenttest.Settings("posthog", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func TestBody(t *testing.T) {
	frozen := time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		gzip       bool
		historical bool
	}{
		{"gzip", true, false},
		{"plain", false, false},
		{"historical_migration", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := sinktest.NewReceiver(nil)
			defer rcv.Close()
			s := newSink(t, rcv.URL+"/", func(c *Config) { c.Gzip, c.HistoricalMigration = tc.gzip, tc.historical })
			s.now = func() time.Time { return frozen }
			recs := records(3)
			if err := s.Deliver(context.Background(), component.Batch{Records: recs}); err != nil {
				t.Fatal(err)
			}
			reqs := rcv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Method != "POST" || r.Path != "/batch/" {
				t.Errorf("%s %s, want POST /batch/", r.Method, r.Path)
			}
			if r.Gzip != tc.gzip || (r.Header.Get("Content-Encoding") == "gzip") != tc.gzip {
				t.Errorf("gzip body %v, Content-Encoding %q, want gzip %v", r.Gzip, r.Header.Get("Content-Encoding"), tc.gzip)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if r.APIKey != "phc_test" || r.HistoricalMigration != tc.historical || r.SentAt != "2026-01-02T03:04:06.000Z" {
				t.Errorf("envelope api_key %q historical %v sent_at %q", r.APIKey, r.HistoricalMigration, r.SentAt)
			}
			for i, e := range r.Events {
				if !bytes.Equal(e.Raw, recs[i]) {
					t.Errorf("event %d re-encoded:\n got %s\nwant %s", i, e.Raw, recs[i])
				}
			}
			golden := filepath.Join("testdata", tc.name+".golden.json")
			if *update {
				os.WriteFile(golden, r.Body, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Body, want) {
				t.Errorf("body differs from %s:\n got %s\nwant %s", golden, r.Body, want)
			}
		})
	}
}

// TestResendKeepsIdentity: every resend carries the same uuid, event,
// distinct_id and timestamp; only sent_at changes.
func TestResendKeepsIdentity(t *testing.T) {
	rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
		if r.N < 3 {
			return sinktest.Answer{Status: 503}
		}
		return sinktest.Answer{}
	})
	defer rcv.Close()
	s := newSink(t, rcv.URL, nil)
	clock := time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)
	s.now = func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	recs := records(5)
	for i := 0; ; i++ {
		err := s.Deliver(context.Background(), component.Batch{Records: recs})
		if err == nil {
			break
		}
		if de := component.AsDeliveryError(err); de.Permanent || de.Paused || de.TooLarge || i > 3 {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		if seen[r.SentAt] {
			t.Errorf("sent_at %s reused", r.SentAt)
		}
		seen[r.SentAt] = true
		for i, e := range r.Events {
			f := reqs[0].Events[i]
			if e.UUID != f.UUID || e.Event != f.Event || e.DistinctID != f.DistinctID || e.Timestamp != f.Timestamp || e.UUID == "" {
				t.Errorf("request %d event %d changed identity: %+v vs %+v", r.N, i, e, f)
			}
		}
	}
	if n := len(rcv.Counts()); n != 5 {
		t.Fatalf("%d uuids accepted", n)
	}
}

func TestStatusMapping(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name string
		ans  sinktest.Answer
		// want: "ok", "retry", "permanent", "too_large", "paused"
		want       string
		retryAfter time.Duration // minimum expected
	}{
		{"200", sinktest.Answer{}, "ok", 0},
		{"204", sinktest.Answer{Status: 204}, "ok", 0},
		{"503", sinktest.Answer{Status: 503, Body: `{"status":503,"code":"service_unavailable"}`}, "retry", 0},
		{"500", sinktest.Answer{Status: 500}, "retry", 0},
		{"408", sinktest.Answer{Status: 408}, "retry", 0},
		{"429 seconds", sinktest.Answer{Status: 429, Header: http.Header{"Retry-After": {"7"}}}, "retry", 7 * time.Second},
		{"429 date", sinktest.Answer{Status: 429, Header: http.Header{"Retry-After": {date}}}, "retry", 25 * time.Second},
		{"503 seconds", sinktest.Answer{Status: 503, Header: http.Header{"Retry-After": {"2"}}}, "retry", 2 * time.Second},
		{"413", sinktest.Answer{Status: 413}, "too_large", 0},
		{"401", sinktest.Answer{Status: 401}, "paused", 0},
		{"403", sinktest.Answer{Status: 403}, "paused", 0},
		{"400", sinktest.Answer{Status: 400, Body: `{"status":400,"code":"invalid_payload"}`}, "permanent", 0},
		{"404", sinktest.Answer{Status: 404}, "paused", 0}, // wrong host: pause, do not dead-letter everything
		{"405", sinktest.Answer{Status: 405}, "paused", 0},
		{"dropped connection", sinktest.Answer{Drop: true}, "retry", 0},
		{"slow", sinktest.Answer{Delay: 3 * time.Second}, "retry", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer { return tc.ans })
			defer rcv.Close()
			s := newSink(t, rcv.URL, func(c *Config) { c.Timeout = component.Duration(300 * time.Millisecond) })
			err := s.Deliver(context.Background(), component.Batch{Records: records(2)})
			if got := sinktest.Classify(err); got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
			if tc.retryAfter > 0 {
				if d := component.AsDeliveryError(err).RetryAfter; d < tc.retryAfter || d > tc.retryAfter+10*time.Second {
					t.Fatalf("retry after %s, want about %s", d, tc.retryAfter)
				}
			}
		})
	}
}

func TestOversizeEventRefusedBeforeSending(t *testing.T) {
	rcv := sinktest.NewReceiver(nil)
	defer rcv.Close()
	s := newSink(t, rcv.URL, func(c *Config) { c.MaxEventBytes = 400 })
	big := (&event.Event{UUID: "0190a0c0-0000-7000-8000-bbbbbbbbbbbb", Event: "log", DistinctID: "h",
		Properties: event.Map{{Key: "message", Value: strings.Repeat("x", 500)}}}).AppendJSON(nil)
	recs := append(records(3), big)
	for _, batch := range [][][]byte{recs, {big}} {
		err := s.Deliver(context.Background(), component.Batch{Records: batch})
		if sinktest.Classify(err) != "permanent" || !strings.Contains(err.Error(), "0190a0c0-0000-7000-8000-bbbbbbbbbbbb") {
			t.Fatalf("got %v, want a permanent error naming the uuid", err)
		}
	}
	if n := len(rcv.Requests()); n != 0 {
		t.Fatalf("%d requests sent for batches with an oversize event", n)
	}
	if err := s.Deliver(context.Background(), component.Batch{Records: recs[:3]}); err != nil {
		t.Fatal(err)
	}
}

func TestCancelledContext(t *testing.T) {
	rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer { return sinktest.Answer{Delay: 5 * time.Second} })
	defer rcv.Close()
	s := newSink(t, rcv.URL, func(c *Config) { c.Timeout = component.Duration(10 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := s.Deliver(ctx, component.Batch{Records: records(1)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"defaults with key", func(c *Config) { c.APIKey = "phc_x" }, nil},
		{"missing key", func(c *Config) {}, []string{"api_key: must be set"}},
		{"personal key", func(c *Config) { c.APIKey = "phx_abc" }, []string{"api_key: is a personal API key"}},
		{"everything wrong", func(c *Config) {
			c.Host = "us.i.posthog.com"
			c.GzipLevel = 0
			c.Timeout = 0
			c.MaxEventBytes = 2_000_000
			c.BatchMaxBytes = 30 << 20
			c.Concurrency = 0
		}, []string{"host: must be an http(s) URL", "gzip_level: must be 1 to 9", "timeout: must be positive",
			"max_event_bytes: must be at most", "batch_max_bytes: must be at most", "api_key: must be set"}},
		{"query in host", func(c *Config) { c.APIKey = "phc_x"; c.Host = "https://h/?a=b" }, []string{"host: must not have a query"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig()
			tc.mod(c)
			err := c.Validate()
			componenttest.CheckError(t, err, tc.want...)
		})
	}
}

func TestSample(t *testing.T) {
	cfg := componenttest.CheckSample(t, "sinks", NewFactory(), func(want component.Config) {
		want.(*Config).APIKey = "phc_sample"
	}, "${POSTHOG_API_KEY}", "phc_sample")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestHistoricalMigrationBatches: events marked historical_migration (as
// the http source keeps a capture batch's flag) go in their own /batch/
// request with the batch-level flag; the others in a request without it.
func TestHistoricalMigrationBatches(t *testing.T) {
	mark := func(r []byte) []byte {
		return append(bytes.TrimSuffix(r, []byte("}")), `,"historical_migration":true}`...)
	}
	plain := records(5)
	// 1 and 3 are historical; 4 only has the key nested in its properties,
	// which does not make it historical.
	recs := [][]byte{plain[0], mark(plain[1]), plain[2], mark(plain[3]),
		bytes.Replace(plain[4], []byte(`"properties":{`), []byte(`"properties":{"x":{"historical_migration":true},`), 1)}
	type wantReq struct {
		hist bool
		idx  []int // records in the request, in order
	}
	for _, tc := range []struct {
		name     string
		all      bool
		wantReqs []wantReq
	}{
		{"mixed", false, []wantReq{{false, []int{0, 2, 4}}, {true, []int{1, 3}}}},
		{"historical_migration = true", true, []wantReq{{true, []int{0, 1, 2, 3, 4}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := sinktest.NewReceiver(nil)
			defer rcv.Close()
			s := newSink(t, rcv.URL, func(c *Config) { c.HistoricalMigration = tc.all })
			if err := s.Deliver(context.Background(), component.Batch{Records: recs}); err != nil {
				t.Fatal(err)
			}
			reqs := rcv.Requests()
			if len(reqs) != len(tc.wantReqs) {
				t.Fatalf("%d requests, want %d", len(reqs), len(tc.wantReqs))
			}
			for i, want := range tc.wantReqs {
				r := reqs[i]
				if r.HistoricalMigration != want.hist || len(r.Events) != len(want.idx) {
					t.Fatalf("request %d: historical %v, %d events; want %v, %d", i, r.HistoricalMigration, len(r.Events), want.hist, len(want.idx))
				}
				for j, k := range want.idx {
					if !bytes.Equal(r.Events[j].Raw, recs[k]) {
						t.Errorf("request %d event %d is not record %d verbatim:\n got %s\nwant %s", i, j, k, r.Events[j].Raw, recs[k])
					}
				}
			}
		})
	}
}

// TestHistoricalPartFails: when the historical request of a mixed batch
// fails, Deliver fails (retryable) so that nothing is deleted unsent.
func TestHistoricalPartFails(t *testing.T) {
	rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
		if r.HistoricalMigration {
			return sinktest.Answer{Status: 503}
		}
		return sinktest.Answer{}
	})
	defer rcv.Close()
	s := newSink(t, rcv.URL, nil)
	recs := records(2)
	recs[1] = append(bytes.TrimSuffix(recs[1], []byte("}")), `,"historical_migration":true}`...)
	err := s.Deliver(context.Background(), component.Batch{Records: recs})
	if err == nil {
		t.Fatal("Deliver succeeded although the historical request got 503")
	}
	if de := component.AsDeliveryError(err); de.Permanent || de.Paused || de.TooLarge {
		t.Fatalf("not retryable: %v", err)
	}
}
