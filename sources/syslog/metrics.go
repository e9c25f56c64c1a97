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
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "hogtail_syslog_source_" + name, Help: help})
	}
	m := &metrics{
		received:    c("messages_total", "Messages committed to the buffer."),
		parseErrors: c("parse_errors_total", "Messages that did not parse, kept as raw text with $parse_error."),
		truncated:   c("truncated_total", "Messages cut at max_message_bytes."),
		udpDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hogtail_syslog_source_udp_dropped_total",
			Help: "Datagrams dropped: reason=queue when the source's queue was full (backpressure from the buffer), reason=kernel when the socket's receive queue was full (read too slowly; counted by the kernel, SO_RXQ_OVFL)."},
			[]string{"reason"}),
		acceptErrors: c("accept_errors_total", "Failed accepts (tcp/tls) or reads (udp/unix) that were retried after a pause, such as too many open files."),
		cutFrames:    c("cut_frames_total", "Octet-counted frames cut off by the end of their connection; the part received is kept, flagged $truncated and $parse_error."),
		lost:         c("emit_failed_total", "Messages read but not stored because the buffer refused them (full at shutdown, closed)."),
		refused:      c("connections_refused_total", "Connections closed at once because max_connections was reached."),
		framingError: c("framing_errors_total", "Connections closed on an invalid octet-counting frame."),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hogtail_syslog_source_connections", Help: "Open tcp/tls connections."}),
	}
	var err error
	m.received = component.RegisterInto(reg, m.received, &err)
	m.parseErrors = component.RegisterInto(reg, m.parseErrors, &err)
	m.truncated = component.RegisterInto(reg, m.truncated, &err)
	m.udpDropped = component.RegisterInto(reg, m.udpDropped, &err)
	m.lost = component.RegisterInto(reg, m.lost, &err)
	m.refused = component.RegisterInto(reg, m.refused, &err)
	m.framingError = component.RegisterInto(reg, m.framingError, &err)
	m.acceptErrors = component.RegisterInto(reg, m.acceptErrors, &err)
	m.cutFrames = component.RegisterInto(reg, m.cutFrames, &err)
	m.queueDropped = m.udpDropped.WithLabelValues("queue")
	m.kernelDropped = m.udpDropped.WithLabelValues("kernel")
	m.connections = component.RegisterInto(reg, m.connections, &err)
	return m, err
}
