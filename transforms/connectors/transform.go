package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
	"github.com/fsnotify/fsnotify"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/agent/redact"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	_ component.Transform = (*Transform)(nil)
	_ component.Lifecycle = (*Transform)(nil)
)

// minChunk is the smallest slice of a batch worth handing to another lane.
const minChunk = 16

// reloadDebounce groups the burst of file events an editor or a deploy
// makes into one reload.
const reloadDebounce = 200 * time.Millisecond

// connector is one compiled version of one connector of the chain.
type connector struct {
	idx          int
	spec         *spec
	prog         *goja.Program
	fp           string
	sh           *shared
	hasScheduled bool
	// export is the function that receives the connector's exports
	// ("exportEvents", "onEvent" or "").
	export string
	// breaker switches the connector off when it keeps failing.
	breaker *breaker
	// spare holds ready instances (already set up when they come from a
	// reload) for lanes to take when they switch to this version.
	spare chan *instance
	// processTime and composeTime observe the duration of processEvent
	// and composeWebhook calls (looked up once, not per event).
	processTime, composeTime prometheus.Observer
}

// chainState is the current version of the whole chain; lanes compare gen
// between batches and swap instances when it changed.
type chainState struct {
	gen   uint64
	conns []*connector
}

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

type metrics struct {
	errors    *prometheus.CounterVec
	discarded *prometheus.CounterVec
	webhooks  *prometheus.CounterVec
	reloads   *prometheus.CounterVec
	captured  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	bypassed  *prometheus.CounterVec
	tripped   *prometheus.GaugeVec
	geoReload *prometheus.CounterVec
	exports   *prometheus.CounterVec
}

// errorKinds are the kind label values of hogtail_connector_errors_total.
var errorKinds = []string{"error", "timeout", "interrupted", "setup", "on_event", "compose_webhook", "fetch_denied", "scheduled", "invalid_uuid", "export_events"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var err error
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return component.RegisterInto(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels), &err)
	}
	m := &metrics{
		errors:    counter("hogtail_connector_errors_total", "Connector calls that threw, rejected or timed out, by kind.", "transform", "connector", "kind"),
		discarded: counter("hogtail_connector_events_discarded_total", "Events a connector discarded (falsy processEvent result) or on_error dropped.", "transform", "connector"),
		webhooks:  counter("hogtail_connector_webhooks_total", "Webhook requests composed by composeWebhook.", "transform", "connector"),
		reloads:   counter("hogtail_connector_reloads_total", "Hot reloads of a connector, by result.", "transform", "connector", "result"),
		captured:  counter("hogtail_connector_captured_events_total", "Events created by posthog.capture.", "transform", "connector"),
		geoReload: counter("hogtail_connector_geoip_reloads_total", "Reloads of the GeoIP database after its file changed, by result.", "transform", "result"),
		exports:   counter("hogtail_connector_exports_total", "onEvent / exportEvents calls by outcome: ok, retry (RetryError or timeout: retried with backoff), error (dead-lettered).", "transform", "connector", "outcome"),
		bypassed:  counter("hogtail_connector_bypassed_events_total", "Events a switched-off connector (breaker open) was not called for; they followed on_error.", "transform", "connector"),
		tripped: component.RegisterInto(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hogtail_connector_switched_off",
			Help: "1 while a connector is switched off by its breaker after consecutive failed events.",
		}, []string{"transform", "connector"}), &err),
		duration: component.RegisterInto(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hogtail_connector_duration_seconds",
			Help:    "Duration of one call into a connector, by function (processEvent, composeWebhook).",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}, []string{"transform", "connector", "function"}), &err),
	}
	return m, err
}

// start makes the series of a connector exist at 0 from its load on, so
// that rate() and increase() see its first error.
func (m *metrics) start(transform, connector string) {
	for _, k := range errorKinds {
		m.errors.WithLabelValues(transform, connector, k)
	}
	m.discarded.WithLabelValues(transform, connector)
	m.webhooks.WithLabelValues(transform, connector)
	m.captured.WithLabelValues(transform, connector)
	m.reloads.WithLabelValues(transform, connector, "ok")
	m.reloads.WithLabelValues(transform, connector, "error")
	m.bypassed.WithLabelValues(transform, connector)
	m.tripped.WithLabelValues(transform, connector)
	for _, o := range []string{outcomeOK, outcomeRetry, outcomeError} {
		m.exports.WithLabelValues(transform, connector, o)
	}
}

