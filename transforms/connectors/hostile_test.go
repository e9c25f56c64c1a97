package connectors

import (
	"strings"
	"testing"
	"time"
)

// TestHostileResults: values a plugin hands back that cannot become an
// event (circular, through the event's own views too; a DAG of 2^64 paths;
// a getter or Proxy trap that throws or loops) fail the call, which then
// follows on_error, instead of overflowing the stack, panicking through the
// agent, hanging the lane or sending an empty webhook. The next event goes
// through the same lane.
func TestHostileResults(t *testing.T) {
	for _, tc := range []struct {
		name, js, want string
	}{
		{"properties contain themselves", `export function processEvent(e) { if (e.properties.bad) e.properties.self = e.properties; return e }`, "circular"},
		{"properties contain the event", `export function processEvent(e) { if (e.properties.bad) e.properties.me = e; return e }`, "circular"},
		{"$set contains the event", `export function processEvent(e) { if (e.properties.bad) { e.$set = {}; e.$set.p = e } return e }`, "circular"},
		{"array holds the properties", `export function processEvent(e) { if (e.properties.bad) { const a = []; a[0] = e.properties; e.properties.list = a } return e }`, "circular"},
		{"new object contains itself", `export function processEvent(e) { if (!e.properties.bad) return e; const o = {}; o.o = o; return { ...e, properties: { o } } }`, "circular"},
		{"2^64 paths", `export function processEvent(e) { if (!e.properties.bad) return e; let o = {}; for (let i = 0; i < 40; i++) o = { a: o, b: o }; e.properties.dag = o; return e }`, "more than"},
		{"throwing getter", `export function processEvent(e) { if (!e.properties.bad) return e; const o = {}; Object.defineProperty(o, "g", { get() { throw new Error("getter says no") }, enumerable: true }); e.properties.o = o; return e }`, "getter says no"},
		{"Proxy ownKeys throws", `export function processEvent(e) { if (!e.properties.bad) return e; return new Proxy({}, { ownKeys() { throw new Error("trap says no") } }) }`, "trap says no"},
		{"object without event", `export function processEvent(e) { if (!e.properties.bad) return e; return { distinct_id: "x", properties: { bad: true } } }`, "without a name"},
		{"event deleted", `export function processEvent(e) { if (e.properties.bad) delete e.event; return e }`, "without a name"},
		{"looping getter", `export function processEvent(e) { if (!e.properties.bad) return e; const o = {}; Object.defineProperty(o, "g", { get() { for (;;) {} }, enumerable: true }); e.properties.o = o; return e }`, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			tr := newTestTransform(t, testOpts{onError: OnErrorDeadLetter, timeout: 300 * time.Millisecond, logs: logs},
				writeConnector(t, "hostile", tc.js))
			out := applyAll(t, tr,
				mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"bad":true}}`),
				mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"bad":false,"n":2}}`))
			if len(out.DeadLetters) != 1 || !strings.Contains(out.DeadLetters[0].Reason, tc.want) {
				t.Fatalf("dead letters %+v, want one saying %q; logs:\n%s", out.DeadLetters, tc.want, logs)
			}
			if len(out.Events) != 1 {
				t.Fatalf("%d events out, want the good one", len(out.Events))
			}
			if n, _ := out.Events[0].Properties.Get("n"); n != int64(2) {
				t.Fatalf("the good event came out as %s", out.Events[0].AppendJSON(nil))
			}
			// The dead letter is the event as it was, encodable.
			if rec := out.DeadLetters[0].Record; !strings.Contains(string(rec), `"bad":true`) {
				t.Fatalf("dead letter record %s", rec)
			}
		})
	}
}

// TestHostileWebhooks: a composeWebhook result that cannot be read or
// serialised is a counted compose_webhook failure, never a panic, a hung
// lane or a webhook with an empty body.
func TestHostileWebhooks(t *testing.T) {
	for _, tc := range []struct{ name, js, want string }{
		{"throwing url getter", `export function composeWebhook(e) { return { get url() { throw new Error("url says no") }, body: "b" } }`, "url says no"},
		{"throwing headers", `export function composeWebhook(e) { const h = {}; Object.defineProperty(h, "x", { get() { throw new Error("header says no") }, enumerable: true }); return { url: "https://example.com/h", headers: h, body: "b" } }`, "header says no"},
		{"looping toString", `export function composeWebhook(e) { return { url: { toString() { for (;;) {} } }, body: "b" } }`, "timed out"},
		{"circular body", `export function composeWebhook(e) { const b = {}; b.b = b; return { url: "https://example.com/h", body: b } }`, "circular"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			tr := newTestTransform(t, testOpts{timeout: 300 * time.Millisecond, logs: logs}, writeConnector(t, "hook", tc.js))
			out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`), mustEvent(t, `{"event":"e","distinct_id":"d"}`))
			if len(out.Webhooks) != 0 {
				t.Fatalf("webhooks %+v", out.Webhooks)
			}
			if len(out.Events) != 2 {
				t.Fatalf("%d events out, want both", len(out.Events))
			}
			if !strings.Contains(strings.ToLower(logs.String()), strings.ToLower(tc.want)) {
				t.Fatalf("logs do not say %q:\n%s", tc.want, logs)
			}
		})
	}
}

// TestDeepResultsKept: deep values that are not circular are kept, whether
// a plugin builds them or they arrived in the event (the parser reads up
// to 10000 levels), and a value shared by two keys is written twice.
func TestDeepResultsKept(t *testing.T) {
	tr := newTestTransform(t, testOpts{}, writeConnector(t, "deep", `export function processEvent(e) {
    let o = { leaf: 1 }
    for (let i = 0; i < 500; i++) o = { o }
    e.properties.built = o
    const shared = { s: 1 }
    e.properties.a = shared
    e.properties.b = shared
    e.properties.seen = typeof e.properties.input
    return e
}`))
	in := `{"event":"e","distinct_id":"d","properties":{"input":` + strings.Repeat(`{"i":`, 300) + `1` + strings.Repeat(`}`, 300) + `}}`
	out := applyAll(t, tr, mustEvent(t, in))
	if len(out.Events) != 1 || len(out.DeadLetters) != 0 {
		t.Fatalf("%d events, dead letters %+v", len(out.Events), out.DeadLetters)
	}
	js := string(out.Events[0].AppendJSON(nil))
	for _, want := range []string{strings.Repeat(`{"o":`, 500) + `{"leaf":1}`, strings.Repeat(`{"i":`, 300) + `1}`, `"a":{"s":1},"b":{"s":1}`, `"seen":"object"`} {
		if !strings.Contains(js, want) {
			t.Fatalf("%.200s… does not hold %.60s…", js, want)
		}
	}
}
