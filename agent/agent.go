// Package agent wires hogtail's components together: it builds sources,
// transforms and sinks from a config, routes each source's events through
// its transforms into the sinks' queues in the disk buffer, delivers the
// queues, applies config reloads, and stops everything in order.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/internal/bufpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// BufferFile is the name of the bbolt file inside data_dir.
const BufferFile = "buffer.db"

// Agent is a running pipeline. Its components can be replaced by Reload
// while it runs.
type Agent struct {
	log     *slog.Logger
	buf     *buffer.Buffer
	metrics *prometheus.Registry
	m       *metrics
	health  *health
	taps    *taps
	// storeDeadLetters stores the dead letters of sinks (the buffer's
	// AddDeadLetters; a test makes it fail as a full disk does).
	storeDeadLetters func([]component.DeadLetter) error
	// arenas recycles the buffers events are encoded into.
	arenas bufpool.Pool

	// cfg is the config in force; replaced by Reload.
	cfg atomic.Pointer[config.Config]
	// topo is the routing in force. Emit reads it under flowMu.RLock while
	// it runs events through transforms; Reload swaps it under Lock, so a
	// removed transform is never in use when it is shut down.
	topo   atomic.Pointer[topology]
	flowMu sync.RWMutex
	// live is what health looks at (see publishLive).
	live atomic.Pointer[liveSet]

	// Guarded by runMu (Run and Reload).
	runMu      sync.Mutex
	sources    map[string]*runningSource
	transforms map[string]*runningTransform
	sinks      map[string]*runningSink
	srcCtx     context.Context
	sinkCtx    context.Context
	srcWG      sync.WaitGroup
	sinkWG     sync.WaitGroup
	liveSrc    atomic.Int64
	srcDone    chan struct{} // signalled when a source returns
	reloadReqs chan reloadRequest
	started    chan struct{}
}

// topology is the routing between components.
type topology struct {
	eventSinks   map[string][]*runningSink
	webhookSinks map[string][]*runningSink
	// exportSinks maps a transform to its own export sink (see
	// component.Exporter).
	exportSinks map[string]*runningSink
	nextT       map[string][]*runningTransform
	// releases lists the sources whose batches may be reused once
	// encoded: nothing downstream declares it keeps events (see
	// component.Capabilities).
	releases map[string]bool
}

type runningSource struct {
	name   string
	fp     string
	src    component.Source
	cancel context.CancelFunc
	done   chan struct{}
	// failed holds the error a Run returned while the agent was not
	// stopping the source: its machinery died (Alive reports it).
	failed atomic.Pointer[error]
}

type runningTransform struct {
	name    string
	fp      string
	tr      component.Transform
	started bool
	// exports is the transform's own export sink, or nil.
	exports *runningSink
}

type runningSink struct {
	name string
	fp   string
	spec *config.Sink
	// exportsOf names the transform whose export sink this is ("" for a
	// configured or implicit webhook sink).
	exportsOf string
	sink      component.Sink
	delivery  component.DeliveryConfig
	reader    *buffer.Reader
	status    *sinkStatus
	// stopping is set once the sink is being stopped.
	stopping atomic.Bool
	// stopRead ends the drain: no new batch, no more waiting in backoff;
	// cancel also cuts the requests in flight.
	stopRead context.CancelFunc
	cancel   context.CancelFunc
	done     chan struct{}
}

// Options tune an Agent beyond its config.
type Options struct {
	// Logger is the agent's logger; components get children of it.
	Logger *slog.Logger
	// BufferChild runs the buffer file's damage check and salvage in a
	// child process (see buffer.Open); hogtail re-executes itself.
	BufferChild buffer.ChildCommand
	// BufferWaiting is called every few seconds while the buffer file is
	// checked or salvaged at start.
	BufferWaiting func()
}