// Transform runs events through a chain of PostHog connectors.
type Transform struct {
	name     string
	cfg      *Config
	set      component.Settings
	log      *slog.Logger
	registry *require.Registry
	client   *http.Client
	metrics  *metrics
	nLanes   int
	guard    *memGuard
	// geo is the database behind meta.geoip; nil without geoip_database.
	geo *geoDB
	// exports delivers the export records (onEvent, exportEvents).
	exports *exportSink

	state    atomic.Pointer[chainState]
	lanes    chan *lane
	allLanes []*lane

	initMu  sync.Mutex
	inited  bool
	closed  bool
	running bool

	reloadMu  sync.Mutex
	failedFP  map[int]string
	schedMu   sync.Mutex
	sched     map[int]*instance
	pendingMu sync.Mutex
	pending   []*event.Event

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a connectors transform. Connectors are compiled by Start (or
// the first Apply).
func New(cfg *Config, set component.Settings) (*Transform, error) {
	log := set.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{ReplaceAttr: redact.ReplaceAttr}))
	}
	n := cfg.Lanes
	if n <= 0 {
		n = runtime.NumCPU()
	}
	if cfg.configDir == "" {
		cfg.configDir = set.ConfigDir
	}
	m, err := newMetrics(set.Metrics)
	if err != nil {
		return nil, fmt.Errorf("connectors metrics: %w", err)
	}
	nets, errs := parseNetworks(cfg.FetchAllowNetworks)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	t := &Transform{
		name:     set.Name,
		cfg:      cfg,
		set:      set,
		log:      log,
		registry: newRegistry(),
		client:   newFetchClient(cfg.FetchAllowHosts, newDialGuard(nets, set.APIAddress)),
		metrics:  m,
		nLanes:   n,
		guard:    newMemGuard(uint64(cfg.MaxMemory)),
		lanes:    make(chan *lane, n),
		failedFP: map[int]string{},
		sched:    map[int]*instance{},
	}
	t.exports = newExportSink(t)
	return t, nil
}

