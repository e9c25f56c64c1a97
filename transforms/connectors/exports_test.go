package connectors

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// exportReceiver is an httptest server that records the bodies it
// accepted; status decides each answer.
type exportReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	accepted []string
	calls    int
}

func newExportReceiver(t *testing.T, status func(call int) int) *exportReceiver {
	r := &exportReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls++
		code := status(r.calls)
		if code == 200 {
			r.accepted = append(r.accepted, string(b))
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *exportReceiver) bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...)
}

// exportTransform runs plugin name with url = the receiver, fetch allowed to
// reach it, and the given export options.
func exportTransform(t *testing.T, name, url string, mutate func(*Config)) *Transform {
	t.Helper()
	return newTestTransform(t, testOpts{logs: &syncBuffer{}, mutate: func(c *Config) {
		c.FetchAllowNetworks = []string{"127.0.0.1"}
		c.Exports.Timeout = component.Duration(300 * time.Millisecond)
		if mutate != nil {
			mutate(c)
		}
	}}, plugin(name, map[string]any{"url": url}))
}

// TestExportOutcomes checks PostHog's export semantics for onEvent: a
// RetryError (global, from @posthog/plugin-scaffold, or a plugin's own
// class of that name) and a timeout are retried; a thrown Error and a
// rejection go to dead letters with the message and the JS stack.
func TestExportOutcomes(t *testing.T) {
	rcv := newExportReceiver(t, func(int) int { return 200 })
	tr := exportTransform(t, "exporter", rcv.URL, nil)
	sink, d, ok, err := tr.ExportSink()
	if err != nil || !ok {
		t.Fatalf("ExportSink = %v, %v", ok, err)
	}
	if d.Concurrency != 1 || d.BatchTimeout != 0 {
		t.Errorf("onEvent-only chain: concurrency %d, batch_timeout %s; want 1 and 0", d.Concurrency, d.BatchTimeout.D())
	}
	for _, tc := range []struct {
		mode      string
		permanent bool
		want      []string // in the error text
	}{
		{"", false, nil},
		{"retry", false, []string{"RetryError: the target is busy", "at onEvent"}},
		{"scaffold-retry", false, []string{"busy, from the scaffold"}},
		{"own-retry", false, []string{"busy, own class"}},
		{"hang", false, []string{"timed out after 300ms"}},
		{"error", true, []string{"Error: cannot export this event", "at onEvent (index.ts:"}},
		{"reject", true, []string{"TypeError: rejected export", "index.ts:"}},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			ev := mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"mode":%q,"n":1}}`, tc.mode))
			out := applyAll(t, tr, ev)
			if len(out.Events) != 1 || len(out.Exports) != 1 {
				t.Fatalf("out: %d events, %d exports", len(out.Events), len(out.Exports))
			}
			before := len(rcv.bodies())
			err := sink.Deliver(context.Background(), component.Batch{Records: out.Exports})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Deliver = %v", err)
				}
				if got := rcv.bodies(); len(got) != before+1 || !strings.Contains(got[before], ev.UUID) {
					t.Fatalf("receiver got %v", got[before:])
				}
				return
			}
			if err == nil {
				t.Fatal("Deliver succeeded")
			}
			de := component.AsDeliveryError(err)
			if de.Permanent != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", de.Permanent, tc.permanent, err)
			}
			if tc.permanent && de.Rejected != 1 {
				t.Errorf("rejected = %d, want the one record", de.Rejected)
			}
			if de.Delivered != 0 {
				t.Errorf("delivered = %d", de.Delivered)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if len(rcv.bodies()) != before {
				t.Error("a failed call reached the receiver")
			}
		})
	}
	// After a timeout the runtime is replaced: the next call works.
	ev := mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"n":2}}`)
	if err := sink.Deliver(context.Background(), component.Batch{Records: applyAll(t, tr, ev).Exports}); err != nil {
		t.Fatalf("after a timeout: %v", err)
	}
	for outcome, want := range map[string]float64{outcomeOK: 2, outcomeRetry: 4, outcomeError: 2} {
		if got := testutil.ToFloat64(tr.metrics.exports.WithLabelValues("enrich", "exporter", outcome)); got != want {
			t.Errorf("hogtail_connector_exports_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	for kind, want := range map[string]float64{"on_event": 5, "timeout": 1} {
		if got := testutil.ToFloat64(tr.metrics.errors.WithLabelValues("enrich", "exporter", kind)); got != want {
			t.Errorf("hogtail_connector_errors_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
}

// TestExportPartialProgress: a batch whose third record asks for a retry
// reports the first two as delivered, so the delivery loop never calls
// onEvent for them again.
func TestExportPartialProgress(t *testing.T) {
	rcv := newExportReceiver(t, func(int) int { return 200 })
	tr := exportTransform(t, "exporter", rcv.URL, nil)
	sink, _, _, err := tr.ExportSink()
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.Event
	for i, mode := range []string{"", "", "retry", ""} {
		evs = append(evs, mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"mode":%q,"n":%d}}`, mode, i)))
	}
	out := applyAll(t, tr, evs...)
	err = sink.Deliver(context.Background(), component.Batch{Records: out.Exports})
	de := component.AsDeliveryError(err)
	if err == nil || de.Permanent || de.Delivered != 2 {
		t.Fatalf("Deliver = %v (delivered %d), want a retryable failure after 2", err, de.Delivered)
	}
	if n := len(rcv.bodies()); n != 2 {
		t.Fatalf("receiver got %d events, want 2", n)
	}
}

// TestExportEventsBatches: exportEvents gets runs of up to
// exports.batch_max_events events, in order; a throw dead-letters exactly
// the batch.
func TestExportEventsBatches(t *testing.T) {
	rcv := newExportReceiver(t, func(int) int { return 200 })
	tr := exportTransform(t, "batch-exporter", rcv.URL, func(c *Config) { c.Exports.BatchMaxEvents = 3 })
	sink, d, ok, err := tr.ExportSink()
	if err != nil || !ok {
		t.Fatalf("ExportSink = %v, %v", ok, err)
	}
	if d.BatchTimeout.D() != 10*time.Second || d.BatchMaxEvents != 3 || d.BatchMaxBytes != 1<<20 {
		t.Errorf("exportEvents chain: batch_timeout %s, max %d events / %d bytes; want 10s (PostHog), 3, 1MiB", d.BatchTimeout.D(), d.BatchMaxEvents, d.BatchMaxBytes)
	}
	var evs []*event.Event
	for i := range 7 {
		evs = append(evs, mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"n":%d}}`, i)))
	}
	out := applyAll(t, tr, evs...)
	if err := sink.Deliver(context.Background(), component.Batch{Records: out.Exports}); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	next := 0
	for _, b := range rcv.bodies() {
		var got []struct {
			UUID string `json:"uuid"`
			N    int    `json:"n"`
		}
		if err := json.Unmarshal([]byte(b), &got); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(got))
		for _, g := range got {
			if g.N != next || g.UUID != evs[next].UUID {
				t.Fatalf("event %d out of order: %+v", next, g)
			}
			next++
		}
	}
	if fmt.Sprint(sizes) != "[3 3 1]" {
		t.Errorf("batch sizes %v, want [3 3 1]", sizes)
	}

	bad := []*event.Event{
		mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"n":7}}`),
		mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"n":8,"mode":"error"}}`),
		mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"n":9}}`),
		mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"n":10}}`),
	}
	err = sink.Deliver(context.Background(), component.Batch{Records: applyAll(t, tr, bad...).Exports})
	de := component.AsDeliveryError(err)
	if err == nil || !de.Permanent || de.Rejected != 3 || de.Delivered != 0 || !strings.Contains(err.Error(), "batch of 3 refused") {
		t.Fatalf("Deliver = %v (rejected %d), want the batch of 3 rejected as one", err, de.Rejected)
	}
}