// New opens the buffer and builds every component of cfg. Nothing runs
// until Run.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	buf, err := buffer.Open(filepath.Join(cfg.DataDir, BufferFile), buffer.Options{Sync: cfg.Buffer.Sync, Logger: log, Child: opts.BufferChild, Waiting: opts.BufferWaiting})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	var regErr error
	component.RegisterInto(reg, collectors.NewGoCollector(), &regErr)
	component.RegisterInto(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &regErr)
	m, err := newMetrics(reg, buf)
	if err = errors.Join(regErr, err); err != nil {
		buf.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	a := &Agent{
		log:        log,
		buf:        buf,
		arenas:     bufpool.Pool{Max: 2, MaxCap: 16 << 20},
		metrics:    reg,
		m:          m,
		health:     newHealth(),
		taps:       newTaps(),
		sources:    map[string]*runningSource{},
		transforms: map[string]*runningTransform{},
		sinks:      map[string]*runningSink{},
		srcDone:    make(chan struct{}, 1),
		reloadReqs: make(chan reloadRequest),
		started:    make(chan struct{}),
	}
	a.storeDeadLetters = buf.AddDeadLetters
	a.cfg.Store(cfg)
	if err := a.apply(cfg); err != nil {
		buf.Close()
		return nil, err
	}
	return a, nil
}

// Started is closed once Run has started every component.
func (a *Agent) Started() <-chan struct{} { return a.started }

// Config returns the config in force.
func (a *Agent) Config() *config.Config { return a.cfg.Load() }

// Buffer returns the agent's disk buffer.
func (a *Agent) Buffer() *buffer.Buffer { return a.buf }

// Metrics returns the agent's Prometheus registry.
func (a *Agent) Metrics() *prometheus.Registry { return a.metrics }

func (a *Agent) settings(cfg *config.Config, kind, name string) component.Settings {
	host, _ := os.Hostname()
	var api string
	if cfg.API.Enabled {
		api = cfg.API.Address
	}
	return component.Settings{
		APIAddress: api,
		Name:       name,
		Logger:     a.log.With(kind, name),
		DataDir:    cfg.DataDir,
		ConfigDir:  cfg.Dir,
		Hostname:   host,
		Metrics:    prometheus.WrapRegistererWith(prometheus.Labels{"component": name}, a.metrics),
	}
}

