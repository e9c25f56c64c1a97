package syslogsource

import (
	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	received      prometheus.Counter
	parseErrors   prometheus.Counter
	truncated     prometheus.Counter
	udpDropped    *prometheus.CounterVec
	queueDropped  prometheus.Counter // udpDropped{reason="queue"}
	kernelDropped prometheus.Counter // udpDropped{reason="kernel"}
	acceptErrors  prometheus.Counter
	cutFrames     prometheus.Counter
	lost          prometheus.Counter
	connections   prometheus.Gauge
	refused       prometheus.Counter
	framingError  prometheus.Counter
	budgetWaits   prometheus.Counter
	inflight      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := component.NewCollectors(reg, "hogtail_syslog_source_")
	m := &metrics{
		received:    c.Counter("messages_total", "Messages committed to the buffer."),
		parseErrors: c.Counter("parse_errors_total", "Messages that did not parse, kept as raw text with $parse_error."),
		truncated:   c.Counter("truncated_total", "Messages cut at max_message_bytes."),
		udpDropped: c.CounterVec("udp_dropped_total",
			"Datagrams dropped: reason=queue when the source's queue was full (backpressure from the buffer), reason=kernel when the socket's receive queue was full (read too slowly; counted by the kernel, SO_RXQ_OVFL).",
			"reason"),
		acceptErrors: c.Counter("accept_errors_total", "Failed accepts (tcp/tls) or reads (udp/unix) that were retried after a pause, such as too many open files."),
		cutFrames:    c.Counter("cut_frames_total", "Octet-counted frames cut off by the end of their connection; the part received is kept, flagged $truncated and $parse_error."),
		lost:         c.Counter("emit_failed_total", "Messages read but not stored because the buffer refused them (full at shutdown, closed)."),
		refused:      c.Counter("connections_refused_total", "Connections closed at once because max_connections was reached."),
		framingError: c.Counter("framing_errors_total", "Connections closed on an invalid octet-counting frame."),
		connections:  c.Gauge("connections", "Open tcp/tls connections."),
		budgetWaits:  c.Counter("inflight_waits_total", "Times a tcp/tls connection stopped being read because max_inflight_bytes was used up by messages not yet stored."),
		inflight:     c.Gauge("inflight_bytes", "Bytes of max_inflight_bytes in use: messages read (tcp/tls) or queued (udp/unix) and not stored yet, and credit tcp/tls connections took ahead of reading."),
	}
	m.queueDropped = m.udpDropped.WithLabelValues("queue")
	m.kernelDropped = m.udpDropped.WithLabelValues("kernel")
	return m, c.Err()
}
