package kafka

import (
	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sink's own collectors; the agent already counts delivered
// events, retries, dead letters and delivery latency per sink.
type metrics struct {
	records prometheus.Counter
	bytes   prometheus.Counter
	skipped prometheus.Counter
	errors  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		records: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_records_total",
			Help: "Records Kafka acknowledged.",
		})),
		bytes: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_record_bytes_total",
			Help: "Key and value bytes of the records Kafka acknowledged, before compression.",
		})),
		skipped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_retry_skipped_records_total",
			Help: "Records of a retried batch not produced again because Kafka had acknowledged them on an earlier try.",
		})),
		errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_record_errors_total",
			Help: "Records that failed to produce, by Kafka error code (or record_timeout, canceled, other).",
		}, []string{"error"})),
	}
}

// register registers c, or returns the collector already registered under
// its name (a sink rebuilt on reload finds its collectors registered).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, _ = component.Register(reg, c)
	return c
}