// apply makes the components match cfg: components whose type and options
// did not change keep running; changed and new ones are built (and, when
// the agent runs, started); removed ones are stopped. Routing switches
// atomically between two batches. A removed sink's queue stays in the
// buffer until it is purged or the sink comes back.
//
// Everything new is built before anything old is touched: if any new
// component fails to build, the running pipeline is left as it was.
func (a *Agent) apply(cfg *config.Config) error {
	running := a.srcCtx != nil
	var errs []error

	newT := map[string]*runningTransform{}
	for name, t := range cfg.Transforms {
		fp := fingerprint(t.Type, t.Config)
		if old := a.transforms[name]; old != nil && old.fp == fp {
			newT[name] = old
			continue
		}
		set := a.settings(cfg, "transform", name)
		set.Store = a.buf.KV("transforms/" + name)
		tr, err := t.Factory.CreateTransform(t.Config, set)
		if err != nil {
			errs = append(errs, fmt.Errorf("transforms.%s: %w", name, err))
			continue
		}
		rt := &runningTransform{name: name, fp: fp, tr: tr}
		rt.exports, err = exportSink(cfg, rt)
		if err != nil {
			errs = append(errs, fmt.Errorf("transforms.%s: %w", name, err))
			continue
		}
		newT[name] = rt
	}
	newK := map[string]*runningSink{}
	for _, t := range newT {
		if t.exports != nil {
			newK[t.exports.name] = t.exports
		}
	}
	for name, s := range allSinks(cfg) {
		fp := fingerprint(s.Type, s.Config)
		if old := a.sinks[name]; old != nil && old.fp == fp {
			old.spec = s
			newK[name] = old
			continue
		}
		sink, err := s.Factory.CreateSink(s.Config, a.settings(cfg, "sink", name))
		if err != nil {
			errs = append(errs, fmt.Errorf("sinks.%s: %w", name, err))
			continue
		}
		newK[name] = &runningSink{name: name, fp: fp, spec: s, sink: sink, delivery: *s.Delivery, status: newSinkStatus()}
	}
	newS := map[string]*runningSource{}
	for name, s := range cfg.Sources {
		fp := fingerprint(s.Type, s.Config)
		if old := a.sources[name]; old != nil && old.fp == fp {
			newS[name] = old
			continue
		}
		set := a.settings(cfg, "source", name)
		set.Checkpoints = a.buf.Checkpoints(name)
		src, err := s.Factory.CreateSource(s.Config, set)
		if err != nil {
			errs = append(errs, fmt.Errorf("sources.%s: %w", name, err))
			continue
		}
		newS[name] = &runningSource{name: name, fp: fp, src: src}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// Start new transforms and sinks before any event can reach them.
	if running {
		for _, t := range newT {
			if err := a.startTransform(t); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			for _, t := range newT {
				if a.transforms[t.name] != t {
					a.stopTransform(t)
				}
			}
			return errors.Join(errs...)
		}
	}
	for _, s := range newK {
		if s.reader != nil {
			continue
		}
		d := s.delivery
		if err := a.buf.Queue(s.name, buffer.QueueConfig{MaxSize: int64(d.Buffer.MaxSize), WhenFull: d.Buffer.WhenFull}); err != nil {
			return err
		}
		r, err := a.buf.Reader(s.name)
		if err != nil {
			return err
		}
		s.reader = r
	}

	// Stop sources that go away or change first, so no batch is in
	// flight towards a component about to change.
	for name, old := range a.sources {
		if newS[name] != old {
			a.stopSource(old)
		}
	}
	// Old sinks that change stop before their replacement reads the queue.
	for name, old := range a.sinks {
		if newK[name] != old {
			a.stopSink(old)
			if _, kept := newK[name]; !kept {
				a.log.WarnContext(NoRateLimit(context.Background()), "sink removed; its queue stays in the buffer until a sink of that name returns (and delivers it) or it is dropped (hogtail buffer drop-queue, agent stopped)", "sink", name)
			}
		}
	}
	a.flowMu.Lock()
	a.topo.Store(buildTopology(cfg, newT, newK))
	a.flowMu.Unlock()
	for name, old := range a.transforms {
		if newT[name] != old {
			a.stopTransform(old)
		}
	}
	a.transforms, a.sinks = newT, newK
	prevSources := a.sources
	a.sources = newS
	a.cfg.Store(cfg)
	a.publishLive()
	for name := range newS {
		a.m.start("source", name)
	}
	for name := range newT {
		a.m.start("transform", name)
	}
	for name := range newK {
		a.m.start("sink", name)
	}
	if running {
		for _, s := range newK {
			if s.done == nil {
				a.startSink(s)
			}
		}
		for name, s := range newS {
			if prevSources[name] != s {
				a.startSource(s)
			}
		}
	}
	return nil
}

func buildTopology(cfg *config.Config, ts map[string]*runningTransform, ks map[string]*runningSink) *topology {
	t := &topology{
		eventSinks:   map[string][]*runningSink{},
		webhookSinks: map[string][]*runningSink{},
		exportSinks:  map[string]*runningSink{},
		nextT:        map[string][]*runningTransform{},
	}
	for _, s := range ks {
		if s.exportsOf != "" {
			t.exportSinks[s.exportsOf] = s
			continue
		}
		for _, in := range s.spec.Inputs {
			if s.spec.Factory.Kind() == component.KindWebhooks {
				t.webhookSinks[in] = append(t.webhookSinks[in], s)
			} else {
				t.eventSinks[in] = append(t.eventSinks[in], s)
			}
		}
	}
	for name, spec := range cfg.Transforms {
		for _, in := range spec.Inputs {
			t.nextT[in] = append(t.nextT[in], ts[name])
		}
	}
	t.releases = map[string]bool{}
	for name := range cfg.Sources {
		t.releases[name] = !t.keepsEvents(name, map[string]bool{})
	}
	return t
}

// keepsEvents reports whether a transform downstream of node may keep the
// events node outputs: one declares so, or declares nothing. Taps and
// sinks never keep them (taps and the buffer encode events as they get
// them, see tapCapabilities).
func (t *topology) keepsEvents(node string, seen map[string]bool) bool {
	if tapCapabilities().KeepsEvents {
		return true
	}
	for _, rt := range t.nextT[node] {
		if seen[rt.name] {
			continue
		}
		seen[rt.name] = true
		d, ok := rt.tr.(component.CapabilityDeclarer)
		if !ok || d.Capabilities().KeepsEvents || t.keepsEvents(rt.name, seen) {
			return true
		}
	}
	return false
}

// allSinks returns the configured sinks plus an implicit webhook sink for
// every connectors transform that no webhook sink reads, so that
// composeWebhook works out of the box, as in PostHog.
func allSinks(cfg *config.Config) map[string]*config.Sink {
	out := map[string]*config.Sink{}
	covered := map[string]bool{}
	for name, s := range cfg.Sinks {
		out[name] = s
		if s.Factory.Kind() == component.KindWebhooks {
			for _, in := range s.Inputs {
				covered[in] = true
			}
		}
	}
	return addImplicitWebhookSinks(cfg, out, covered)
}

func (a *Agent) startTransform(t *runningTransform) error {
	if t.started {
		return nil
	}
	if lc, ok := t.tr.(component.Lifecycle); ok {
		if err := lc.Start(a.srcCtx); err != nil {
			return fmt.Errorf("transforms.%s: start: %w", t.name, err)
		}
	}
	t.started = true
	return nil
}

func (a *Agent) stopTransform(t *runningTransform) {
	if !t.started {
		return
	}
	t.started = false
	if lc, ok := t.tr.(component.Lifecycle); ok {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Load().ShutdownTimeout)
		defer cancel()
		if err := lc.Shutdown(ctx); err != nil {
			a.log.Error("transform shutdown", "transform", t.name, "error", err)
		}
	}
}

