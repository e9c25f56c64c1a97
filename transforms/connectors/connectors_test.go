package connectors

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func prop(t *testing.T, ev *event.Event, key string) any {
	t.Helper()
	v, ok := ev.Properties.Get(key)
	if !ok {
		t.Fatalf("event has no property %q: %s", key, ev.AppendJSON(nil))
	}
	return v
}

func TestTimeoutInterruptsEveryLoopKind(t *testing.T) {
	loops := []string{"while", "for", "do", "for-of", "for-in", "recursion-ish", "after-await"}
	for _, onError := range []string{OnErrorPass, OnErrorDrop, OnErrorDeadLetter} {
		t.Run(onError, func(t *testing.T) {
			tr := newTestTransform(t, testOpts{onError: onError, timeout: 50 * time.Millisecond}, plugin("loops", nil), plugin("esm", nil))
			var in []*event.Event
			for _, l := range loops {
				in = append(in, mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"loop":%q}}`, l)))
			}
			in = append(in, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"loop":"none"}}`))
			out := applyAll(t, tr, in...)
			switch onError {
			case OnErrorPass:
				if len(out.Events) != len(in) {
					t.Fatalf("pass: got %d events, want %d", len(out.Events), len(in))
				}
				for i, ev := range out.Events {
					// The mutation before the loop is kept and the next
					// connector still ran.
					if prop(t, ev, "touched") != true || prop(t, ev, "style") != "esm+relative" {
						t.Errorf("event %d: %s", i, ev.AppendJSON(nil))
					}
				}
			case OnErrorDrop:
				if len(out.Events) != 1 || len(out.DeadLetters) != 0 {
					t.Fatalf("drop: got %d events, %d dead letters", len(out.Events), len(out.DeadLetters))
				}
			case OnErrorDeadLetter:
				if got := testutil.ToFloat64(tr.metrics.errors.WithLabelValues("enrich", "loops", "timeout")); got != float64(len(loops)) {
					t.Errorf("timeout metric = %v, want %d", got, len(loops))
				}
				if len(out.Events) != 1 || len(out.DeadLetters) != len(loops) {
					t.Fatalf("dead_letter: got %d events, %d dead letters", len(out.Events), len(out.DeadLetters))
				}
				for _, d := range out.DeadLetters {
					if !strings.Contains(d.Reason, "timed out") || !strings.Contains(d.Reason, `"loops"`) {
						t.Errorf("reason %q for %s", d.Reason, d.Record)
					}
					var back event.Event
					if err := back.UnmarshalJSON(d.Record); err != nil {
						t.Errorf("dead letter record is not an event: %v", err)
					}
				}
			}
		})
	}
}

