package agent

import (
	"time"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	eventsIn        *prometheus.CounterVec
	eventsOut       *prometheus.CounterVec
	eventsDiscarded *prometheus.CounterVec
	eventsDelivered *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	retries         *prometheus.CounterVec
	deliveryLatency *prometheus.HistogramVec
	reloads         prometheus.Counter
	reloadFailures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, buf *buffer.Buffer) (*metrics, error) {
	c := component.NewCollectors(reg, "hogtail_")
	m := &metrics{
		reloads:         c.Counter("config_reloads_total", "Config reloads attempted."),
		reloadFailures:  c.Counter("config_reload_failures_total", "Config reloads rejected (the old config kept running)."),
		eventsIn:        c.CounterVec("component_received_events_total", "Events received by a transform.", "component"),
		eventsOut:       c.CounterVec("component_sent_events_total", "Events emitted by a source or transform.", "component"),
		eventsDiscarded: c.CounterVec("component_discarded_events_total", "Events a transform discarded (net of events it added).", "component"),
		eventsDelivered: c.CounterVec("sink_delivered_records_total", "Records a sink's receiver accepted.", "component"),
		deadLetters:     c.CounterVec("sink_dead_letters_total", "Records a sink moved to dead letters.", "component"),
		retries:         c.CounterVec("sink_retries_total", "Failed deliveries that were retried.", "component"),
		deliveryLatency: c.HistogramVec("sink_delivery_seconds", "Duration of one delivery attempt.",
			prometheus.ExponentialBuckets(0.001, 4, 10), "component"),
	}
	c.Add(&bufferCollector{buf: buf})
	return m, c.Err()
}

// start makes the series of a component exist at 0 from its start on, so
// that rate() and increase() see its first event, retry or dead letter.
func (m *metrics) start(kind, name string) {
	switch kind {
	case "source":
		m.eventsOut.WithLabelValues(name)
	case "transform":
		m.eventsIn.WithLabelValues(name)
		m.eventsOut.WithLabelValues(name)
		m.eventsDiscarded.WithLabelValues(name)
	case "sink":
		m.eventsDelivered.WithLabelValues(name)
		m.deadLetters.WithLabelValues(name)
		m.retries.WithLabelValues(name)
		m.deliveryLatency.WithLabelValues(name)
	}
}

// bufferCollector reports queue depths from the buffer at scrape time.
type bufferCollector struct {
	buf *buffer.Buffer
}

var (
	descQueueRecords = prometheus.NewDesc("hogtail_buffer_records", "Records waiting in a sink's queue.", []string{"queue"}, nil)
	descQueueBytes   = prometheus.NewDesc("hogtail_buffer_bytes", "Bytes a sink's queue holds on disk.", []string{"queue"}, nil)
	descQueueDropped = prometheus.NewDesc("hogtail_buffer_dropped_records_total", "Records refused by a full drop_newest queue.", []string{"queue"}, nil)
	descQueueAge     = prometheus.NewDesc("hogtail_buffer_oldest_age_seconds", "Age of the oldest record waiting in a sink's queue.", []string{"queue"}, nil)
	descCorrupt      = prometheus.NewDesc("hogtail_buffer_corrupt_chunks_total", "Damaged chunks moved to dead letters.", nil, nil)
	descDamagedFiles = prometheus.NewDesc("hogtail_buffer_damaged_files_total", "Damaged buffer files set aside at start (salvaged into a new file).", nil, nil)
	descSalvaged     = prometheus.NewDesc("hogtail_buffer_salvaged_records_total", "Queue records salvaged from a damaged buffer file at start.", nil, nil)
	descRestored     = prometheus.NewDesc("hogtail_buffer_restored_checkpoints_total", "Checkpoints taken from the checkpoint copy because the buffer file had lost them.", nil, nil)
)

func (c *bufferCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueueRecords
	ch <- descQueueBytes
	ch <- descQueueDropped
	ch <- descQueueAge
	ch <- descCorrupt
	ch <- descDamagedFiles
	ch <- descSalvaged
	ch <- descRestored
}

func (c *bufferCollector) Collect(ch chan<- prometheus.Metric) {
	names, _ := c.buf.Queues()
	for _, n := range names {
		st, ok := c.buf.Stats(n)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descQueueRecords, prometheus.GaugeValue, float64(st.Records), n)
		ch <- prometheus.MustNewConstMetric(descQueueBytes, prometheus.GaugeValue, float64(st.Bytes), n)
		ch <- prometheus.MustNewConstMetric(descQueueDropped, prometheus.CounterValue, float64(st.Dropped), n)
		age := 0.0
		if t, ok := c.buf.OldestTime(n); ok {
			age = time.Since(t).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descQueueAge, prometheus.GaugeValue, age, n)
	}
	ch <- prometheus.MustNewConstMetric(descCorrupt, prometheus.CounterValue, float64(c.buf.Corrupt()))
	var damaged, salvaged, restored float64
	if rec, ok := c.buf.Recovered(); ok {
		if rec.SetAside != "" {
			damaged = 1
		}
		if rec.Salvage != nil {
			for _, n := range rec.Salvage.Records {
				salvaged += float64(n)
			}
		}
		restored = float64(rec.Restored)
	}
	ch <- prometheus.MustNewConstMetric(descDamagedFiles, prometheus.CounterValue, damaged)
	ch <- prometheus.MustNewConstMetric(descSalvaged, prometheus.CounterValue, salvaged)
	ch <- prometheus.MustNewConstMetric(descRestored, prometheus.CounterValue, restored)
}
