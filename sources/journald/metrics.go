package journald

import (
	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	entries  prometheus.Counter
	excluded prometheus.Counter
	restarts prometheus.Counter
	gaps     prometheus.Counter
	running  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "hogtail_journald_source_" + name, Help: help})
	}
	m := &metrics{
		entries:  c("entries_total", "Journal entries committed to the buffer."),
		excluded: c("excluded_total", "Entries skipped by exclude_units or exclude_matches."),
		restarts: c("journalctl_restarts_total", "Times journalctl exited or was stopped and was started again."),
		gaps:     c("cursor_gaps_total", "Resumes whose stored cursor no longer existed (entries vacuumed before they were read)."),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hogtail_journald_source_journalctl_running", Help: "1 while journalctl runs."}),
	}
	var err error
	m.entries = component.RegisterInto(reg, m.entries, &err)
	m.excluded = component.RegisterInto(reg, m.excluded, &err)
	m.restarts = component.RegisterInto(reg, m.restarts, &err)
	m.gaps = component.RegisterInto(reg, m.gaps, &err)
	m.running = component.RegisterInto(reg, m.running, &err)
	return m, err
}
