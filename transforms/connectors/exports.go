package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

var (
	_ component.Exporter  = (*Transform)(nil)
	_ component.Sink      = (*exportSink)(nil)
	_ component.Lifecycle = (*exportSink)(nil)
)

// PostHog's exportEvents buffer (plugin-server's export-events upgrade)
// flushes at 1 MiB or 10 s; hogtail adds a count limit.
const (
	defaultExportBatchEvents  = 500
	defaultExportBatchBytes   = 1 << 20
	defaultExportBatchTimeout = 10 * time.Second
)

// ExportsConfig configures the export queue of a connectors transform: the
// events its onEvent and exportEvents connectors receive are stored in
// buffer.db ("TRANSFORM.exports") and delivered from there by the agent's
// delivery loop, which calls the connectors on runtimes of their own.
type ExportsConfig struct {
	// BatchMaxEvents caps the events of one exportEvents call (and the
	// records read from the queue at once).
	BatchMaxEvents int `toml:"batch_max_events"`
	// BatchMaxBytes caps the summed size of the events of one call.
	BatchMaxBytes component.ByteSize `toml:"batch_max_bytes"`
	// BatchTimeout is how long a partial batch waits for more events.
	// Unset: 10 s when a connector of the chain has exportEvents (PostHog's
	// default), 0 otherwise (onEvent gets each event as soon as it is
	// stored).
	BatchTimeout *component.Duration `toml:"batch_timeout"`
	// Concurrency is the number of calls in flight; 1 keeps each
	// connector's events in order.
	Concurrency int `toml:"concurrency"`
	// Timeout bounds one onEvent / exportEvents call.
	Timeout component.Duration `toml:"timeout"`
	// Buffer configures the queue in buffer.db.
	Buffer component.BufferConfig `toml:"buffer"`
	// Retry configures the backoff after a RetryError or a timeout.
	Retry component.RetryConfig `toml:"retry"`
}

func defaultExports() ExportsConfig {
	d := component.DefaultDelivery()
	return ExportsConfig{
		BatchMaxEvents: defaultExportBatchEvents,
		BatchMaxBytes:  defaultExportBatchBytes,
		Concurrency:    1,
		// PostHog's TASK_TIMEOUT: an export runs off the lanes, so a slow
		// API may take its time without holding up processEvent.
		Timeout: component.Duration(30 * time.Second),
		Buffer:  d.Buffer,
		Retry:   d.Retry,
	}
}

// delivery returns the options of the export sink; exportEvents tells
// whether a connector of the chain batches.
func (e *ExportsConfig) delivery(exportEvents bool) component.DeliveryConfig {
	d := component.DeliveryConfig{
		BatchMaxEvents: e.BatchMaxEvents,
		BatchMaxBytes:  e.BatchMaxBytes,
		Concurrency:    e.Concurrency,
		Buffer:         e.Buffer,
		Retry:          e.Retry,
	}
	switch {
	case e.BatchTimeout != nil:
		d.BatchTimeout = *e.BatchTimeout
	case exportEvents:
		d.BatchTimeout = component.Duration(defaultExportBatchTimeout)
	}
	return d
}

// validate reports every problem, each naming its key under "exports.".
func (e *ExportsConfig) validate() error {
	var errs []error
	d := e.delivery(false)
	if err := d.Validate(); err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			errs = append(errs, joined.Unwrap()...)
		} else {
			errs = append(errs, err)
		}
	}
	if e.BatchTimeout != nil && *e.BatchTimeout < 0 {
		errs = append(errs, errors.New("batch_timeout: must not be negative"))
	}
	if e.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("exports.%w", err)
	}
	return errors.Join(errs...)
}

// exportFn names the function that receives a connector's exports:
// exportEvents wins over onEvent, as PostHog's export-events upgrade
// replaces onEvent with the buffer that feeds exportEvents.
func (in *instance) exportFn() string {
	switch {
	case in.has("exportEvents"):
		return "exportEvents"
	case in.has("onEvent"):
		return "onEvent"
	}
	return ""
}

// exportRecord is a record of the export queue: one event for one
// connector.
type exportRecord struct {
	Connector string          `json:"connector"`
	Event     json.RawMessage `json:"event"`
}