// TestExportsOffTheLanes: processEvent-only chains have no export sink,
// and onEvent no longer runs during Apply.
func TestExportsOffTheLanes(t *testing.T) {
	tr := newTestTransform(t, testOpts{}, plugin("flaky", nil))
	if _, _, ok, err := tr.ExportSink(); ok || err != nil {
		t.Fatalf("processEvent-only chain: ExportSink ok=%v err=%v", ok, err)
	}
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	tr2 := exportTransform(t, "exporter", srv.URL, nil)
	out := applyAll(t, tr2, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	if hits != 0 || len(out.Exports) != 1 {
		t.Fatalf("Apply called onEvent (%d requests) or queued %d exports", hits, len(out.Exports))
	}
	var rec exportRecord
	if err := json.Unmarshal(out.Exports[0], &rec); err != nil || rec.Connector != "exporter" {
		t.Fatalf("record %s: %v", out.Exports[0], err)
	}
}

// TestExportsFromEveryLane: a batch split over several lanes queues the
// exports of every chunk, in input order.
func TestExportsFromEveryLane(t *testing.T) {
	tr := newTestTransform(t, testOpts{lanes: 3, mutate: func(c *Config) { c.FetchAllowNetworks = []string{"127.0.0.1"} }},
		plugin("exporter", map[string]any{"url": "http://127.0.0.1:1/"}))
	var evs []*event.Event
	for i := range 100 {
		evs = append(evs, mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"n":%d}}`, i)))
	}
	out := applyAll(t, tr, evs...)
	if len(out.Exports) != len(evs) {
		t.Fatalf("%d exports for %d events", len(out.Exports), len(evs))
	}
	for i, r := range out.Exports {
		var rec exportRecord
		if err := json.Unmarshal(r, &rec); err != nil {
			t.Fatal(err)
		}
		ev := &event.Event{}
		if err := ev.UnmarshalJSON(rec.Event); err != nil || ev.UUID != evs[i].UUID {
			t.Fatalf("export %d is not event %d: %s (%v)", i, i, r, err)
		}
	}
}

// TestExportCallEndsWithItsDelivery: when the agent cuts a delivery (a
// stop), a call waiting on a slow fetch or looping ends with it, as a
// retryable failure: the event stays in the queue, nothing is
// dead-lettered, and the next call gets a fresh runtime.
func TestExportCallEndsWithItsDelivery(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	tr := exportTransform(t, "exporter", slow.URL, func(c *Config) {
		c.Exports.Timeout = component.Duration(time.Hour)
		c.FetchTimeout = component.Duration(time.Hour)
	})
	sink, _, _, err := tr.ExportSink()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"", "hang"} {
		ev := mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"mode":%q}}`, mode))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sink.Deliver(ctx, component.Batch{Records: applyAll(t, tr, ev).Exports}) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err == nil || component.AsDeliveryError(err).Permanent || !strings.Contains(err.Error(), "stopped") {
				t.Errorf("mode %q: Deliver = %v, want a retryable stop", mode, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("mode %q: the call did not end with its delivery", mode)
		}
	}
}

