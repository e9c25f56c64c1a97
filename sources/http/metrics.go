package httpsource

import (
	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests     *prometheus.CounterVec
	accepted     prometheus.Counter
	rejected     *prometheus.CounterVec
	uuidReplaced prometheus.Counter
	inFlight     prometheus.Gauge
	acceptErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := component.NewCollectors(reg, "hogtail_http_source_")
	m := &metrics{
		requests: c.CounterVec("requests_total",
			"HTTP requests answered, by endpoint (capture, generic, proxy, other) and status code.", "endpoint", "code"),
		accepted: c.Counter("events_accepted_total", "Events committed to the buffer."),
		rejected: c.CounterVec("events_rejected_total",
			"Events refused, by reason (invalid_event, missing_distinct_id, too_large, ..., buffer_full).", "reason"),
		uuidReplaced: c.Counter("invalid_uuid_total", "Events whose invalid client uuid was replaced by a new UUIDv7."),
		inFlight:     c.Gauge("requests_in_flight", "Requests being decoded and stored (their bodies already read)."),
		acceptErrors: c.Counter("accept_errors_total", "Failed accepts (too many open files, ...); the server retries them with backoff."),
	}
	return m, c.Err()
}
