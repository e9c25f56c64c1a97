package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/agent/redact"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	_ component.Transform = (*Transform)(nil)
	_ component.Lifecycle = (*Transform)(nil)
)

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
		kv = component.NewMemoryKV()
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
	// Validate requires a positive poll_interval only with hot_reload;
	// the GeoIP watch polls either way.
	poll := t.cfg.PollInterval.D()
	if poll <= 0 {
		poll = DefaultConfig().PollInterval.D()
	}
	if t.cfg.HotReload {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.watch(bg, poll)
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
