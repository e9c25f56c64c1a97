// Package posthog is the "posthog" sink: it delivers events to PostHog's
// capture API, POST {host}/batch/, with the buffered event JSON spliced into
// the request as is, so every redelivery carries the same uuid, event,
// distinct_id and timestamp and PostHog can deduplicate it.
package posthog

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/sinks/internal/httpx"
)

//go:embed sample.toml
var sample string

// PostHog's limits (see the capture API): the /batch/ route refuses bodies
// over 20 MiB (after decompression) and drops events over 1 MB.
const (
	postHogMaxBody  = 20 << 20
	postHogMaxEvent = 1_000_000
	// envelopeSlack leaves room for the envelope and the commas between
	// records under the 20 MiB body limit.
	envelopeSlack = 1 << 20
)

// Config is the [sinks.NAME] table of a posthog sink.
type Config struct {
	component.DeliveryConfig
	// Host is the PostHog instance: https://us.i.posthog.com,
	// https://eu.i.posthog.com, or a self-hosted or proxied base URL.
	Host string `toml:"host"`
	// APIKey is the project API key (phc_...).
	APIKey string `toml:"api_key"`
	// Gzip compresses request bodies.
	Gzip bool `toml:"gzip"`
	// GzipLevel is the gzip level, 1 (fastest) to 9 (smallest).
	GzipLevel int `toml:"gzip_level"`
	// HistoricalMigration marks batches as back-fill (routed to PostHog's
	// historical pipeline).
	HistoricalMigration bool `toml:"historical_migration"`
	// Timeout bounds one request, from connecting to reading the answer.
	Timeout component.Duration `toml:"timeout"`
	// MaxEventBytes is the largest event sent; larger ones go to dead
	// letters instead of being dropped by PostHog.
	MaxEventBytes component.ByteSize `toml:"max_event_bytes"`
}