// init compiles every connector and creates the lanes, once.
func (t *Transform) init() error {
	t.initMu.Lock()
	defer t.initMu.Unlock()
	if t.closed {
		return errors.New("connectors: transform is shut down")
	}
	if t.inited {
		return nil
	}
	var kv component.KV = t.set.Store
	if kv == nil {
		t.log.Warn("no persistent store given: meta.storage is kept in memory only")
		kv = newMemKV()
	}
	if t.cfg.GeoIPDatabase != "" {
		g, err := openGeoDB(resolvePath(t.cfg.configDir, t.cfg.GeoIPDatabase))
		if err != nil {
			return fmt.Errorf("connectors %q: %w", t.name, err)
		}
		t.geo = g
	}
	conns := make([]*connector, len(t.cfg.Chain))
	var errs []error
	specs := make([]*spec, len(t.cfg.Chain))
	var names []string
	for i := range t.cfg.Chain {
		sp, err := t.loadSpec(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		specs[i] = sp
		names = append(names, sp.name)
	}
	for i, sp := range specs {
		if sp == nil {
			continue
		}
		sh := &shared{name: sp.name, cache: newCache(), kv: kv, peers: names}
		c, err := t.build(i, sp, sh, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conns[i] = c
		t.metrics.start(t.name, sp.name)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("connectors %q: %w", t.name, err)
	}
	t.state.Store(&chainState{gen: 1, conns: conns})
	for i := 0; i < t.nLanes; i++ {
		l := &lane{idx: i, insts: make([]*instance, len(conns)), admits: make([]admission, len(conns)), failed: make([]string, len(conns)), exports: make([][][]byte, len(conns))}
		t.allLanes = append(t.allLanes, l)
		t.lanes <- l
	}
	t.inited = true
	return nil
}

func (t *Transform) loadSpec(i int) (*spec, error) {
	e := t.cfg.Chain[i]
	return loadSpec(resolvePath(t.cfg.configDir, e.Path), e, t.cfg.configDir, fmt.Sprintf("chain[%d].", i))
}

// build compiles a connector version and creates a probe instance, which
// checks that the bundle runs and becomes the first spare. With setup, the
// probe and one instance per lane are set up now (hot reload: a setup error
// keeps the old version).
func (t *Transform) build(i int, sp *spec, sh *shared, setup bool) (*connector, error) {
	fp, err := fingerprint(sp.dir)
	if err != nil {
		return nil, fmt.Errorf("chain[%d].path: connector %q: %w", i, sp.name, err)
	}
	comp, err := compile(sp.dir, sp.main)
	if err != nil {
		return nil, fmt.Errorf("chain[%d].path: connector %q: %w", i, sp.name, err)
	}
	c := &connector{idx: i, spec: sp, prog: comp.Program, fp: fp, sh: sh, spare: make(chan *instance, t.nLanes+1),
		processTime: t.metrics.duration.WithLabelValues(t.name, sp.name, "processEvent"),
		composeTime: t.metrics.duration.WithLabelValues(t.name, sp.name, "composeWebhook"),
		breaker:     newBreaker(t.cfg.BreakerThreshold, t.cfg.BreakerRetry.D())}
	n := 1
	if setup {
		n = t.nLanes
	}
	var built []*instance
	for j := 0; j < n; j++ {
		in, err := newInstance(t, c)
		if err == nil && setup {
			err = in.setup()
		}
		if err != nil {
			for _, b := range built {
				b.teardown()
			}
			if in != nil {
				in.teardown()
			}
			return nil, fmt.Errorf("chain[%d].path: %w", i, err)
		}
		built = append(built, in)
	}
	c.hasScheduled = built[0].hasScheduled()
	c.export = built[0].exportFn()
	for _, in := range built {
		c.spare <- in
	}
	return c, nil
}

// retire tears down the unused spares of a superseded version.
func (c *connector) retire() {
	for {
		select {
		case in := <-c.spare:
			in.teardown()
		default:
			return
		}
	}
}

// Start compiles the chain and starts hot reload and the scheduler.
func (t *Transform) Start(ctx context.Context) error {
	if err := t.init(); err != nil {
		return err
	}
	t.initMu.Lock()
	defer t.initMu.Unlock()
	if t.running {
		return nil
	}
	t.running = true
	bg, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	if t.cfg.HotReload {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.watch(bg)
		}()
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.schedule(bg)
	}()
	if t.geo != nil {
		t.metrics.geoReload.WithLabelValues(t.name, "ok")
		t.metrics.geoReload.WithLabelValues(t.name, "error")
		poll := t.cfg.PollInterval.D()
		if poll <= 0 {
			poll = DefaultConfig().PollInterval.D()
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.geo.watch(bg, t.log.With("transform", t.name), poll, func(ok bool) {
				result := "ok"
				if !ok {
					result = "error"
				}
				t.metrics.geoReload.WithLabelValues(t.name, result).Inc()
			})
		}()
	}
	return nil
}

// Shutdown stops the watchers and the scheduler, waits for in-flight Apply
// calls and calls teardownPlugin everywhere.
func (t *Transform) Shutdown(ctx context.Context) error {
	t.initMu.Lock()
	if t.closed {
		t.initMu.Unlock()
		return nil
	}
	t.closed = true
	inited := t.inited
	cancel := t.cancel
	t.initMu.Unlock()
	defer t.guard.close()
	if cancel != nil {
		cancel()
	}
	t.wg.Wait()
	if !inited {
		return nil
	}
	var err error
	for range t.allLanes {
		select {
		case l := <-t.lanes:
			for _, in := range l.insts {
				if in != nil {
					in.teardown()
				}
			}
		case <-ctx.Done():
			err = fmt.Errorf("connectors %q: shutdown: waiting for running batches: %w", t.name, ctx.Err())
		}
		if err != nil {
			break
		}
	}
	t.schedMu.Lock()
	for _, in := range t.sched {
		in.teardown()
	}
	t.sched = map[int]*instance{}
	t.schedMu.Unlock()
	t.exports.close()
	if st := t.state.Load(); st != nil {
		for _, c := range st.conns {
			c.retire()
		}
	}
	return err
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
				eo.materialize()
				var next *event.Event
				keep := true
				if err == nil {
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
		m, ok := fromJS(o).(event.Map)
		if !ok {
			return nil, false, errors.New("processEvent returned a value that is not an object")
		}
		next = &event.Event{}
		if err := next.FromMap(m); err != nil {
			return nil, false, fmt.Errorf("processEvent returned an invalid event: %w", err)
		}
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
	if u := o.Get("url"); u != nil && !goja.IsUndefined(u) && !goja.IsNull(u) {
		wh.URL = u.String()
	}
	if wh.URL == "" {
		fail(errors.New("composeWebhook returned no url"))
		return
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
		if _, isObj := b.(*goja.Object); isObj {
			s, err := in.jsonStringify(goja.Undefined(), b)
			if err == nil {
				wh.Body = s.String()
			}
		} else {
			wh.Body = b.String()
		}
	}
	t.metrics.webhooks.WithLabelValues(t.name, in.c.spec.name).Inc()
	out.Webhooks = append(out.Webhooks, wh)
	return nil
}

// ---- scheduler ----

func (t *Transform) schedule(ctx context.Context) {
	minute := time.NewTicker(time.Minute)
	hour := time.NewTicker(time.Hour)
	day := time.NewTicker(24 * time.Hour)
	defer minute.Stop()
	defer hour.Stop()
	defer day.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-minute.C:
			t.runScheduled(ctx, "runEveryMinute")
			for _, c := range t.state.Load().conns {
				c.sh.cache.sweep()
			}
		case <-hour.C:
			t.runScheduled(ctx, "runEveryHour")
		case <-day.C:
			t.runScheduled(ctx, "runEveryDay")
		}
	}
}