func TestExportsConfigValidate(t *testing.T) {
	neg := component.Duration(-time.Second)
	for _, tc := range []struct {
		name   string
		mutate func(*ExportsConfig)
		want   []string
	}{
		{"defaults", func(*ExportsConfig) {}, nil},
		{"bad", func(e *ExportsConfig) {
			e.BatchMaxEvents, e.Concurrency, e.Timeout, e.BatchTimeout = 0, 0, 0, &neg
		}, []string{"exports.batch_max_events: must be at least 1", "exports.concurrency: must be at least 1", "exports.timeout: must be positive", "exports.batch_timeout: must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := defaultExports()
			tc.mutate(&e)
			err := e.validate()
			componenttest.CheckError(t, err, tc.want...)
		})
	}
}

// TestExportHotReload: after a hot reload the export sink calls the new
// version (set up on a runtime of its own) and tears the old runtime down
// with teardownPlugin.
func TestExportHotReload(t *testing.T) {
	src := func(v int) string {
		return fmt.Sprintf(`export function setupPlugin({ global }) { global.version = %d }
export async function onEvent(event, { global, storage }) { await storage.set('seen:' + event.uuid, global.version) }
export async function teardownPlugin({ global, storage }) {
    const key = 'teardown:' + global.version
    await storage.set(key, (await storage.get(key, 0)) + 1)
}
`, v)
	}
	dir := t.TempDir()
	writePlugin(t, dir, src(1))
	kv := componenttest.NewKV()
	tr := newTestTransform(t, testOpts{kv: kv}, ChainEntry{Path: dir})
	sink, _, _, err := tr.ExportSink()
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(dir)
	deliver := func() string {
		ev := mustEvent(t, `{"event":"e","distinct_id":"d"}`)
		if err := sink.Deliver(context.Background(), component.Batch{Records: applyAll(t, tr, ev).Exports}); err != nil {
			t.Fatal(err)
		}
		v, _, _ := kv.Get(storageKeyOf(name, "seen:"+ev.UUID))
		return string(v)
	}
	if v := deliver(); v != "1" {
		t.Fatalf("version %s, want 1", v)
	}
	writeSource(t, dir, src(2))
	tr.checkReload()
	if v := deliver(); v != "2" {
		t.Fatalf("after reload: version %s, want 2", v)
	}
	// One lane and one export runtime ran version 1.
	if v, _, _ := kv.Get(storageKeyOf(name, "teardown:1")); string(v) != "2" {
		t.Errorf("version 1 torn down %s times, want 2 (its lane and its export runtime)", v)
	}
}