func TestSetupPluginRetriedUntilItSucceeds(t *testing.T) {
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{logs: logs}, plugin("setup-flaky", nil))
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{}}`))
	if len(out.Events) != 1 {
		t.Fatalf("got %d events", len(out.Events))
	}
	if got := prop(t, out.Events[0], "setup_attempts"); got != int64(3) {
		t.Errorf("setup_attempts = %v, want 3 (two failures, then success)", got)
	}
	if !strings.Contains(logs.String(), "upstream not ready") {
		t.Errorf("setup failure not logged:\n%s", logs)
	}
}

func TestSetupPluginFailingBlocksUntilContextEnds(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, `export function setupPlugin() { throw new Error('never ready') }
export function processEvent(e) { return e }`)
	tr := newTestTransform(t, testOpts{}, ChainEntry{Path: dir})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var out component.Output
	err := tr.Apply(ctx, component.Input{Events: []*event.Event{mustEvent(t, `{"event":"e","distinct_id":"d"}`)}}, &out)
	if err == nil || !strings.Contains(err.Error(), "never ready") {
		t.Fatalf("Apply = %v, want an error naming the setup failure (the events wait, nothing is lost)", err)
	}
	if len(out.Events) != 0 {
		t.Errorf("events leaked past a connector that never set up: %d", len(out.Events))
	}
}

func TestAttachments(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "countries.json"), []byte(`{"FR":"France","DE":"Germany"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := newTestTransform(t, testOpts{}, ChainEntry{Path: "testdata/plugins/attachments", Attachments: map[string]string{"countries": filepath.Join(dir, "countries.json")}})
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"code":"FR"}}`))
	ev := out.Events[0]
	if prop(t, ev, "country") != "France" || prop(t, ev, "attachment") != "countries.json;application/json" ||
		prop(t, ev, "has_notes") != false || prop(t, ev, "text_length") != int64(30) {
		t.Errorf("got %s", ev.AppendJSON(nil))
	}
}

func TestCache(t *testing.T) {
	tr := newTestTransform(t, testOpts{lanes: 2}, plugin("cache", nil))
	fake := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := tr.state.Load().conns[0].sh.cache
	c.mu.Lock()
	c.now = func() time.Time { return fake }
	c.mu.Unlock()
	run := func(props string) *event.Event {
		t.Helper()
		out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":`+props+`}`))
		return out.Events[0]
	}
	result := func(props string) string {
		t.Helper()
		ev := run(props)
		v, _ := ev.Properties.Get("result")
		return string(event.AppendValue(nil, v))
	}
	run(`{"op":"set","key":"obj","value":{"a":[1,2]},"ttl":10}`)
	if got := result(`{"op":"get","key":"obj"}`); got != `{"a":[1,2]}` {
		t.Errorf("get = %s", got)
	}
	if got := result(`{"op":"get","key":"missing"}`); got != `"default"` {
		t.Errorf("missing key = %s, want the default", got)
	}
	run(`{"op":"set-raw","key":"raw","value":"not json"}`)
	if got := result(`{"op":"get-raw","key":"raw"}`); got != `"not json"` {
		t.Errorf("raw = %s", got)
	}
	if got := result(`{"op":"get","key":"raw"}`); got != `null` {
		t.Errorf("unparsable JSON = %s, want null", got)
	}
	// TTL: still there at 9s, gone at 10s.
	c.mu.Lock()
	fake = fake.Add(9 * time.Second)
	c.mu.Unlock()
	if got := result(`{"op":"get","key":"obj"}`); got != `{"a":[1,2]}` {
		t.Errorf("before TTL: %s", got)
	}
	c.mu.Lock()
	fake = fake.Add(time.Second)
	c.mu.Unlock()
	if got := result(`{"op":"get","key":"obj"}`); got != `"default"` {
		t.Errorf("after TTL: %s, want expired", got)
	}
	for i := 1; i <= 3; i++ {
		if got := result(`{"op":"incr","key":"n"}`); got != fmt.Sprint(i) {
			t.Errorf("incr %d = %s", i, got)
		}
	}
	if got := result(`{"op":"expire","key":"n","ttl":1}`); got != "true" {
		t.Errorf("expire existing = %s", got)
	}
	if got := result(`{"op":"expire","key":"nope","ttl":1}`); got != "false" {
		t.Errorf("expire missing = %s", got)
	}
	c.mu.Lock()
	fake = fake.Add(2 * time.Second)
	c.mu.Unlock()
	if got := result(`{"op":"incr","key":"n"}`); got != "1" {
		t.Errorf("incr after expire = %s, want 1", got)
	}
	want := `{"all":["c","b","a","z"],"len":4,"removed":1,"popped":["c","a"],"rest":["z"]}`
	if got := result(`{"op":"lists","key":"l"}`); got != want {
		t.Errorf("lists = %s\nwant %s", got, want)
	}
	want = `["WRONGTYPE Operation against a key holding the wrong kind of value",` +
		`"ERR value is not an integer or out of range","too many items to push (max 1000)","ok",` +
		`"ERR value is out of range, must be positive"]`
	if got := result(`{"op":"errors","key":"e"}`); got != want {
		t.Errorf("errors = %s\nwant %s", got, want)
	}
}