// runScheduled calls a runEvery* task of every connector that exports it,
// on a runtime of its own (so tasks never wait for a lane). Events it
// captures go out with the next Apply.
func (t *Transform) runScheduled(ctx context.Context, name string) {
	t.schedMu.Lock()
	defer t.schedMu.Unlock()
	st := t.state.Load()
	if st == nil {
		return
	}
	for i, c := range st.conns {
		if !c.hasScheduled {
			continue
		}
		in := t.sched[i]
		if in == nil || in.c != c {
			if in != nil {
				in.teardown()
				delete(t.sched, i)
			}
			var err error
			in, err = newInstance(t, c)
			if err != nil {
				c.sh.logError(t.log, "cannot create scheduler runtime", err)
				continue
			}
			t.sched[i] = in
		}
		fn := in.fns[name]
		if fn == nil {
			continue
		}
		if err := in.setup(); err != nil {
			t.metrics.errors.WithLabelValues(t.name, c.spec.name, "setup").Inc()
			c.sh.logError(t.log, "setupPlugin failed before "+name, err)
			if in.broken {
				in.teardown()
				delete(t.sched, i)
			}
			continue
		}
		if _, err := in.call(fn, in.meta); err != nil {
			t.metrics.errors.WithLabelValues(t.name, c.spec.name, "scheduled").Inc()
			c.sh.logError(t.log, name+" failed", errors.New(jsErrorText(err)))
		}
		if in.broken {
			in.teardown()
			delete(t.sched, i)
		}
		if cap := in.takeCaptured(); len(cap) > 0 {
			t.pendingMu.Lock()
			t.pending = append(t.pending, cap...)
			t.pendingMu.Unlock()
		}
	}
}

// ---- hot reload ----

// watch reloads connectors whose folder changed: fsnotify events
// (debounced) and a poll as a fallback both trigger a fingerprint check.
func (t *Transform) watch(ctx context.Context) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.log.Warn("fsnotify unavailable; polling connector folders only", "error", err)
	} else {
		defer w.Close()
		for _, c := range t.state.Load().conns {
			_ = filepath.WalkDir(c.spec.dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					if d.Name() == "node_modules" || d.Name() == ".git" {
						return filepath.SkipDir
					}
					if werr := w.Add(p); werr != nil {
						t.log.Warn("cannot watch connector folder; polling covers it", "dir", p, "error", werr)
					}
				}
				return nil
			})
		}
		events, errs = w.Events, w.Errors
	}
	poll := time.NewTicker(t.cfg.PollInterval.D())
	defer poll.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op&fsnotify.Create != 0 && w != nil {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					_ = w.Add(ev.Name)
				}
			}
			debounce.Reset(reloadDebounce)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			t.log.Warn("fsnotify error; polling continues", "error", err)
		case <-debounce.C:
			t.checkReload()
		case <-poll.C:
			t.checkReload()
		}
	}
}

// checkReload reloads every connector whose files changed.
func (t *Transform) checkReload() {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	st := t.state.Load()
	for i, c := range st.conns {
		fp, err := fingerprint(c.spec.dir)
		if err != nil || fp == c.fp || fp == t.failedFP[i] {
			continue
		}
		if err := t.reload(i, fp); err != nil {
			t.failedFP[i] = fp
			t.metrics.reloads.WithLabelValues(t.name, c.spec.name, "error").Inc()
			t.log.Error("connector reload failed; keeping the running version", "connector", c.spec.name, "error", err)
			continue
		}
		delete(t.failedFP, i)
		t.metrics.reloads.WithLabelValues(t.name, c.spec.name, "ok").Inc()
		t.log.Info("connector reloaded", "connector", c.spec.name)
	}
}

// reload compiles and sets up a new version of connector i off the hot
// path, then publishes it; lanes switch between batches.
func (t *Transform) reload(i int, fp string) error {
	st := t.state.Load()
	old := st.conns[i]
	sp, err := t.loadSpec(i)
	if err != nil {
		return err
	}
	c, err := t.build(i, sp, old.sh, true)
	if err != nil {
		return err
	}
	conns := append([]*connector(nil), st.conns...)
	conns[i] = c
	t.state.Store(&chainState{gen: st.gen + 1, conns: conns})
	// The new version starts switched on: a reload is how an operator
	// brings a fixed connector back at once.
	t.metrics.tripped.WithLabelValues(t.name, c.spec.name).Set(0)
	old.retire()
	return nil
}

// memKV is the fallback meta.storage when no Store is given.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (k *memKV) Get(key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *memKV) Set(key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = append([]byte(nil), v...)
	return nil
}

func (k *memKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}
