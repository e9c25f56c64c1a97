package agent

// End-to-end delivery tests: the demo source, the real disk buffer in
// t.TempDir(), the agent's delivery loop and the real posthog and webhook
// sinks, against receivers that misbehave.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/sinks/posthog"
	"github.com/hogtail/hogtail/sinks/sinktest"
	"github.com/hogtail/hogtail/sinks/webhook"
	"github.com/hogtail/hogtail/sources/demo"
)

// padConfig configures the "pad" test transform: it makes the events whose
// seq is in Seqs larger by Bytes, and composes a webhook per event to
// WebhookURL when set.
type padConfig struct {
	Seqs       []int64 `toml:"seqs"`
	Bytes      int     `toml:"bytes"`
	WebhookURL string  `toml:"webhook_url"`
}

func (*padConfig) Validate() error { return nil }

type pad struct{ cfg padConfig }

func (p pad) Apply(_ context.Context, in component.Input, out *component.Output) error {
	for _, e := range in.Events {
		seq, _ := e.Properties.Get("seq")
		for _, s := range p.cfg.Seqs {
			if seq == s {
				e.Properties.Set("padding", strings.Repeat("p", p.cfg.Bytes))
			}
		}
		out.Events = append(out.Events, e)
		if p.cfg.WebhookURL != "" {
			out.Webhooks = append(out.Webhooks, component.Webhook{Connector: "t/hook", URL: p.cfg.WebhookURL, Method: "POST",
				Headers: map[string]string{"Content-Type": "text/plain"}, Body: fmt.Sprint(seq)})
		}
	}
	return nil
}

func deliveryRegistry() *component.Registry {
	return component.NewRegistry().
		AddSource(demo.NewFactory()).
		AddTransform(component.NewTransformFactory("pad", "",
			func() *padConfig { return &padConfig{} },
			func(c *padConfig, _ component.Settings) (component.Transform, error) { return pad{*c}, nil })).
		AddSink(posthog.NewFactory()).
		AddSink(webhook.NewFactory())
}

// runDelivery runs an agent on toml until its demo source finished and the
// queues drained, and returns its data dir.
func runDelivery(t *testing.T, toml string) string {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf("data_dir = %q\nshutdown_timeout = \"20s\"\n[api]\nenabled = false\n%s", dir, toml)
	cfg, err := config.Parse(filepath.Join(dir, "hogtail.toml"), []byte(text), deliveryRegistry(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("agent did not finish by itself")
	}
	return dir
}

func posthogSink(url string, extra string) string {
	return fmt.Sprintf(`
[sinks.ph]
type = "posthog"
inputs = ["gen"]
host = %q
api_key = "phc_test"
batch_max_events = 100
batch_timeout = "20ms"
concurrency = 3
timeout = "1s"
retry.initial_interval = "10ms"
retry.max_interval = "100ms"
%s
`, url, extra)
}

func demoSource(count int) string {
	return fmt.Sprintf("[sources.gen]\ntype = \"demo\"\nrate = 0.0\ncount = %d\nbatch_size = 250\n", count)
}

// checkAllSeqs asserts every seq 0..n-1 except those in missing arrived,
// and that duplicates are only redeliveries of one uuid (a seq never
// arrives under two uuids). It returns the number of duplicates.
func checkAllSeqs(t *testing.T, rcv *sinktest.Receiver, n int, missing ...int64) int {
	t.Helper()
	uuidOf := map[int64]string{}
	first := map[int64]string{}
	dups := 0
	for _, e := range rcv.Accepted() {
		seq := e.Seq()
		if u, ok := uuidOf[seq]; ok {
			if u != e.UUID {
				t.Fatalf("seq %d arrived under two uuids %s and %s", seq, u, e.UUID)
			}
			// uuid, event, distinct_id, timestamp and properties: all equal.
			if string(e.Raw) != first[seq] {
				t.Fatalf("seq %d changed between deliveries:\n%s\n%s", seq, first[seq], e.Raw)
			}
			dups++
			continue
		}
		uuidOf[seq] = e.UUID
		first[seq] = string(e.Raw)
	}
	skip := map[int64]bool{}
	for _, m := range missing {
		skip[m] = true
		if _, ok := uuidOf[m]; ok {
			t.Errorf("seq %d should not have arrived", m)
		}
	}
	for s := int64(0); s < int64(n); s++ {
		if _, ok := uuidOf[s]; !ok && !skip[s] {
			t.Fatalf("seq %d never arrived (%d distinct arrived)", s, len(uuidOf))
		}
	}
	return dups
}

func deadLetters(t *testing.T, dir string) []bufferDeadLetter {
	t.Helper()
	b, err := openBuffer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out []bufferDeadLetter
	b.DeadLetters(func(dl bufferDeadLetter) bool { out = append(out, dl); return true })
	return out
}

// TestDeliveryThroughOutage: 503s, 429s with Retry-After in seconds and as
// an HTTP date, dropped connections and slow answers; every event arrives,
// nothing is dead-lettered, and resends keep the events' identity.
func TestDeliveryThroughOutage(t *testing.T) {
	var mu sync.Mutex
	sentAts := map[string]map[string]bool{} // uuid -> sent_at of each request carrying it
	rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
		for _, e := range r.Events {
			mu.Lock()
			if sentAts[e.UUID] == nil {
				sentAts[e.UUID] = map[string]bool{}
			}
			sentAts[e.UUID][r.SentAt] = true
			mu.Unlock()
		}
		switch {
		case r.N <= 4:
			return sinktest.Answer{Status: 503}
		case r.N == 5:
			return sinktest.Answer{Status: 429, Header: http.Header{"Retry-After": {"1"}}}
		case r.N == 6:
			return sinktest.Answer{Status: 429, Header: http.Header{"Retry-After": {time.Now().Add(time.Second).UTC().Format(http.TimeFormat)}}}
		case r.N%7 == 0:
			return sinktest.Answer{Drop: true}
		case r.N%11 == 0:
			return sinktest.Answer{Delay: 2 * time.Second} // over the 1s timeout
		case r.N%5 == 0:
			return sinktest.Answer{Delay: 100 * time.Millisecond}
		}
		return sinktest.Answer{}
	})
	defer rcv.Close()
	const n = 3000
	dir := runDelivery(t, demoSource(n)+posthogSink(rcv.URL, ""))
	dups := checkAllSeqs(t, rcv, n)
	if dls := deadLetters(t, dir); len(dls) != 0 {
		t.Fatalf("%d dead letters, want 0: %s", len(dls), dls[0].Reason)
	}
	retried := 0
	for _, s := range sentAts {
		if len(s) > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no event was sent twice with different sent_at; the receiver's failures were not exercised")
	}
	t.Logf("%d requests, %d events sent more than once, %d accepted duplicates", len(rcv.Requests()), retried, dups)
}