func defaultConfig() *Config {
	d := component.DefaultDelivery()
	d.BatchMaxEvents = 1000
	d.BatchMaxBytes = 5 << 20
	d.BatchTimeout = component.Duration(time.Second)
	d.Concurrency = 2
	return &Config{
		DeliveryConfig: d,
		Host:           "https://us.i.posthog.com",
		Gzip:           true,
		GzipLevel:      1,
		Timeout:        component.Duration(30 * time.Second),
		MaxEventBytes:  postHogMaxEvent,
	}
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	// The delivery options (batch_*, concurrency, buffer.*, retry.*) are
	// validated once for every sink by the config loader.
	var errs []error
	if c.BatchMaxBytes > postHogMaxBody-envelopeSlack {
		errs = append(errs, fmt.Errorf("batch_max_bytes: must be at most %d (PostHog refuses bodies over 20 MiB)", postHogMaxBody-envelopeSlack))
	}
	if u, err := url.Parse(c.Host); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("host: must be an http(s) URL such as https://us.i.posthog.com, got %q", c.Host))
	} else if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("host: must not have a query or fragment, got %q", c.Host))
	}
	switch {
	case strings.TrimSpace(c.APIKey) == "":
		errs = append(errs, errors.New("api_key: must be set to the project API key (phc_...), e.g. api_key = \"${POSTHOG_API_KEY}\""))
	case strings.HasPrefix(c.APIKey, "phx_"):
		errs = append(errs, errors.New("api_key: is a personal API key (phx_...); capture needs the project API key (phc_...)"))
	}
	errs = append(errs, httpx.CheckGzipLevel(c.GzipLevel))
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	if c.MaxEventBytes < 1 {
		errs = append(errs, errors.New("max_event_bytes: must be at least 1"))
	} else if c.MaxEventBytes > postHogMaxEvent {
		errs = append(errs, fmt.Errorf("max_event_bytes: must be at most %d (PostHog drops larger events)", postHogMaxEvent))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the posthog sink.
func NewFactory() component.SinkFactory {
	return component.NewSinkFactory("posthog", component.KindEvents, sample, defaultConfig, New)
}

// Sink posts batches of events to PostHog.
type Sink struct {
	httpx.Endpoint
	url    string
	prefix []byte // {"api_key":...,"sent_at":" (with historical_migration when configured)
	// histPrefix opens the body of the events marked historical one by one.
	histPrefix []byte
	// allHistorical: historical_migration = true, every batch is.
	allHistorical bool
	maxEvent      int
	gzip          bool
	gz            *httpx.GzipPool // nil without gzip
	header        http.Header
	bufs          httpx.BufferPool
	// now is the clock for sent_at (tests freeze it).
	now func() time.Time
}

// New returns a sink for a validated config.
func New(c *Config, set component.Settings) (*Sink, error) {
	prefix := []byte(`{"api_key":`)
	prefix = event.AppendString(prefix, c.APIKey)
	histPrefix := append(append([]byte(nil), prefix...), `,"historical_migration":true,"sent_at":"`...)
	if c.HistoricalMigration {
		prefix = append(prefix, `,"historical_migration":true`...)
	}
	prefix = append(prefix, `,"sent_at":"`...)
	e, err := httpx.NewEndpoint("posthog", c.Timeout.D(), c.Concurrency, set)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", "hogtail")
	var gz *httpx.GzipPool
	if c.Gzip {
		header.Set("Content-Encoding", "gzip")
		gz = httpx.NewGzipPool(c.GzipLevel)
	}
	return &Sink{
		Endpoint:      e,
		header:        header,
		gz:            gz,
		url:           strings.TrimRight(c.Host, "/") + "/batch/",
		prefix:        prefix,
		histPrefix:    histPrefix,
		allHistorical: c.HistoricalMigration,
		maxEvent:      int(c.MaxEventBytes),
		gzip:          c.Gzip,
		now:           time.Now,
	}, nil
}

// Deliver implements component.Sink. A batch holding an event over
// max_event_bytes is refused as a whole with a permanent error before
// anything is sent: the agent then splits the batch, delivers the halves
// without it, and dead-letters exactly the oversize events.
func (s *Sink) Deliver(ctx context.Context, b component.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	for _, r := range b.Records {
		if len(r) > s.maxEvent {
			err := fmt.Errorf("event %s is %d bytes, over max_event_bytes %d (PostHog drops events over 1 MB)", recordUUID(r), len(r), s.maxEvent)
			if len(b.Records) == 1 {
				s.Log.Error("event too large for PostHog; it goes to dead letters", "uuid", recordUUID(r), "bytes", len(r), "max_event_bytes", s.maxEvent)
			}
			return component.Permanent(err)
		}
	}
	realtime, historical := b.Records, [][]byte(nil)
	if !s.allHistorical {
		realtime, historical = splitHistorical(b.Records)
	}
	// Realtime events first: they are the ones someone is watching.
	if len(realtime) > 0 {
		if err := s.post(ctx, s.prefix, realtime); err != nil {
			return err
		}
	}
	if len(historical) > 0 {
		if err := s.post(ctx, s.histPrefix, historical); err != nil {
			if len(realtime) > 0 {
				// The whole batch is retried: PostHog deduplicates the
				// realtime events sent again by their uuid.
				return fmt.Errorf("posthog: historical part of a mixed batch: %w", err)
			}
			return err
		}
	}
	return nil
}

// historicalKey marks an event of a historical migration: the http source
// keeps a capture batch's "historical_migration": true on each of its
// events, at top level, and other sources and transforms may set it too.
var historicalKey = []byte(`"historical_migration":true`)

// splitHistorical separates the records marked historical from the others,
// keeping the order within each. The marker is looked up as text first; a
// record that holds it (maybe nested in properties) is decoded to see
// whether the key is its own.
func splitHistorical(recs [][]byte) (realtime, historical [][]byte) {
	n := 0
	for _, r := range recs {
		if isHistorical(r) {
			n++
		}
	}
	if n == 0 {
		return recs, nil
	}
	realtime = make([][]byte, 0, len(recs)-n)
	historical = make([][]byte, 0, n)
	for _, r := range recs {
		if isHistorical(r) {
			historical = append(historical, r)
		} else {
			realtime = append(realtime, r)
		}
	}
	return realtime, historical
}

func isHistorical(rec []byte) bool {
	if !bytes.Contains(rec, historicalKey) {
		return false
	}
	v, err := event.ParseValue(rec)
	if err != nil {
		return false
	}
	m, _ := v.(event.Map)
	h, _ := m.Get("historical_migration")
	return h == true
}

// post sends one /batch/ request of recs under the envelope opened by prefix.
func (s *Sink) post(ctx context.Context, prefix []byte, recs [][]byte) error {
	buf := s.bufs.Get()
	if err := s.encode(buf, prefix, recs); err != nil {
		return fmt.Errorf("posthog: encode batch: %w", err)
	}
	if !s.gzip && buf.Len() > postHogMaxBody {
		return component.TooLarge(fmt.Errorf("posthog: body of %d bytes is over PostHog's 20 MiB limit", buf.Len()))
	}
	return s.SendBatch(ctx, "posthog", len(recs), http.MethodPost, s.url, s.header, buf, &s.bufs)
}

// encode writes the /batch/ body: the envelope with a fresh sent_at around
// the records, copied verbatim.
func (s *Sink) encode(buf *bytes.Buffer, prefix []byte, recs [][]byte) error {
	var sentAt [32]byte
	ts := s.now().UTC().AppendFormat(sentAt[:0], event.TimeFormat)
	size := len(prefix) + len(ts) + 16 + len(recs) + component.Batch{Records: recs}.Bytes()
	return httpx.WriteBody(buf, s.gz, size, func(w io.Writer) { writeBody(w, prefix, ts, recs) })
}

var (
	batchOpen  = []byte(`","batch":[`)
	comma      = []byte{','}
	batchClose = []byte("]}")
)

// writeBody writes the envelope and the records through w. Errors are
// sticky in both writers used here (bytes.Buffer never fails; gzip.Writer
// reports them on Close).
func writeBody(w io.Writer, prefix, sentAt []byte, recs [][]byte) {
	w.Write(prefix)
	w.Write(sentAt)
	w.Write(batchOpen)
	for i, r := range recs {
		if i > 0 {
			w.Write(comma)
		}
		w.Write(r)
	}
	w.Write(batchClose)
}

// recordUUID returns the uuid of an encoded event for log lines, without
// decoding it: hogtail writes "uuid" first.
func recordUUID(r []byte) string {
	const key = `{"uuid":"`
	if !bytes.HasPrefix(r, []byte(key)) {
		return "(unknown uuid)"
	}
	rest := r[len(key):]
	if i := bytes.IndexByte(rest, '"'); i > 0 && i <= 64 {
		return string(rest[:i])
	}
	return "(unknown uuid)"
}
