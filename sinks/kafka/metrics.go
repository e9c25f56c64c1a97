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
	c := component.NewCollectors(reg, "hogtail_sink_kafka_")
	m := &metrics{
		records: c.Counter("records_total", "Records Kafka acknowledged."),
		bytes:   c.Counter("record_bytes_total", "Key and value bytes of the records Kafka acknowledged, before compression."),
		skipped: c.Counter("retry_skipped_records_total",
			"Records of a retried batch not produced again because Kafka had acknowledged them on an earlier try."),
		errors: c.CounterVec("record_errors_total",
			"Records that failed to produce, by Kafka error code (or record_timeout, canceled, other).", "error"),
	}
	// The errors that are not Kafka codes start at 0, so that increase()
	// alerts on them work from the first one.
	for _, e := range []string{"record_timeout", "canceled", "other"} {
		m.errors.WithLabelValues(e)
	}
	return m, c.Err()
}
