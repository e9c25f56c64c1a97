package component

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// register registers c on reg and returns it, or returns the collector
// already registered under the same description: a component rebuilt by a
// config reload finds its collectors registered and keeps counting on them.
// Any other registration error is returned with c. A nil reg is allowed.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, err
	}
	return c, nil
}

// RegisterInto registers c on reg for a constructor that registers
// several collectors (see register): it returns the collector to use and
// joins a registration error into *errp, which the constructor returns.
// It is the one way hogtail registers collectors, and no error is dropped:
// a collector that failed to register would never be exported.
func RegisterInto[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	c, err := register(reg, c)
	*errp = errors.Join(*errp, err)
	return c
}

// Collectors makes the collectors of one constructor and registers each on
// one registerer with RegisterInto: a metrics struct is filled in a single
// literal, and Err returns every registration error joined. Every name is
// prefix+name, so a component's metrics share their prefix by
// construction.
type Collectors struct {
	reg    prometheus.Registerer
	prefix string
	err    error
}

// NewCollectors returns a Collectors registering on reg (nil is allowed: the
// collectors then count but are not exported).
func NewCollectors(reg prometheus.Registerer, prefix string) *Collectors {
	return &Collectors{reg: reg, prefix: prefix}
}

// Counter returns the registered counter prefix+name.
func (c *Collectors) Counter(name, help string) prometheus.Counter {
	return RegisterInto(c.reg, prometheus.NewCounter(prometheus.CounterOpts{Name: c.prefix + name, Help: help}), &c.err)
}

// CounterVec returns the registered counter vector prefix+name.
func (c *Collectors) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return RegisterInto(c.reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: c.prefix + name, Help: help}, labels), &c.err)
}

// Gauge returns the registered gauge prefix+name.
func (c *Collectors) Gauge(name, help string) prometheus.Gauge {
	return RegisterInto(c.reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: c.prefix + name, Help: help}), &c.err)
}

// HistogramVec returns the registered histogram vector prefix+name.
func (c *Collectors) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return RegisterInto(c.reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: c.prefix + name, Help: help, Buckets: buckets}, labels), &c.err)
}

// Add registers a collector built elsewhere (a custom Collector); its
// error, if any, joins Err.
func (c *Collectors) Add(col prometheus.Collector) {
	RegisterInto(c.reg, col, &c.err)
}

// Err returns the registration errors so far, joined; nil when every
// collector was registered (or found registered by an earlier build).
func (c *Collectors) Err() error { return c.err }