// appendExportRecord encodes ev for connector as an export record. The
// event is encoded as the sinks store it (an offset becomes PostHog's
// timestamp), so every redelivery carries the same one.
func appendExportRecord(dst []byte, connector string, ev *event.Event) []byte {
	dst = append(dst, `{"connector":`...)
	dst = event.AppendString(dst, connector)
	dst = append(dst, `,"event":`...)
	dst = ev.AppendStoredJSON(dst)
	return append(dst, '}')
}

// ExportSink implements component.Exporter: it loads the chain, and
// returns the sink that calls its onEvent / exportEvents connectors when
// one has either.
func (t *Transform) ExportSink() (component.Sink, component.DeliveryConfig, bool, error) {
	if err := t.init(); err != nil {
		return nil, component.DeliveryConfig{}, false, err
	}
	exports, batches := false, false
	for _, c := range t.state.Load().conns {
		switch c.export {
		case "exportEvents":
			exports, batches = true, true
		case "onEvent":
			exports = true
		}
	}
	if !exports {
		return nil, component.DeliveryConfig{}, false, nil
	}
	return t.exports, t.cfg.Exports.delivery(batches), true, nil
}

// exportCall is one onEvent / exportEvents call, as hogtail test shows it.
type exportCall struct {
	Connector string        `json:"connector"`
	Function  string        `json:"function"`
	Events    []string      `json:"events"`
	Outcome   string        `json:"outcome"`
	Error     string        `json:"error,omitempty"`
	Fetches   []fetchRecord `json:"fetches"`
}

// Outcomes of an export call.
const (
	outcomeOK    = "ok"
	outcomeRetry = "retry"
	outcomeError = "error"
)

// exportSink delivers a transform's export records: it calls the
// connector's exportEvents with a run of its events, or onEvent with one,
// on runtimes of its own (never the lanes', so a slow API does not slow
// processEvent), created from the connector version in force and set up
// like the lanes'. Success acknowledges the records; RetryError or a
// timeout is a retryable failure (the agent backs off and calls again);
// any other throw or rejection dead-letters the event or batch with the
// error and its JS stack.
type exportSink struct {
	t *Transform

	mu     sync.Mutex
	idle   map[int][]*instance // by connector index
	closed bool

	// observe, when set (hogtail test), is told of every call, with the
	// fetch requests it made.
	observe func(exportCall)
}

func newExportSink(t *Transform) *exportSink {
	return &exportSink{t: t, idle: map[int][]*instance{}}
}

// Start implements component.Lifecycle.
func (s *exportSink) Start(context.Context) error { return nil }

// Shutdown implements component.Lifecycle: it tears the idle runtimes
// down; the agent calls it once no Deliver runs.
func (s *exportSink) Shutdown(context.Context) error {
	s.close()
	return nil
}

func (s *exportSink) close() {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = map[int][]*instance{}, true
	s.mu.Unlock()
	for _, ins := range idle {
		for _, in := range ins {
			in.teardown()
		}
	}
}

// take returns an idle runtime of connector version c, or a new one.
// Runtimes of an older version (hot reload) are torn down.
func (s *exportSink) take(c *connector) (*instance, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("the transform is shut down")
	}
	var stale []*instance
	var in *instance
	for len(s.idle[c.idx]) > 0 && in == nil {
		ins := s.idle[c.idx]
		last := ins[len(ins)-1]
		s.idle[c.idx] = ins[:len(ins)-1]
		if last.c == c {
			in = last
		} else {
			stale = append(stale, last)
		}
	}
	s.mu.Unlock()
	for _, old := range stale {
		old.teardown()
	}
	if in != nil {
		return in, nil
	}
	in, err := newInstance(s.t, c)
	if err != nil {
		return nil, err
	}
	in.limit = s.t.cfg.Exports.Timeout.D()
	return in, nil
}

