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
	c := component.NewCollectors(reg, "hogtail_journald_source_")
	m := &metrics{
		entries:  c.Counter("entries_total", "Journal entries committed to the buffer."),
		excluded: c.Counter("excluded_total", "Entries skipped by exclude_units or exclude_matches."),
		restarts: c.Counter("journalctl_restarts_total", "Times journalctl exited or was stopped and was started again."),
		gaps:     c.Counter("cursor_gaps_total", "Resumes whose stored cursor no longer existed (entries vacuumed before they were read)."),
		running:  c.Gauge("journalctl_running", "1 while journalctl runs."),
	}
	return m, c.Err()
}
