package connectors

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/agent/redact"
)

// minChunk is the smallest slice of a batch worth handing to another lane.
const minChunk = 16

// lane is a set of runtimes, one per connector, used by one goroutine at a
// time.
type lane struct {
	idx   int
	gen   uint64
	insts []*instance
	// Per event being processed, by connector: the breaker's decision and
	// the first error of an admitted connector (see settleBreakers).
	admits []admission
	failed []string
	// exports collects the export records of the chunk being processed,
	// by connector, so that a run of one connector's events can make one
	// exportEvents call.
	exports [][][]byte
}

func (t *Transform) acquire(ctx context.Context) (*lane, error) {
	select {
	case l := <-t.lanes:
		return l, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("connectors %q: waiting for a lane: %w", t.name, ctx.Err())
	}
}

func (t *Transform) release(l *lane) { t.lanes <- l }

// Apply runs the events through the chain. A batch is split into contiguous
// chunks over free lanes and the results are concatenated in input order.
func (t *Transform) Apply(ctx context.Context, in component.Input, out *component.Output) error {
	if err := t.init(); err != nil {
		return err
	}
	t.initMu.Lock()
	closed := t.closed
	t.initMu.Unlock()
	if closed {
		return fmt.Errorf("connectors %q: transform is shut down", t.name)
	}
	evs := in.Events
	k := min(t.nLanes, (len(evs)+minChunk-1)/minChunk)
	switch {
	case len(evs) == 0:
	case k <= 1:
		l, err := t.acquire(ctx)
		if err != nil {
			return err
		}
		err = t.runChunk(ctx, l, evs, out)
		t.release(l)
		if err != nil {
			return err
		}
	default:
		outs := make([]component.Output, k)
		errs := make([]error, k)
		size := (len(evs) + k - 1) / k
		run := func(i int, chunk []*event.Event) {
			l, err := t.acquire(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			outs[i].Events = make([]*event.Event, 0, len(chunk))
			errs[i] = t.runChunk(ctx, l, chunk, &outs[i])
			t.release(l)
		}
		var wg sync.WaitGroup
		for i := 1; i < k; i++ {
			lo, hi := i*size, min((i+1)*size, len(evs))
			if lo >= hi {
				continue
			}
			wg.Add(1)
			go func(i int, chunk []*event.Event) {
				defer wg.Done()
				run(i, chunk)
			}(i, evs[lo:hi])
		}
		run(0, evs[:min(size, len(evs))]) // the first chunk on the calling goroutine
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for i := range outs {
			out.Events = append(out.Events, outs[i].Events...)
			out.Webhooks = append(out.Webhooks, outs[i].Webhooks...)
			out.DeadLetters = append(out.DeadLetters, outs[i].DeadLetters...)
			out.Exports = append(out.Exports, outs[i].Exports...)
		}
	}
	t.pendingMu.Lock()
	if len(t.pending) > 0 {
		out.Events = append(out.Events, t.pending...)
		t.pending = nil
	}
	t.pendingMu.Unlock()
	return nil
}

// syncLane swaps the lane's instances to the current chain version. It runs
// between batches, so every event sees exactly one version of a connector.
func (t *Transform) syncLane(l *lane) {
	st := t.state.Load()
	if l.gen == st.gen {
		return
	}
	ok := true
	for i, c := range st.conns {
		old := l.insts[i]
		if old != nil && old.c == c {
			continue
		}
		var in *instance
		select {
		case in = <-c.spare:
		default:
			var err error
			in, err = newInstance(t, c)
			if err != nil {
				c.sh.logError(t.log, "cannot create runtime; keeping the previous version on this lane", err)
				ok = false
				continue
			}
		}
		if old != nil {
			old.teardown()
		}
		l.insts[i] = in
	}
	if ok {
		l.gen = st.gen
	}
}

func (t *Transform) runChunk(ctx context.Context, l *lane, evs []*event.Event, out *component.Output) error {
	t.syncLane(l)
	for i := range l.insts {
		if err := t.waitSetup(ctx, l, i); err != nil {
			return fmt.Errorf("connectors %q: %w", t.name, err)
		}
	}
	for _, ev := range evs {
		t.processOne(l, ev, out)
	}
	for i, recs := range l.exports {
		out.Exports = append(out.Exports, recs...)
		clear(recs) // the lane must not keep the records alive
		l.exports[i] = recs[:0]
	}
	return nil
}

// waitSetup runs setupPlugin of the lane's connector i, retrying with
// backoff (setup_retry doubling up to 5 minutes, as PostHog does) until it
// succeeds or ctx ends. The connector's events wait meanwhile.
func (t *Transform) waitSetup(ctx context.Context, l *lane, i int) error {
	delay := t.cfg.SetupRetry.D()
	for {
		in := l.insts[i]
		err := in.setup()
		if err == nil {
			return nil
		}
		t.metrics.errors.WithLabelValues(t.name, in.c.spec.name, "setup").Inc()
		if t.cfg.setupFailFast {
			return err
		}
		in.c.sh.logError(t.log, "setupPlugin failed; retrying", err, "retry_in", delay)
		if in.broken {
			t.replace(l, i)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for setupPlugin of %q: %w (last error: %v)", in.c.spec.name, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Minute)
	}
}

// replace swaps a runtime that timed out for a fresh one of the same
// version (set up on its next use).
func (t *Transform) replace(l *lane, i int) {
	old := l.insts[i]
	fresh, err := newInstance(t, old.c)
	if err != nil {
		old.c.sh.logError(t.log, "cannot replace a timed-out runtime", err)
		return
	}
	old.teardown()
	l.insts[i] = fresh
	if old.outOfMemory {
		// The old runtime held what it allocated (a huge string): hand
		// it back to the OS now rather than at the next GC, which the
		// grown heap would put far away.
		debug.FreeOSMemory()
	}
}

// processOne runs one event through the lane's chain, then composeWebhook
// of every connector, and queues the event for every connector with
// onEvent or exportEvents (delivered by the export sink).
func (t *Transform) processOne(l *lane, ev *event.Event, out *component.Output) {
	defer t.settleBreakers(l)
	cur := ev
	var captured []*event.Event
	alive := true
	for i := range l.insts {
		in := l.insts[i]
		fn := in.fns["processEvent"]
		if fn == nil {
			continue
		}
		var err error
		bypassed := l.admit(i) == admitBypass
		if bypassed {
			err = errBypassed{in.c.spec.name}
			t.metrics.bypassed.WithLabelValues(t.name, in.c.spec.name).Inc()
		} else {
			err = in.setup() // after a replaced runtime; normally a no-op
			if err == nil {
				var v goja.Value
				eo := newEventObj(in.vm, cur)
				start := time.Now()
				v, err = in.call(fn, eo.obj, in.meta)
				in.c.processTime.Observe(time.Since(start).Seconds())
				// Converting what the call left runs plugin code (getters,
				// Proxy traps) when it left JS objects: under the watchdog.
				materialize := eo.materialize
				if eo.touched() {
					materialize = func() error { return in.guarded(eo.materialize) }
				}
				if merr := materialize(); merr != nil && err == nil {
					err = fmt.Errorf("processEvent left a value in the event that cannot be kept: %w", merr)
				}
				var next *event.Event
				keep := true
				if o, isObj := v.(*goja.Object); err == nil && isObj && o != eo.obj {
					err = in.guarded(func() (rerr error) {
						next, keep, rerr = t.result(cur, eo, v)
						return rerr
					})
				} else if err == nil {
					next, keep, err = t.result(cur, eo, v)
				}
				eo.detach()
				if eo.badUUID != "" {
					t.metrics.errors.WithLabelValues(t.name, in.c.spec.name, "invalid_uuid").Inc()
					in.c.sh.logError(t.log, "processEvent set an invalid uuid; keeping the event's uuid", fmt.Errorf("not a UUID: %q", eo.badUUID), "uuid", cur.UUID)
				}
				switch {
				case err != nil:
				case !keep:
					alive = false
				default:
					cur = next
				}
			}
			if in.broken {
				t.replace(l, i)
			}
			if c := in.takeCaptured(); len(c) > 0 {
				captured = append(captured, c...)
				t.metrics.captured.WithLabelValues(t.name, in.c.spec.name).Add(float64(len(c)))
			}
		}
		if err == nil && !alive {
			t.metrics.discarded.WithLabelValues(t.name, in.c.spec.name).Inc()
			break
		}
		if err != nil {
			text := err.Error()
			if !bypassed {
				text = jsErrorText(err)
				l.failed[i] = text
				t.metrics.errors.WithLabelValues(t.name, in.c.spec.name, errKind(err)).Inc()
				in.c.sh.logError(t.log, "processEvent failed", errors.New(text), "on_error", t.cfg.OnError, "uuid", cur.UUID)
			}
			switch t.cfg.OnError {
			case OnErrorDrop:
				t.metrics.discarded.WithLabelValues(t.name, in.c.spec.name).Inc()
				alive = false
			case OnErrorDeadLetter:
				out.DeadLetters = append(out.DeadLetters, component.DeadLetter{
					Component: t.name,
					Reason:    redact.Text(fmt.Sprintf("connector %q: processEvent: %s", in.c.spec.name, firstLine(text))),
					Record:    cur.AppendJSON(nil),
				})
				alive = false
			}
			if !alive {
				break
			}
			// pass: the event goes on, with changes made before the throw
		}
	}
	if alive {
		out.Events = append(out.Events, cur)
	}
	out.Events = append(out.Events, captured...)
	if !alive {
		return
	}
	for i := range l.insts {
		in := l.insts[i]
		if !in.setupDone {
			continue
		}
		compose, export := in.fns["composeWebhook"], in.exportFn()
		if compose == nil && export == "" {
			continue
		}
		if l.admit(i) == admitBypass {
			if in.fns["processEvent"] == nil { // else counted there
				t.metrics.bypassed.WithLabelValues(t.name, in.c.spec.name).Inc()
			}
			continue
		}
		if compose != nil {
			if err := t.composeWebhook(in, compose, cur, out); err != nil && l.failed[i] == "" {
				l.failed[i] = err.Error()
			}
		}
		if export != "" {
			// Encoded now: a later transform may change the event in place.
			l.exports[i] = append(l.exports[i], appendExportRecord(nil, in.c.spec.name, cur))
		}
		if in.broken {
			t.replace(l, i)
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// errNoName: an event needs a name (capture refuses one without, and the
// sinks would send an event named ""), so a result without one is an error
// of the call, not an event.
var errNoName = errors.New("processEvent returned an event without a name (event is missing or empty)")

// result interprets processEvent's return value: the same event, a new
// object (spread copies), or a falsy value that discards the event.
func (t *Transform) result(cur *event.Event, eo *eventObj, v goja.Value) (*event.Event, bool, error) {
	if v == nil || !v.ToBoolean() {
		return nil, false, nil
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false, fmt.Errorf("processEvent returned %s, not an event", v.String())
	}
	if o == eo.obj {
		if cur.Event == "" {
			return nil, false, errNoName
		}
		return cur, true, nil
	}
	var next *event.Event
	if o.ExportType() == eventObjType {
		// The view of another (earlier) event the plugin kept: use a copy.
		other := o.Export().(*eventObj)
		next = other.event().Clone()
		// Not a new identity for this event: sending two events with one
		// uuid would make PostHog drop one of them.
		next.UUID = cur.UUID
	} else {
		v, err := fromJS(o)
		if err != nil {
			return nil, false, fmt.Errorf("processEvent returned a value that cannot be an event: %w", err)
		}
		m, ok := v.(event.Map)
		if !ok {
			return nil, false, errors.New("processEvent returned a value that is not an object")
		}
		next = &event.Event{}
		if err := next.FromMap(m); err != nil {
			return nil, false, fmt.Errorf("processEvent returned an invalid event: %w", err)
		}
	}
	if next.Event == "" {
		return nil, false, errNoName
	}
	if next != cur {
		// team_id never changes, as PostHog enforces. A returned copy may
		// carry a new uuid (PostHog allows it); one that is not a UUID is
		// refused like an in-place write.
		next.TeamID = cur.TeamID
		if next.UUID != cur.UUID {
			if id, ok := validUUID(next.UUID); ok {
				next.UUID = id
			} else {
				eo.badUUID = next.UUID
				next.UUID = cur.UUID
			}
		}
	}
	return next, true, nil
}

// readWebhook fills wh from composeWebhook's result o.
func readWebhook(in *instance, o *goja.Object, wh *component.Webhook) error {
	if u := o.Get("url"); u != nil && !goja.IsUndefined(u) && !goja.IsNull(u) {
		wh.URL = u.String()
	}
	if wh.URL == "" {
		return errors.New("no url")
	}
	if m := o.Get("method"); m != nil && !goja.IsUndefined(m) && !goja.IsNull(m) && m.String() != "" {
		wh.Method = strings.ToUpper(m.String())
	}
	if h, ok := o.Get("headers").(*goja.Object); ok {
		wh.Headers = map[string]string{}
		for _, k := range h.Keys() {
			wh.Headers[k] = h.Get(k).String()
		}
	} else {
		wh.Headers = map[string]string{"Content-Type": "application/json"}
	}
	if b := o.Get("body"); b != nil && !goja.IsUndefined(b) && !goja.IsNull(b) {
		if _, isObj := b.(*goja.Object); !isObj {
			wh.Body = b.String()
			return nil
		}
		// As PostHog serialises it: JSON.stringify, whose throw (a
		// circular body) fails the webhook rather than sending it empty.
		s, err := in.jsonStringify(goja.Undefined(), b)
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if goja.IsUndefined(s) {
			return errors.New("body: JSON.stringify gave undefined")
		}
		wh.Body = s.String()
	}
	return nil
}

// posthogEvent builds composeWebhook's argument: PostHog's PostHogEvent
// shape, timestamp a Date, $set/$set_once inside properties.
func posthogEvent(vm *goja.Runtime, ev *event.Event) goja.Value {
	o := vm.NewObject()
	_ = o.Set("uuid", ev.UUID)
	_ = o.Set("event", ev.Event)
	if ev.TeamID != 0 {
		_ = o.Set("team_id", ev.TeamID)
	}
	_ = o.Set("distinct_id", ev.DistinctID)
	props := ev.Properties
	if ev.Set != nil || ev.SetOnce != nil {
		props = props.Clone()
		if props == nil {
			props = event.Map{}
		}
		mergePersonProps(&props, "$set", ev.Set)
		mergePersonProps(&props, "$set_once", ev.SetOnce)
	}
	_ = o.Set("properties", toJS(vm, orEmpty(props)))
	_ = o.Set("timestamp", jsDate(vm, ev))
	return o
}

// mergePersonProps sets props[key] = {...props[key], ...top} as PostHog's
// ingestion does with top-level $set/$set_once: a key in both takes the
// top-level value (in the place it had), keys only inside properties stay.
func mergePersonProps(props *event.Map, key string, top event.Map) {
	if top == nil {
		return
	}
	inner, _ := props.Get(key)
	merged, _ := inner.(event.Map)
	merged = merged.Clone()
	if merged == nil {
		merged = make(event.Map, 0, len(top))
	}
	for _, f := range top {
		merged.Set(f.Key, f.Value)
	}
	props.Set(key, merged)
}

func orEmpty(m event.Map) event.Map {
	if m == nil {
		return event.Map{}
	}
	return m
}

// processedEvent builds onEvent's argument (ProcessedPluginEvent).
func processedEvent(vm *goja.Runtime, ev *event.Event) goja.Value {
	o := vm.NewObject()
	_ = o.Set("distinct_id", ev.DistinctID)
	if ev.IP != "" {
		_ = o.Set("ip", ev.IP)
	} else {
		_ = o.Set("ip", goja.Null())
	}
	if ev.TeamID != 0 {
		_ = o.Set("team_id", ev.TeamID)
	}
	_ = o.Set("event", ev.Event)
	_ = o.Set("properties", toJS(vm, orEmpty(ev.Properties)))
	_ = o.Set("timestamp", isoTimestamp(ev))
	set, setOnce := ev.Set, ev.SetOnce
	if set == nil {
		if v, ok := ev.Properties.Get("$set"); ok {
			set, _ = v.(event.Map)
		}
	}
	if setOnce == nil {
		if v, ok := ev.Properties.Get("$set_once"); ok {
			setOnce, _ = v.(event.Map)
		}
	}
	_ = o.Set("$set", toJS(vm, orEmpty(set)))
	_ = o.Set("$set_once", toJS(vm, orEmpty(setOnce)))
	_ = o.Set("uuid", ev.UUID)
	return o
}

// composeWebhook calls composeWebhook synchronously, as PostHog does, and
// turns a non-null result into a component.Webhook. It returns the error it
// logged and counted, if any.
func (t *Transform) composeWebhook(in *instance, fn goja.Callable, ev *event.Event, out *component.Output) (ferr error) {
	fail := func(err error) {
		ferr = err
		t.metrics.errors.WithLabelValues(t.name, in.c.spec.name, "compose_webhook").Inc()
		in.c.sh.logError(t.log, "composeWebhook failed", err, "uuid", ev.UUID)
	}
	start := time.Now()
	v, err := in.callSync(fn, posthogEvent(in.vm, ev), in.meta)
	in.c.composeTime.Observe(time.Since(start).Seconds())
	if err != nil {
		fail(errors.New(jsErrorText(err)))
		return
	}
	if v == nil || !v.ToBoolean() {
		return
	}
	o, ok := v.(*goja.Object)
	if !ok {
		fail(fmt.Errorf("composeWebhook returned %s, not {url, body}", v.String()))
		return
	}
	if o.ExportType() == promiseType {
		fail(errors.New("composeWebhook returned a Promise; it must be synchronous (PostHog does not await it)"))
		return
	}
	wh := component.Webhook{Connector: t.name + "/" + in.c.spec.name, Method: "POST"}
	// Reading the result runs plugin code (getters, toString, Proxy traps).
	if err := in.guarded(func() error { return readWebhook(in, o, &wh) }); err != nil {
		fail(fmt.Errorf("composeWebhook's result: %s", jsErrorText(err)))
		return
	}
	t.metrics.webhooks.WithLabelValues(t.name, in.c.spec.name).Inc()
	out.Webhooks = append(out.Webhooks, wh)
	return nil
}