// TestExportConcurrentCalls: with exports.concurrency > 1 the delivery loop
// calls Deliver concurrently; each call gets a runtime of its own and every
// event is exported once.
func TestExportConcurrentCalls(t *testing.T) {
	rcv := newExportReceiver(t, func(int) int { return 200 })
	tr := exportTransform(t, "exporter", rcv.URL, func(c *Config) { c.Exports.Concurrency = 4 })
	sink, d, _, err := tr.ExportSink()
	if err != nil || d.Concurrency != 4 {
		t.Fatalf("ExportSink: concurrency %d, %v", d.Concurrency, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		var evs []*event.Event
		for i := range 25 {
			evs = append(evs, mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"n":%d}}`, g*25+i)))
		}
		recs := applyAll(t, tr, evs...).Exports
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sink.Deliver(context.Background(), component.Batch{Records: recs})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, b := range rcv.bodies() {
		seen[b] = true
	}
	if len(seen) != 100 || len(rcv.bodies()) != 100 {
		t.Fatalf("%d bodies, %d distinct; want 100", len(rcv.bodies()), len(seen))
	}
	sink.(*exportSink).mu.Lock()
	idle := len(sink.(*exportSink).idle[0])
	sink.(*exportSink).mu.Unlock()
	if idle < 1 || idle > 4 {
		t.Errorf("%d idle export runtimes, want 1 to 4", idle)
	}
}

// TestExportRecordIsJSON: a connector named with quotes, control and
// non-ASCII characters still gives a record that decodes to its name and
// event (Go's quoting, \x escapes included, is not JSON).
func TestExportRecordIsJSON(t *testing.T) {
	for _, name := range []string{"plain", `with "quotes" and \`, "tab\there\x01", "ünïcode-✓"} {
		ev := &event.Event{UUID: "u1", Event: "e", DistinctID: "d"}
		var rec exportRecord
		if err := json.Unmarshal(appendExportRecord(nil, name, ev), &rec); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if rec.Connector != name || !strings.Contains(string(rec.Event), `"uuid":"u1"`) {
			t.Fatalf("%q: decoded %+v", name, rec)
		}
	}
}