// TestDeliveryHonoursRetryAfter: with a 10ms backoff, the retry after a
// 429 still waits for its Retry-After, given in seconds and as a date.
func TestDeliveryHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header func() string
		min    time.Duration
	}{
		{"seconds", func() string { return "1" }, 990 * time.Millisecond},
		// An HTTP date has whole seconds: now+2s truncated is at least 1s away.
		{"date", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 990 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var times []time.Time // guarded by the receiver's lock
			rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
				times = append(times, time.Now())
				if r.N == 1 {
					return sinktest.Answer{Status: 429, Header: http.Header{"Retry-After": {tc.header()}}}
				}
				return sinktest.Answer{}
			})
			defer rcv.Close()
			runDelivery(t, demoSource(50)+posthogSink(rcv.URL, ""))
			if len(rcv.Requests()) < 2 {
				t.Fatalf("%d requests", len(rcv.Requests()))
			}
			if gap := times[1].Sub(times[0]); gap < tc.min {
				t.Fatalf("retried %s after a 429 with Retry-After %s", gap, tc.name)
			}
			checkAllSeqs(t, rcv, 50)
		})
	}
}

// TestDeliveryGivesUpAfterMaxElapsed: a receiver that never recovers does
// not hold the queue forever when retry.max_elapsed is set: the events go
// to dead letters, none is lost.
func TestDeliveryGivesUpAfterMaxElapsed(t *testing.T) {
	rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer { return sinktest.Answer{Status: 503} })
	defer rcv.Close()
	dir := runDelivery(t, demoSource(300)+posthogSink(rcv.URL, `retry.max_elapsed = "300ms"`))
	dls := deadLetters(t, dir)
	if len(dls) != 300 {
		t.Fatalf("%d dead letters, want 300", len(dls))
	}
	if !strings.Contains(dls[0].Reason, "retry.max_elapsed") || !strings.Contains(dls[0].Reason, "503") {
		t.Fatalf("reason %q", dls[0].Reason)
	}
}