// put returns a runtime for reuse; a broken one (timed out) is replaced by
// a fresh one at the next take.
func (s *exportSink) put(in *instance) {
	if in.broken {
		in.teardown()
		return
	}
	s.mu.Lock()
	if !s.closed {
		s.idle[in.c.idx] = append(s.idle[in.c.idx], in)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	in.teardown()
}

// Deliver implements component.Sink. The records are handled in order; a
// run of records of one exportEvents connector is one call.
func (s *exportSink) Deliver(ctx context.Context, b component.Batch) error {
	conns := s.t.state.Load().conns
	for i := 0; i < len(b.Records); {
		c, events, j, err := s.next(conns, b.Records, i)
		if err == nil {
			err = s.call(ctx, c, events)
		}
		if err != nil {
			if de := component.AsDeliveryError(err); de.Permanent {
				return component.Partial(i, component.Rejected(j-i, de.Err))
			}
			return component.Partial(i, err)
		}
		i = j
	}
	return nil
}

// runOnce calls every export of recs once, whatever the outcome of the
// calls before (hogtail test).
func (s *exportSink) runOnce(ctx context.Context, recs [][]byte) {
	conns := s.t.state.Load().conns
	for i := 0; i < len(recs); {
		c, events, j, err := s.next(conns, recs, i)
		if err == nil {
			err = s.call(ctx, c, events)
		} else if s.observe != nil {
			s.observe(exportCall{Outcome: outcomeError, Error: err.Error(), Events: []string{}, Fetches: []fetchRecord{}})
		}
		i = j
	}
}

// next decodes the call starting at record i: the connector, its events
// (a run of up to exports.batch_max_events for exportEvents, one for
// onEvent), and the index after them. A record that cannot be called is a
// component.Permanent error.
func (s *exportSink) next(conns []*connector, recs [][]byte, i int) (*connector, []json.RawMessage, int, error) {
	var rec exportRecord
	if err := json.Unmarshal(recs[i], &rec); err != nil {
		return nil, nil, i + 1, component.Permanent(fmt.Errorf("export record is not valid JSON: %w", err))
	}
	var c *connector
	for _, x := range conns {
		if x != nil && x.spec.name == rec.Connector {
			c = x
		}
	}
	if c == nil || c.export == "" {
		return nil, nil, i + 1, component.Permanent(fmt.Errorf("connector %q has no onEvent or exportEvents in this chain any more", rec.Connector))
	}
	events := []json.RawMessage{rec.Event}
	j := i + 1
	if c.export == "exportEvents" {
		for ; j < len(recs) && j-i < s.t.cfg.Exports.BatchMaxEvents; j++ {
			var more exportRecord
			if err := json.Unmarshal(recs[j], &more); err != nil || more.Connector != rec.Connector {
				break
			}
			events = append(events, more.Event)
		}
	}
	return c, events, j, nil
}

// errStopped interrupts an export call when its delivery is cut.
var errStopped = errors.New("export call stopped: hogtail is stopping or reloading")

// errRetry is a failure the delivery loop retries: RetryError, a timeout,
// or a runtime that could not be made ready.
type errRetry struct{ err error }

func (e errRetry) Error() string { return e.err.Error() }
func (e errRetry) Unwrap() error { return e.err }

// call runs the connector's export function on events and classifies the
// outcome: nil, a retryable error, or a component.Permanent one.
func (s *exportSink) call(ctx context.Context, c *connector, raw []json.RawMessage) error {
	name, fnName := c.spec.name, c.export
	if err := ctx.Err(); err != nil {
		return err
	}
	in, err := s.take(c)
	if err != nil {
		return fmt.Errorf("connector %q: %s: %w", name, fnName, err)
	}
	defer s.put(in)
	if err := in.setup(); err != nil {
		s.t.metrics.errors.WithLabelValues(s.t.name, name, "setup").Inc()
		c.sh.logError(s.t.log, "setupPlugin failed before an export; retrying", err)
		return err
	}
	events := make([]*event.Event, len(raw))
	uuids := make([]string, len(raw))
	for k, r := range raw {
		ev := &event.Event{}
		if err := ev.UnmarshalJSON(r); err != nil {
			return component.Permanent(fmt.Errorf("connector %q: %s: stored event is not valid: %w", name, fnName, err))
		}
		events[k], uuids[k] = ev, ev.UUID
	}
	var fetches []fetchRecord
	if s.observe != nil {
		in.fetches = &fetches
		defer func() { in.fetches = nil }()
	}
	var arg goja.Value
	if fnName == "exportEvents" {
		arr := make([]any, len(events))
		for k, ev := range events {
			arr[k] = processedEvent(in.vm, ev)
		}
		arg = in.vm.NewArray(arr...)
	} else {
		arg = processedEvent(in.vm, events[0])
	}
	start := time.Now()
	// A stop of the agent cuts the call (and its fetch): its records stay
	// in the queue and are exported again at the next start.
	in.ctx = ctx
	// The runtime itself, not in.vm: when the stop lands as the call ends,
	// the function may still run after put tore the instance down.
	vm := in.vm
	stop := context.AfterFunc(ctx, func() { vm.Interrupt(errStopped) })
	_, cerr := in.call(in.fns[fnName], arg, in.meta)
	interrupted := !stop()
	in.ctx = nil
	s.t.metrics.duration.WithLabelValues(s.t.name, name, fnName).Observe(time.Since(start).Seconds())
	if interrupted || ctx.Err() != nil {
		// The runtime may hold a half-run async function: never reuse it.
		in.broken = true
		if cerr != nil {
			return errRetry{fmt.Errorf("connector %q: %s: stopped: %w", name, fnName, context.Cause(ctx))}
		}
	}
	if cap := in.takeCaptured(); len(cap) > 0 {
		s.t.pendingMu.Lock()
		s.t.pending = append(s.t.pending, cap...)
		s.t.pendingMu.Unlock()
		s.t.metrics.captured.WithLabelValues(s.t.name, name).Add(float64(len(cap)))
	}
	outcome, err := s.classify(in, name, fnName, cerr)
	if s.observe != nil {
		call := exportCall{Connector: name, Function: fnName, Events: uuids, Outcome: outcome, Fetches: fetches}
		if err != nil {
			call.Error = err.Error()
		}
		if call.Fetches == nil {
			call.Fetches = []fetchRecord{}
		}
		s.observe(call)
	}
	return err
}

// classify maps a call's error to PostHog's export semantics.
func (s *exportSink) classify(in *instance, name, fnName string, err error) (string, error) {
	if err == nil {
		s.t.metrics.exports.WithLabelValues(s.t.name, name, outcomeOK).Inc()
		return outcomeOK, nil
	}
	text := jsErrorText(err)
	kind := errKind(err)
	s.t.metrics.errors.WithLabelValues(s.t.name, name, kindOf(fnName, kind)).Inc()
	wrapped := fmt.Errorf("connector %q: %s: %s", name, fnName, text)
	if kind == "timeout" || isRetryError(err) {
		s.t.metrics.exports.WithLabelValues(s.t.name, name, outcomeRetry).Inc()
		return outcomeRetry, errRetry{wrapped}
	}
	s.t.metrics.exports.WithLabelValues(s.t.name, name, outcomeError).Inc()
	in.c.sh.logError(s.t.log, fnName+" failed; moved to dead letters", errors.New(text))
	return outcomeError, component.Permanent(wrapped)
}

// kindOf is the errors_total kind of a failed export call.
func kindOf(fnName, kind string) string {
	switch kind {
	case "timeout", "memory":
		return kind
	}
	if fnName == "exportEvents" {
		return "export_events"
	}
	return "on_event"
}

// isRetryError reports whether a call threw or rejected with a RetryError
// (the global or @posthog/plugin-scaffold's, which are one class, or a
// plugin's own class of that name, as PostHog checks by name too).
func isRetryError(err error) bool {
	var v goja.Value
	var ex *goja.Exception
	var rj *rejection
	switch {
	case errors.As(err, &rj):
		v = rj.v
	case errors.As(err, &ex):
		v = ex.Value()
	default:
		return false
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return false
	}
	if n := o.Get("name"); n != nil && n.String() == "RetryError" {
		return true
	}
	for p := o.Prototype(); p != nil; p = p.Prototype() {
		if ctor, ok := p.Get("constructor").(*goja.Object); ok {
			if n := ctor.Get("name"); n != nil && n.String() == "RetryError" {
				return true
			}
		}
	}
	return false
}
