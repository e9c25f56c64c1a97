package journald

import (
	"errors"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	entries     prometheus.Counter
	excluded    prometheus.Counter
	parseErrors prometheus.Counter
	restarts    prometheus.Counter
	gaps        prometheus.Counter
	running     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "hogtail_journald_source_" + name, Help: help})
	}
	m := &metrics{
		entries:     c("entries_total", "Journal entries committed to the buffer."),
		excluded:    c("excluded_total", "Entries skipped by exclude_units or exclude_matches."),
		parseErrors: c("parse_errors_total", "journalctl output lines that were not a JSON object, kept as text with $parse_error."),
		restarts:    c("journalctl_restarts_total", "Times journalctl exited or was stopped and was started again."),
		gaps:        c("cursor_gaps_total", "Resumes whose stored cursor no longer existed (entries vacuumed before they were read)."),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hogtail_journald_source_journalctl_running", Help: "1 while journalctl runs."}),
	}
	var errs []error
	reg1 := func(col prometheus.Collector) prometheus.Collector {
		got, err := component.Register(reg, col)
		errs = append(errs, err)
		return got
	}
	m.entries = reg1(m.entries).(prometheus.Counter)
	m.excluded = reg1(m.excluded).(prometheus.Counter)
	m.parseErrors = reg1(m.parseErrors).(prometheus.Counter)
	m.restarts = reg1(m.restarts).(prometheus.Counter)
	m.gaps = reg1(m.gaps).(prometheus.Counter)
	m.running = reg1(m.running).(prometheus.Gauge)
	return m, errors.Join(errs...)
}