// TestDeliveryPoisonEvent: the receiver answers 400 to any batch holding
// one event; the agent splits the batches, dead-letters exactly that event
// and delivers the others. The reason keeps the status but not a secret the
// answer quotes.
func TestDeliveryPoisonEvent(t *testing.T) {
	const poison = 1234
	rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
		for _, e := range r.Events {
			if e.Seq() == poison {
				return sinktest.Answer{Status: 400, Body: `{"status":400,"code":"invalid_payload","error":"bad event from https://app.example/?token=leak1"}`}
			}
		}
		return sinktest.Answer{}
	})
	defer rcv.Close()
	const n = 2000
	dir := runDelivery(t, demoSource(n)+posthogSink(rcv.URL, ""))
	checkAllSeqs(t, rcv, n, poison)
	dls := deadLetters(t, dir)
	if len(dls) != 1 || !strings.Contains(string(dls[0].Record), fmt.Sprintf(`"seq":%d`, poison)) || dls[0].Component != "ph" ||
		!strings.Contains(dls[0].Reason, "400") {
		t.Fatalf("dead letters %+v, want only seq %d from ph with the 400", dls, poison)
	}
	if strings.Contains(dls[0].Reason, "leak1") || !strings.Contains(dls[0].Reason, "token=REDACTED") {
		t.Fatalf("reason %q shows the secret", dls[0].Reason)
	}
}

// TestDeliveryTooLargeSplits: the receiver refuses bodies of more than 30
// events with 413; batches of 100 are split until they fit and nothing is
// dead-lettered.
func TestDeliveryTooLargeSplits(t *testing.T) {
	rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
		if len(r.Events) > 30 {
			return sinktest.Answer{Status: 413}
		}
		return sinktest.Answer{}
	})
	defer rcv.Close()
	const n = 1500
	dir := runDelivery(t, demoSource(n)+posthogSink(rcv.URL, ""))
	if dups := checkAllSeqs(t, rcv, n); dups != 0 {
		t.Fatalf("%d duplicates: a 413 accepts nothing, so none were expected", dups)
	}
	if dls := deadLetters(t, dir); len(dls) != 0 {
		t.Fatalf("%d dead letters", len(dls))
	}
}

// TestDeliveryOversizeEvent: events over max_event_bytes are never sent;
// exactly they go to dead letters, the rest of their batches is delivered.
func TestDeliveryOversizeEvent(t *testing.T) {
	rcv := sinktest.NewReceiver(nil)
	defer rcv.Close()
	const n = 1000
	toml := demoSource(n) + `
[transforms.big]
type = "pad"
inputs = ["gen"]
seqs = [17, 500, 501]
bytes = 5000
` + strings.Replace(posthogSink(rcv.URL, `max_event_bytes = "4KiB"`), `inputs = ["gen"]`, `inputs = ["big"]`, 1)
	dir := runDelivery(t, toml)
	checkAllSeqs(t, rcv, n, 17, 500, 501)
	dls := deadLetters(t, dir)
	if len(dls) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dls))
	}
	for _, dl := range dls {
		if !strings.Contains(dl.Reason, "max_event_bytes") {
			t.Errorf("reason %q", dl.Reason)
		}
	}
	for _, r := range rcv.Requests() {
		if r.WireBytes > 0 && len(r.Body) > 0 && strings.Contains(string(r.Body), "ppppp") {
			t.Fatalf("request %d carried an oversize event", r.N)
		}
	}
}

// TestDeliveryPausedOnBadKey: 401 pauses the sink without losing anything;
// once the receiver accepts the key again, everything arrives.
func TestDeliveryPausedOnBadKey(t *testing.T) {
	start := time.Now()
	refused := 0 // guarded by the receiver's lock
	rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
		if time.Since(start) < 700*time.Millisecond {
			refused++
			return sinktest.Answer{Status: 401, Body: `{"status":401,"code":"ingest_key_required"}`}
		}
		return sinktest.Answer{}
	})
	defer rcv.Close()
	const n = 800
	dir := runDelivery(t, demoSource(n)+posthogSink(rcv.URL, ""))
	checkAllSeqs(t, rcv, n)
	if dls := deadLetters(t, dir); len(dls) != 0 {
		t.Fatalf("%d dead letters after 401s", len(dls))
	}
	if refused < 2 {
		t.Fatalf("%d requests refused with 401: the pause was not exercised", refused)
	}
}

