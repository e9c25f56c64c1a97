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

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var err error
	m := &metrics{
		records: component.RegisterInto(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_records_total",
			Help: "Records Kafka acknowledged.",
		}), &err),
		bytes: component.RegisterInto(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_record_bytes_total",
			Help: "Key and value bytes of the records Kafka acknowledged, before compression.",
		}), &err),
		skipped: component.RegisterInto(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_retry_skipped_records_total",
			Help: "Records of a retried batch not produced again because Kafka had acknowledged them on an earlier try.",
		}), &err),
		errors: component.RegisterInto(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hogtail_sink_kafka_record_errors_total",
			Help: "Records that failed to produce, by Kafka error code (or record_timeout, canceled, other).",
		}, []string{"error"}), &err),
	}
	// The errors that are not Kafka codes start at 0, so that increase()
	// alerts on them work from the first one.
	for _, e := range []string{"record_timeout", "canceled", "other"} {
		m.errors.WithLabelValues(e)
	}
	return m, err
}