func TestStoragePersistsAcrossTransforms(t *testing.T) {
	kv := componenttest.NewKV()
	for round := 1; round <= 2; round++ {
		func() {
			tr := newTestTransform(t, testOpts{kv: kv, noStart: round == 2}, plugin("storage", nil))
			out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`), mustEvent(t, `{"event":"e","distinct_id":"d"}`))
			for i, ev := range out.Events {
				n := int64((round-1)*2 + i + 1)
				if prop(t, ev, "count") != n || prop(t, ev, "cursor") != 100+5*n {
					t.Errorf("round %d event %d: %s", round, i, ev.AppendJSON(nil))
				}
				if prop(t, ev, "gone") != "deleted" || prop(t, ev, "undef") != "deleted" {
					t.Errorf("del / set(undefined) did not delete: %s", ev.AppendJSON(nil))
				}
			}
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}()
	}
	// Keys are namespaced by connector; teardownPlugin ran at Shutdown.
	if v, ok, _ := kv.Get(storageKeyOf("storage", "count")); !ok || string(v) != "4" {
		t.Errorf("storage/count = %q %v", v, ok)
	}
	if v, ok, _ := kv.Get(storageKeyOf("storage", "torn_down")); !ok || string(v) != "true" {
		t.Errorf("teardownPlugin did not run: %q %v", v, ok)
	}
}

func TestConsoleTaggedWithConnector(t *testing.T) {
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{logs: logs}, plugin("console", nil))
	applyAll(t, tr, mustEvent(t, `{"event":"signup","distinct_id":"d"}`))
	got := logs.String()
	for _, want := range []string{
		`level=INFO msg="processing signup {\"n\":1}" connector=console`,
		`level=WARN msg=careful connector=console`,
		`level=ERROR msg="Error: not really" connector=console`,
		`level=DEBUG msg="details [1,2]" connector=console`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("id") == "slow" {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
		w.Header().Set("X-Reply", "yes")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"id":%q,"header":%q,"body":%s}`, r.Method, r.URL.Query().Get("id"), r.Header.Get("X-Plugin"), body)
	}))
	defer srv.Close()
	t.Run("ok", func(t *testing.T) {
		tr := newTestTransform(t, testOpts{mutate: func(c *Config) {
			c.FetchAllowHosts = []string{"127.0.0.1"}
			c.FetchAllowNetworks = []string{"127.0.0.1/32"}
		}}, plugin("fetcher", map[string]any{"base": srv.URL}))
		out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"u 1"}`))
		got := string(event.AppendValue(nil, out.Events[0].Properties))
		want := `{"status":200,"ok":true,"header":"yes","lookup":{"method":"POST","id":"u 1","header":"fetcher","body":{"event":"e"}},"global_fetch":true}`
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		tr := newTestTransform(t, testOpts{onError: OnErrorDeadLetter, mutate: func(c *Config) {
			c.FetchTimeout = component.Duration(50 * time.Millisecond)
			c.FetchAllowNetworks = []string{"127.0.0.0/8"}
		}}, plugin("fetcher", map[string]any{"base": srv.URL}))
		start := time.Now()
		out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"slow"}`))
		if len(out.DeadLetters) != 1 || !strings.Contains(out.DeadLetters[0].Reason, "timed out") {
			t.Fatalf("want a dead letter for the timed out fetch, got %+v", out)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("fetch_timeout (50ms) not applied: the call took %s against a 5s server", el)
		}
	})
	t.Run("form body", func(t *testing.T) {
		// A URLSearchParams body is the form, with node-fetch's content
		// type (Twilio-style APIs); a + in a value is %2B.
		var got, ctype string
		form := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got, ctype = string(b), r.Header.Get("Content-Type")
		}))
		defer form.Close()
		tr := newTestTransform(t, testOpts{onError: OnErrorDeadLetter, mutate: func(c *Config) { c.FetchAllowNetworks = []string{"127.0.0.0/8"} }},
			writeConnector(t, "form", `export async function processEvent(e) {
    await fetch('`+form.URL+`/sms', { method: 'POST', body: new URLSearchParams({ To: '+15551234', Body: 'hi there & bye' }) })
    return e
}`))
		out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
		if len(out.DeadLetters) != 0 || got != "To=%2B15551234&Body=hi+there+%26+bye" || ctype != "application/x-www-form-urlencoded;charset=UTF-8" {
			t.Fatalf("body %q, content type %q, dead letters %+v", got, ctype, out.DeadLetters)
		}
	})
	t.Run("allowlist", func(t *testing.T) {
		tr := newTestTransform(t, testOpts{onError: OnErrorDeadLetter, mutate: func(c *Config) { c.FetchAllowHosts = []string{"*.posthog.com"} }}, plugin("fetcher", map[string]any{"base": srv.URL}))
		out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
		if len(out.DeadLetters) != 1 || !strings.Contains(out.DeadLetters[0].Reason, "not in fetch_allow_hosts") {
			t.Fatalf("want the request refused, got %+v", out)
		}
	})
}