// TestDeliveryWebhooks: connector webhooks go to their url in order; a
// request that fails after others of its batch succeeded is retried
// without resending those; a request answered 400 is dead-lettered alone.
func TestDeliveryWebhooks(t *testing.T) {
	// Both guarded by the receiver's lock.
	failedOnce := map[string]bool{}
	var order []string
	rcv := sinktest.NewReceiver(func(r *sinktest.Request) sinktest.Answer {
		body := string(r.Body)
		if body == "77" {
			return sinktest.Answer{Status: 400}
		}
		// Fail every 9th request once, mid-batch.
		if r.N%9 == 0 && !failedOnce[body] {
			failedOnce[body] = true
			return sinktest.Answer{Status: 503}
		}
		order = append(order, body)
		return sinktest.Answer{}
	})
	defer rcv.Close()
	const n = 300
	dir := runDelivery(t, demoSource(n)+fmt.Sprintf(`
[transforms.hooks]
type = "pad"
inputs = ["gen"]
webhook_url = %q

[sinks.wh]
type = "webhook"
inputs = ["hooks"]
concurrency = 1
retry.initial_interval = "10ms"
retry.max_interval = "50ms"
`, rcv.URL+"/hook"))
	for _, r := range rcv.Requests() {
		if r.Path != "/hook" || r.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("request %d: %s %s", r.N, r.Path, r.Header.Get("Content-Type"))
		}
	}
	accepted := map[string]int{}
	var seqs []int
	for _, body := range order {
		accepted[body]++
		var seq int
		fmt.Sscan(body, &seq)
		seqs = append(seqs, seq)
	}
	for i := 0; i < n; i++ {
		want := 1
		if i == 77 {
			want = 0
		}
		if got := accepted[fmt.Sprint(i)]; got != want {
			t.Fatalf("webhook %d accepted %d times, want %d", i, got, want)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] < seqs[i-1] {
			t.Fatalf("webhooks out of order with concurrency 1: %d after %d", seqs[i], seqs[i-1])
		}
	}
	if len(failedOnce) == 0 {
		t.Fatal("no request failed: the retry path was not exercised")
	}
	dls := deadLetters(t, dir)
	if len(dls) != 1 || dls[0].Component != "wh" || !strings.Contains(string(dls[0].Record), `"body":"77"`) {
		t.Fatalf("dead letters %+v, want only webhook 77", dls)
	}
}

// BenchmarkDeliveryPostHog runs the whole agent: the demo source commits
// 100k events to the disk buffer (sync = true), the posthog sink delivers
// them into a local receiver that reads and discards each body. Baseline in
// the same run: a plain http.Client POSTing the same number of 1000-event
// /batch/ bodies built once. Figures: events/s and CPU seconds (whole
// process) per million events.
func BenchmarkDeliveryPostHog(b *testing.B) {
	const n = 100_000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"status":1}`))
	}))
	defer srv.Close()
	report := func(b *testing.B, wall, cpu time.Duration) {
		events := float64(n * b.N)
		b.ReportMetric(events/wall.Seconds(), "events/s")
		b.ReportMetric(cpu.Seconds()/events*1e6, "cpu-s/Mevents")
	}

	b.Run("baseline_raw_post", func(b *testing.B) {
		body := []byte(`{"api_key":"phc_bench","sent_at":"2026-01-01T00:00:00.000Z","batch":[`)
		for i := range 1000 {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, fmt.Sprintf(`{"uuid":"0190a0c0-0000-7000-8000-%012d","event":"demo_log","distinct_id":"bench-host","timestamp":"2026-01-01T00:00:00.000Z","properties":{"message":"GET /api/cart 200 12ms","level":"info","service":"checkout","seq":%d,"$host":"bench-host"}}`, i, i)...)
		}
		body = append(body, "]}"...)
		client := &http.Client{}
		start, cpu0 := time.Now(), processCPU()
		for range b.N {
			for range n / 1000 {
				resp, err := client.Post(srv.URL+"/batch/", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		report(b, time.Since(start), processCPU()-cpu0)
	})
	for _, tc := range []struct {
		gzip        bool
		concurrency int
	}{{true, 1}, {true, 2}, {true, 4}, {false, 2}} {
		gzip := tc.gzip
		b.Run(fmt.Sprintf("agent_gzip_%v_concurrency_%d", gzip, tc.concurrency), func(b *testing.B) {
			var wall, cpu time.Duration
			for range b.N {
				dir := b.TempDir()
				text := fmt.Sprintf(`data_dir = %q
shutdown_timeout = "60s"
[api]
enabled = false
[sources.gen]
type = "demo"
rate = 0.0
count = %d
batch_size = 1000
[sinks.ph]
type = "posthog"
inputs = ["gen"]
host = %q
api_key = "phc_bench"
gzip = %v
concurrency = %d
`, dir, n, srv.URL, gzip, tc.concurrency)
				cfg, err := config.Parse(filepath.Join(dir, "hogtail.toml"), []byte(text), deliveryRegistry(), func(string) (string, bool) { return "", false })
				if err != nil {
					b.Fatal(err)
				}
				a, err := New(cfg, Options{Logger: discard()})
				if err != nil {
					b.Fatal(err)
				}
				start, cpu0 := time.Now(), processCPU()
				if err := a.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				cpu += processCPU() - cpu0
			}
			report(b, wall, cpu)
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
