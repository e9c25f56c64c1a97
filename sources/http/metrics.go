package httpsource

import (
	"errors"

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
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hogtail_http_source_requests_total",
			Help: "HTTP requests answered, by endpoint (capture, generic, proxy, other) and status code.",
		}, []string{"endpoint", "code"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_http_source_events_accepted_total",
			Help: "Events committed to the buffer.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hogtail_http_source_events_rejected_total",
			Help: "Events refused, by reason (invalid_event, missing_distinct_id, too_large, ..., buffer_full).",
		}, []string{"reason"}),
		uuidReplaced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_http_source_invalid_uuid_total",
			Help: "Events whose invalid client uuid was replaced by a new UUIDv7.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hogtail_http_source_requests_in_flight",
			Help: "Requests being decoded and stored (their bodies already read).",
		}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_http_source_accept_errors_total",
			Help: "Failed accepts (too many open files, ...); the server retries them with backoff.",
		}),
	}
	var err error
	m.requests = register(reg, m.requests, &err)
	m.accepted = register(reg, m.accepted, &err)
	m.rejected = register(reg, m.rejected, &err)
	m.uuidReplaced = register(reg, m.uuidReplaced, &err)
	m.inFlight = register(reg, m.inFlight, &err)
	m.acceptErrors = register(reg, m.acceptErrors, &err)
	return m, err
}

// register adds c to reg (reusing the collector of the instance a reload
// replaced) and collects registration errors into *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	c, err := component.Register(reg, c)
	*errp = errors.Join(*errp, err)
	return c
}
