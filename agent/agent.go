// Package agent wires hogtail's components together: it builds sources,
// transforms and sinks from a config, routes each source's events through
// its transforms into the sinks' queues in the disk buffer, delivers the
// queues, and stops everything in order.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// BufferFile is the name of the bbolt file inside data_dir.
const BufferFile = "buffer.db"

// Agent is a running pipeline built from one config.
type Agent struct {
	cfg     *config.Config
	log     *slog.Logger
	buf     *buffer.Buffer
	metrics *prometheus.Registry
	m       *metrics

	sources    map[string]*runningSource
	transforms map[string]*runningTransform
	sinks      map[string]*runningSink
	// consumers of each source or transform, by kind.
	eventSinks   map[string][]*runningSink
	webhookSinks map[string][]*runningSink
	nextT        map[string][]*runningTransform

	health *health
}

type runningSource struct {
	name string
	src  component.Source
}

type runningTransform struct {
	name string
	tr   component.Transform
}

type runningSink struct {
	name     string
	spec     *config.Sink
	sink     component.Sink
	delivery component.DeliveryConfig
	reader   *buffer.Reader
}

// Options tune an Agent beyond its config.
type Options struct {
	// Logger is the agent's logger; components get children of it.
	Logger *slog.Logger
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
	buf, err := buffer.Open(filepath.Join(cfg.DataDir, BufferFile), buffer.Options{Sync: cfg.Buffer.Sync, Logger: log})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &Agent{
		cfg:          cfg,
		log:          log,
		buf:          buf,
		metrics:      reg,
		m:            newMetrics(reg, buf),
		sources:      map[string]*runningSource{},
		transforms:   map[string]*runningTransform{},
		sinks:        map[string]*runningSink{},
		eventSinks:   map[string][]*runningSink{},
		webhookSinks: map[string][]*runningSink{},
		nextT:        map[string][]*runningTransform{},
		health:       newHealth(),
	}
	if err := a.build(); err != nil {
		buf.Close()
		return nil, err
	}
	return a, nil
}

// Buffer returns the agent's disk buffer.
func (a *Agent) Buffer() *buffer.Buffer { return a.buf }

// Metrics returns the agent's Prometheus registry.
func (a *Agent) Metrics() *prometheus.Registry { return a.metrics }

func (a *Agent) settings(kind, name string) component.Settings {
	host, _ := os.Hostname()
	return component.Settings{
		Name:      name,
		Logger:    a.log.With(kind, name),
		DataDir:   a.cfg.DataDir,
		ConfigDir: a.cfg.Dir,
		Hostname:  host,
		Metrics:   prometheus.WrapRegistererWith(prometheus.Labels{"component": name}, a.metrics),
	}
}