func TestHostAllowed(t *testing.T) {
	cases := []struct {
		allow []string
		host  string
		ok    bool
	}{
		{nil, "anything.example", true},
		{[]string{"api.example.com"}, "api.example.com", true},
		{[]string{"api.example.com"}, "API.example.com", true},
		{[]string{"api.example.com"}, "evil.com", false},
		{[]string{"*.example.com"}, "a.b.example.com", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, "badexample.com", false},
	}
	for _, c := range cases {
		if got := hostAllowed(c.allow, c.host); got != c.ok {
			t.Errorf("hostAllowed(%v, %q) = %v", c.allow, c.host, got)
		}
	}
}

func TestIsolationBetweenConnectors(t *testing.T) {
	tr := newTestTransform(t, testOpts{}, plugin("iso-a", nil), plugin("iso-b", nil))
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	ev := out.Events[0]
	if got := prop(t, ev, "a_sees"); got != "undefined,a" {
		t.Errorf("a sees %v", got)
	}
	if got := prop(t, ev, "b_sees"); got != "undefined,undefined,undefined,undefined" {
		t.Errorf("b sees %v: globals, prototypes or meta.global leaked between connectors", got)
	}
}

func TestSandboxGlobals(t *testing.T) {
	tr := newTestTransform(t, testOpts{}, plugin("sandbox", nil))
	ev := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`)).Events[0]
	if got := prop(t, ev, "globals"); got != "undefined,undefined,undefined,function,function,object,function,function,function" {
		t.Errorf("globals = %v", got)
	}
	if got := prop(t, ev, "require_fs"); got != "Cannot import 'fs'! This package is not provided by PostHog in plugins." {
		t.Errorf("require('fs') = %v", got)
	}
}

func TestBareImportIsALoadError(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Chain = []ChainEntry{plugin("bare-import", nil)}
	tr, err := New(cfg, componenttest.Settings("enrich", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Cannot import 'lodash'") || !strings.Contains(err.Error(), `"bare-import"`) {
		t.Fatalf("Start = %v, want a load error naming the import and the connector", err)
	}
	_ = tr.Shutdown(context.Background())
}

// TestOnEvent: onEvent is not called during Apply; the export sink calls
// it with PostHog's ProcessedPluginEvent (a copy: it cannot change the
// event), and a throw rejects exactly that event.
func TestOnEvent(t *testing.T) {
	kv := componenttest.NewKV()
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{kv: kv, logs: logs}, plugin("on-event", nil))
	evs := []*event.Event{
		mustEvent(t, `{"uuid":"u-1","event":"a","distinct_id":"d","properties":{"n":1},"$set":{"email":"x@y.z"}}`),
		mustEvent(t, `{"uuid":"u-2","event":"b","distinct_id":"d","properties":{"n":2}}`),
	}
	out := applyAll(t, tr, evs...)
	if len(out.Events) != 2 || len(out.Exports) != 2 {
		t.Fatalf("%d events, %d exports", len(out.Events), len(out.Exports))
	}
	if _, ok, _ := kv.Get(storageKeyOf("on-event", "seen:u-1")); ok {
		t.Fatal("onEvent ran during Apply")
	}
	sink, _, _, err := tr.ExportSink()
	if err != nil {
		t.Fatal(err)
	}
	err = sink.Deliver(context.Background(), component.Batch{Records: out.Exports})
	de := component.AsDeliveryError(err)
	if err == nil || !de.Permanent || de.Delivered != 1 || de.Rejected != 1 || !strings.Contains(err.Error(), "onEvent failure") {
		t.Fatalf("Deliver = %v (delivered %d, rejected %d)", err, de.Delivered, de.Rejected)
	}
	if _, changed := out.Events[0].Properties.Get("changed_in_on_event"); changed {
		t.Error("onEvent changed the event")
	}
	if v, _, _ := kv.Get(storageKeyOf("on-event", "seen:u-1")); string(v) != `["a","string",1,"x@y.z"]` {
		t.Errorf("onEvent saw %s", v)
	}
	if !strings.Contains(logs.String(), "onEvent failure") {
		t.Error("onEvent error not logged")
	}
}

func TestScheduledTasksAndCapture(t *testing.T) {
	tr := newTestTransform(t, testOpts{}, plugin("capture", nil))
	tr.runScheduled(context.Background(), "runEveryMinute")
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	var names []string
	for _, ev := range out.Events {
		names = append(names, ev.Event+"/"+ev.DistinctID)
	}
	if got := strings.Join(names, " "); got != "e/d derived_event/derived-d heartbeat/capture" {
		t.Errorf("events = %s", got)
	}
}

func TestOrderAcrossLanesUnderConcurrentSources(t *testing.T) {
	tr := newTestTransform(t, testOpts{lanes: 2}, plugin("throws", nil), plugin("key-order", nil))
	const sources, batches, size = 4, 10, 150
	errs := make(chan error, sources)
	for s := 0; s < sources; s++ {
		go func(s int) {
			for b := 0; b < batches; b++ {
				in := make([]*event.Event, size)
				for i := range in {
					in[i] = &event.Event{UUID: fmt.Sprintf("%d-%d-%d", s, b, i), Event: "e", DistinctID: "d", Properties: event.Map{{Key: "seq", Value: int64(i)}}}
				}
				var out component.Output
				if err := tr.Apply(context.Background(), component.Input{Source: fmt.Sprint(s), Events: in}, &out); err != nil {
					errs <- err
					return
				}
				if len(out.Events) != size {
					errs <- fmt.Errorf("source %d batch %d: %d events", s, b, len(out.Events))
					return
				}
				for i, ev := range out.Events {
					if ev.UUID != in[i].UUID || ev.Properties[0].Value != int64(i) {
						errs <- fmt.Errorf("source %d batch %d: position %d holds %s", s, b, i, ev.UUID)
						return
					}
				}
			}
			errs <- nil
		}(s)
	}
	for s := 0; s < sources; s++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestApplyWithoutStart(t *testing.T) {
	tr := newTestTransform(t, testOpts{noStart: true}, plugin("esm", nil))
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	if prop(t, out.Events[0], "style") != "esm+relative" {
		t.Error("chain did not run")
	}
}

func TestWebhookPromiseIsAnError(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, `export async function composeWebhook(event) { return { url: 'https://x.test', body: '' } }`)
	logs := &syncBuffer{}
	tr := newTestTransform(t, testOpts{logs: logs}, ChainEntry{Path: dir})
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	if len(out.Webhooks) != 0 || len(out.Events) != 1 {
		t.Errorf("got %d webhooks, %d events", len(out.Webhooks), len(out.Events))
	}
	if !strings.Contains(logs.String(), "must be synchronous") {
		t.Errorf("not logged:\n%s", logs)
	}
}

func writePlugin(t *testing.T, dir, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(`{"name":"`+filepath.Base(dir)+`","config":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRetainedEventReferencesCannotTouchEmittedEvents(t *testing.T) {
	tr := newTestTransform(t, testOpts{}, plugin("retains", nil))
	first := applyAll(t, tr, mustEvent(t, `{"uuid":"u1","event":"e","distinct_id":"d","properties":{"seq":1}}`))
	firstJSON := string(first.Events[0].AppendJSON(nil))
	second := applyAll(t, tr, mustEvent(t, `{"uuid":"u2","event":"e","distinct_id":"d","properties":{"seq":2}}`))
	if got := string(first.Events[0].AppendJSON(nil)); got != firstJSON {
		t.Errorf("an emitted event changed after the fact:\n got %s\nwant %s", got, firstJSON)
	}
	ev := second.Events[0]
	if prop(t, ev, "previous_seq") != int64(1) {
		t.Errorf("the kept reference should still read the old values: %s", ev.AppendJSON(nil))
	}
	third := applyAll(t, tr, mustEvent(t, `{"uuid":"u3","event":"e","distinct_id":"d","properties":{"seq":3,"return_previous":true}}`))
	if got := third.Events[0]; got == second.Events[0] || got.UUID != "u3" {
		t.Errorf("returning an earlier event must give a copy with this event's uuid, got %s", got.AppendJSON(nil))
	}
}

// TestDeadLetterReasonRedacted: a connector error quoting a URL with a
// token becomes a dead letter whose reason hides the token.
func TestDeadLetterReasonRedacted(t *testing.T) {
	c := writeConnector(t, "leaky", `export function processEvent(event) {
    throw new Error('cannot reach https://api.example/v1?api_key=sk_live_leak')
}`)
	tr := newTestTransform(t, testOpts{onError: OnErrorDeadLetter}, c)
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
	if len(out.DeadLetters) != 1 {
		t.Fatalf("want one dead letter, got %+v", out)
	}
	if r := out.DeadLetters[0].Reason; strings.Contains(r, "sk_live_leak") || !strings.Contains(r, "api_key=REDACTED") {
		t.Fatalf("reason %q", r)
	}
}

// TestTimeoutAfterManyQuickCalls: the watchdog timer is not reset for every
// call; a runaway call that starts after many quick ones, with the timer
// still set for an earlier call's deadline, is stopped all the same.
func TestTimeoutAfterManyQuickCalls(t *testing.T) {
	// Long enough that the quick calls stay quick on a loaded machine
	// with the race detector; the test checks that the runaway call ends.
	const timeout = 500 * time.Millisecond
	tr := newTestTransform(t, testOpts{onError: OnErrorDrop, timeout: timeout}, plugin("loops", nil))
	var quick []*event.Event
	for i := 0; i < 200; i++ {
		quick = append(quick, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"loop":"none"}}`))
	}
	for round := 0; round < 3; round++ {
		applyAll(t, tr, quick...)
		// Part of the way to the timer's deadline, set by the quick calls.
		time.Sleep(timeout / 3)
		runaway := mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"loop":"while"}}`)
		done := make(chan error, 1)
		var out component.Output
		go func() {
			done <- tr.Apply(context.Background(), component.Input{Source: "test", Events: []*event.Event{runaway}}, &out)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Events) != 0 {
				t.Fatalf("round %d: the runaway event came out: %s", round, out.Events[0].AppendJSON(nil))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: a runaway call after quick ones was never stopped", round)
		}
	}
	if got := testutil.ToFloat64(tr.metrics.errors.WithLabelValues("enrich", "loops", "timeout")); got < 3 {
		t.Errorf("timeout metric = %v, want at least the 3 runaway calls", got)
	}
}