func (a *Agent) startSource(s *runningSource) {
	ctx, cancel := context.WithCancel(a.srcCtx)
	s.cancel, s.done = cancel, make(chan struct{})
	a.liveSrc.Add(1)
	a.srcWG.Add(1)
	a.health.set("sources."+s.name, nil)
	go func() {
		defer a.srcWG.Done()
		defer close(s.done)
		err := s.src.Run(ctx, a.emitter(s.name))
		if err != nil && ctx.Err() == nil {
			a.log.Error("source stopped", "source", s.name, "error", err)
			a.health.set("sources."+s.name, err)
			s.failed.Store(&err)
		} else {
			a.log.Debug("source finished", "source", s.name)
		}
		a.liveSrc.Add(-1)
		select {
		case a.srcDone <- struct{}{}:
		default:
		}
	}()
}

func (a *Agent) stopSource(s *runningSource) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	a.health.forget("sources." + s.name)
}

func (a *Agent) startSink(s *runningSink) {
	if lc, ok := s.sink.(component.Lifecycle); ok {
		if err := lc.Start(a.sinkCtx); err != nil {
			a.log.Error("sink start failed", "sink", s.name, "error", err)
			a.health.set("sinks."+s.name, err)
			return
		}
	}
	ctx, cancel := context.WithCancel(a.sinkCtx)
	drain, stopRead := context.WithCancel(ctx)
	s.cancel, s.stopRead, s.done = cancel, stopRead, make(chan struct{})
	a.sinkWG.Add(1)
	go func() {
		defer a.sinkWG.Done()
		defer close(s.done)
		a.runSink(ctx, drain, s)
	}()
}

// stopSink stops a sink replaced or removed by a reload: the requests in
// flight finish (within shutdown_timeout) and are acknowledged, and what
// was not delivered stays in the queue for the sink that follows.
func (a *Agent) stopSink(s *runningSink) {
	if s.cancel == nil {
		return
	}
	a.finishDeliveries(time.Now().Add(a.cfg.Load().ShutdownTimeout), s)
	a.health.forget("sinks." + s.name)
	if lc, ok := s.sink.(component.Lifecycle); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := lc.Shutdown(ctx); err != nil {
			a.log.Error("sink shutdown", "sink", s.name, "error", err)
		}
	}
}

type reloadRequest struct {
	cfg  *config.Config
	done chan error
}