func (a *Agent) build() error {
	var errs []error
	for name, s := range a.cfg.Sources {
		set := a.settings("source", name)
		set.Checkpoints = a.buf.Checkpoints(name)
		src, err := s.Factory.CreateSource(s.Config, set)
		if err != nil {
			errs = append(errs, fmt.Errorf("sources.%s: %w", name, err))
			continue
		}
		a.sources[name] = &runningSource{name: name, src: src}
	}
	for name, t := range a.cfg.Transforms {
		set := a.settings("transform", name)
		set.Store = a.buf.KV("transforms/" + name)
		tr, err := t.Factory.CreateTransform(t.Config, set)
		if err != nil {
			errs = append(errs, fmt.Errorf("transforms.%s: %w", name, err))
			continue
		}
		a.transforms[name] = &runningTransform{name: name, tr: tr}
	}
	for name, s := range a.allSinks() {
		sink, err := s.Factory.CreateSink(s.Config, a.settings("sink", name))
		if err != nil {
			errs = append(errs, fmt.Errorf("sinks.%s: %w", name, err))
			continue
		}
		d := *s.Delivery
		if err := a.buf.Queue(name, buffer.QueueConfig{MaxSize: int64(d.Buffer.MaxSize), WhenFull: d.Buffer.WhenFull}); err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := a.buf.Reader(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs := &runningSink{name: name, spec: s, sink: sink, delivery: d, reader: r}
		a.sinks[name] = rs
		for _, in := range s.Inputs {
			if s.Factory.Kind() == component.KindWebhooks {
				a.webhookSinks[in] = append(a.webhookSinks[in], rs)
			} else {
				a.eventSinks[in] = append(a.eventSinks[in], rs)
			}
		}
	}
	for name, t := range a.cfg.Transforms {
		for _, in := range t.Inputs {
			if rt := a.transforms[name]; rt != nil {
				a.nextT[in] = append(a.nextT[in], rt)
			}
		}
	}
	if queues, err := a.buf.Queues(); err == nil {
		for _, q := range queues {
			if _, ok := a.sinks[q]; !ok {
				a.log.Warn("buffer holds a queue of a sink that is no longer configured; it is kept until purged", "queue", q)
			}
		}
	}
	return errors.Join(errs...)
}

// allSinks returns the configured sinks plus an implicit webhook sink for
// every connectors transform that no webhook sink reads, so that
// composeWebhook works out of the box, as in PostHog.
func (a *Agent) allSinks() map[string]*config.Sink {
	out := map[string]*config.Sink{}
	covered := map[string]bool{}
	for name, s := range a.cfg.Sinks {
		out[name] = s
		if s.Factory.Kind() == component.KindWebhooks {
			for _, in := range s.Inputs {
				covered[in] = true
			}
		}
	}
	return addImplicitWebhookSinks(a.cfg, out, covered)
}

// Run starts every component, runs until ctx is cancelled or every source
// has finished, then stops in order: sources first, then the queues drain
// to the sinks (bounded by shutdown_timeout), then transforms and the
// buffer close.
func (a *Agent) Run(ctx context.Context) error {
	defer a.buf.Close()
	for name, t := range a.transforms {
		if lc, ok := t.tr.(component.Lifecycle); ok {
			if err := lc.Start(ctx); err != nil {
				return fmt.Errorf("transforms.%s: start: %w", name, err)
			}
		}
	}
	for name, s := range a.sinks {
		if lc, ok := s.sink.(component.Lifecycle); ok {
			if err := lc.Start(ctx); err != nil {
				return fmt.Errorf("sinks.%s: start: %w", name, err)
			}
		}
	}

	sinkCtx, stopSinks := context.WithCancel(context.Background())
	defer stopSinks()
	var sinkWG sync.WaitGroup
	for _, s := range a.sinks {
		sinkWG.Add(1)
		go func() {
			defer sinkWG.Done()
			a.runSink(sinkCtx, s)
		}()
	}

	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	var srcWG sync.WaitGroup
	for name, s := range a.sources {
		srcWG.Add(1)
		go func() {
			defer srcWG.Done()
			a.health.set("sources."+name, nil)
			err := s.src.Run(srcCtx, a.emitter(name))
			if err != nil && srcCtx.Err() == nil {
				a.log.Error("source stopped", "source", name, "error", err)
				a.health.set("sources."+name, err)
				return
			}
			a.log.Debug("source finished", "source", name)
		}()
	}
	sourcesDone := make(chan struct{})
	go func() { srcWG.Wait(); close(sourcesDone) }()
	a.log.Info("hogtail started", "sources", len(a.sources), "transforms", len(a.transforms), "sinks", len(a.sinks), "data_dir", a.cfg.DataDir)

	select {
	case <-ctx.Done():
		a.log.Info("stopping: sources first, then draining the queues", "timeout", a.cfg.ShutdownTimeout)
	case <-sourcesDone:
		a.log.Info("every source finished; draining the queues", "timeout", a.cfg.ShutdownTimeout)
	}
	deadline := time.Now().Add(a.cfg.ShutdownTimeout)
	stopSources()
	select {
	case <-sourcesDone:
	case <-time.After(time.Until(deadline)):
		a.log.Warn("sources did not stop in time")
	}
	a.drain(deadline)
	stopSinks()
	sinkWG.Wait()

	shutCtx, cancel := context.WithDeadline(context.Background(), deadline.Add(5*time.Second))
	defer cancel()
	var errs []error
	for name, t := range a.transforms {
		if lc, ok := t.tr.(component.Lifecycle); ok {
			if err := lc.Shutdown(shutCtx); err != nil {
				errs = append(errs, fmt.Errorf("transforms.%s: shutdown: %w", name, err))
			}
		}
	}
	for name, s := range a.sinks {
		if lc, ok := s.sink.(component.Lifecycle); ok {
			if err := lc.Shutdown(shutCtx); err != nil {
				errs = append(errs, fmt.Errorf("sinks.%s: shutdown: %w", name, err))
			}
		}
	}
	a.log.Info("hogtail stopped")
	return errors.Join(errs...)
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