// Reload applies cfg to the running agent (see apply). On error the old
// pipeline keeps running unchanged. Settings that need a restart (data_dir,
// buffer.sync, the API address) are reported as warnings and keep their old
// values.
func (a *Agent) Reload(ctx context.Context, cfg *config.Config) error {
	req := reloadRequest{cfg: cfg, done: make(chan error, 1)}
	select {
	case a.reloadReqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.done
}

func (a *Agent) reload(cfg *config.Config) error {
	old := a.cfg.Load()
	if cfg.DataDir != old.DataDir || cfg.Buffer != old.Buffer || !cfg.API.Equal(old.API) {
		a.log.WarnContext(NoRateLimit(context.Background()), "data_dir, [buffer] and [api] changes take effect at the next restart")
		cp := *cfg
		cp.DataDir, cp.Buffer, cp.API = old.DataDir, old.Buffer, old.API
		cfg = &cp
	}
	a.m.reloads.Inc()
	d := a.diff(cfg)
	if err := a.apply(cfg); err != nil {
		a.m.reloadFailures.Inc()
		return err
	}
	// Every reload says what it did, however many come in a burst (config
	// management pushing edits): past the log rate limiter.
	a.log.InfoContext(NoRateLimit(context.Background()), "config applied", "started", d.started, "stopped", d.stopped, "changed", d.changed, "kept", d.kept)
	return nil
}

// reloadDiff names the components ("sources.NAME") a reload starts, stops,
// replaces (changed options) and keeps running.
type reloadDiff struct {
	started, stopped, changed, kept []string
}

// diff compares cfg with the running components as apply does.
func (a *Agent) diff(cfg *config.Config) reloadDiff {
	var d reloadDiff
	add := func(kind, name, fp, oldFP string, running bool) {
		switch n := kind + "." + name; {
		case !running:
			d.started = append(d.started, n)
		case fp == oldFP:
			d.kept = append(d.kept, n)
		default:
			d.changed = append(d.changed, n)
		}
	}
	seen := map[string]bool{}
	for name, s := range cfg.Sources {
		old, ok := a.sources[name]
		add("sources", name, fingerprint(s.Type, s.Config), fpOf(ok, old), ok)
		seen["sources."+name] = true
	}
	for name, t := range cfg.Transforms {
		old, ok := a.transforms[name]
		add("transforms", name, fingerprint(t.Type, t.Config), fpOf(ok, old), ok)
		seen["transforms."+name] = true
	}
	for name, s := range allSinks(cfg) {
		old, ok := a.sinks[name]
		add("sinks", name, fingerprint(s.Type, s.Config), fpOf(ok, old), ok)
		seen["sinks."+name] = true
	}
	for name := range a.sources {
		if !seen["sources."+name] {
			d.stopped = append(d.stopped, "sources."+name)
		}
	}
	for name := range a.transforms {
		if !seen["transforms."+name] {
			d.stopped = append(d.stopped, "transforms."+name)
		}
	}
	for name, s := range a.sinks {
		// A transform's export sink follows its transform.
		if !seen["sinks."+name] && s.exportsOf == "" {
			d.stopped = append(d.stopped, "sinks."+name)
		}
	}
	for _, l := range [][]string{d.started, d.stopped, d.changed, d.kept} {
		sort.Strings(l)
	}
	return d
}

// fpOf returns the fingerprint of a running component, "" for none.
func fpOf[C interface{ fingerprint() string }](ok bool, c C) string {
	if !ok {
		return ""
	}
	return c.fingerprint()
}

func (s *runningSource) fingerprint() string    { return s.fp }
func (t *runningTransform) fingerprint() string { return t.fp }
func (s *runningSink) fingerprint() string      { return s.fp }

// ReloadRejected counts a reload whose config the loader rejected before
// it reached Reload: the old config keeps running.
func (a *Agent) ReloadRejected() {
	a.m.reloads.Inc()
	a.m.reloadFailures.Inc()
}

// Run starts every component, runs until ctx is cancelled or every source
// has finished, then stops in order: sources first, then the queues drain
// to the sinks (bounded by shutdown_timeout), then transforms and the
// buffer close.
func (a *Agent) Run(ctx context.Context) error {
	defer a.buf.Close()
	a.runMu.Lock()
	var stopSources, stopSinks context.CancelFunc
	a.srcCtx, stopSources = context.WithCancel(ctx)
	a.sinkCtx, stopSinks = context.WithCancel(context.Background())
	defer stopSources()
	defer stopSinks()
	var errs []error
	for _, t := range a.transforms {
		if err := a.startTransform(t); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		a.runMu.Unlock()
		return errors.Join(errs...)
	}
	for _, s := range a.sinks {
		a.startSink(s)
	}
	for _, s := range a.sources {
		a.startSource(s)
	}
	a.runMu.Unlock()
	close(a.started)
	a.log.Info("hogtail started", "sources", len(a.sources), "transforms", len(a.transforms), "sinks", len(a.sinks), "data_dir", a.cfg.Load().DataDir)

wait:
	for {
		select {
		case <-ctx.Done():
			a.log.Info("stopping: sources first, then draining the queues", "timeout", a.cfg.Load().ShutdownTimeout)
			break wait
		case <-a.srcDone:
			if a.liveSrc.Load() == 0 {
				a.log.Info("every source finished; draining the queues", "timeout", a.cfg.Load().ShutdownTimeout)
				// A source that failed (one that could not listen) is not
				// one that finished its work: hogtail then stops with an
				// error, so that a service manager sees the failure.
				for _, s := range a.sources {
					if e := s.failed.Load(); e != nil {
						errs = append(errs, fmt.Errorf("sources.%s: %w", s.name, *e))
					}
				}
				break wait
			}
		case req := <-a.reloadReqs:
			a.runMu.Lock()
			req.done <- a.reload(req.cfg)
			a.runMu.Unlock()
		}
	}

	a.runMu.Lock()
	defer a.runMu.Unlock()
	timeout := a.cfg.Load().ShutdownTimeout
	deadline := time.Now().Add(timeout)
	// The last quarter of shutdown_timeout is for the requests in flight
	// when the drain ends: they finish and are acknowledged, so a clean
	// stop redelivers nothing.
	drainEnd := deadline.Add(-timeout / 4)
	stopSources()
	srcStopped := make(chan struct{})
	go func() { a.srcWG.Wait(); close(srcStopped) }()
	select {
	case <-srcStopped:
	case <-time.After(time.Until(drainEnd)):
		a.log.Warn("sources did not stop in time")
	}
	a.drain(drainEnd)
	sinks := make([]*runningSink, 0, len(a.sinks))
	for _, s := range a.sinks {
		sinks = append(sinks, s)
	}
	a.finishDeliveries(deadline, sinks...)
	stopSinks()
	a.sinkWG.Wait()
	for _, s := range a.sinks {
		if lc, ok := s.sink.(component.Lifecycle); ok {
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := lc.Shutdown(shut); err != nil {
				errs = append(errs, fmt.Errorf("sinks.%s: shutdown: %w", s.name, err))
			}
			cancel()
		}
	}
	for _, t := range a.transforms {
		a.stopTransform(t)
	}
	a.log.Info("hogtail stopped")
	return errors.Join(errs...)
}

// finishDeliveries stops the sinks' reading, lets the requests in flight
// finish until deadline (then cuts them: those may be delivered again
// after a restart, as after a crash), and trims the chunks the sinks
// delivered in part, so that the next start delivers exactly what is
// left.
func (a *Agent) finishDeliveries(deadline time.Time, sinks ...*runningSink) {
	for _, s := range sinks {
		s.stopping.Store(true)
		if s.stopRead != nil {
			s.stopRead()
		}
	}
	for _, s := range sinks {
		if s.done == nil {
			continue
		}
		select {
		case <-s.done:
		case <-time.After(time.Until(deadline)):
			a.log.Warn("shutdown_timeout reached with deliveries in flight; they are cut and delivered again at the next start", "sink", s.name)
		}
		s.cancel()
		<-s.done
		if n, err := s.reader.Trim(); err != nil {
			a.log.Error("cannot trim delivered records from the queue; they are delivered again at the next start", "sink", s.name, "error", err)
		} else if n > 0 {
			a.log.Debug("trimmed delivered records from partly delivered chunks", "sink", s.name, "records", n)
		}
	}
}

// drain waits until every sink queue is empty or the deadline passes. What
// is left stays in the buffer for the next start.
func (a *Agent) drain(deadline time.Time) {
	for {
		pending := int64(0)
		for name := range a.sinks {
			if st, ok := a.buf.Stats(name); ok {
				pending += st.Records
			}
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			a.log.Warn("shutdown_timeout reached; undelivered records stay in the buffer for the next start", "records", pending)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
