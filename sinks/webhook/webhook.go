// Package webhook is the "webhook" sink: it delivers the requests that
// connectors' composeWebhook produced, each to its own url with its own
// method, headers and body.
package webhook

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/sinks/internal/httpx"
)

//go:embed sample.toml
var sample string

// Config is the [sinks.NAME] table of a webhook sink. The agent also
// creates one with these defaults, named "TRANSFORM.webhooks", for every
// connectors transform that no webhook sink reads.
type Config struct {
	component.DeliveryConfig
	// Timeout bounds one request, from connecting to reading the answer.
	Timeout component.Duration `toml:"timeout"`
}

func defaultConfig() *Config {
	d := component.DefaultDelivery()
	// Webhooks go out as soon as they are composed, a few batches at a
	// time; the requests of one batch are sent one after another.
	d.BatchMaxEvents = 20
	d.BatchMaxBytes = 1 << 20
	d.BatchTimeout = 0
	d.Concurrency = 4
	// One receiver that stays down must not hold a connector's queue
	// forever: after an hour its requests go to dead letters (replayable).
	d.Retry.MaxElapsed = component.Duration(time.Hour)
	return &Config{DeliveryConfig: d, Timeout: component.Duration(10 * time.Second)}
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	var errs []error
	if err := c.DeliveryConfig.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the webhook sink.
func NewFactory() component.SinkFactory {
	return component.NewSinkFactory("webhook", component.KindWebhooks, sample, defaultConfig,
		func(c *Config, set component.Settings) (component.Sink, error) {
			return New(c, set), nil
		})
}

// maxRemembered bounds the memory of delivered requests of unfinished
// batches (see Sink.delivered).
const maxRemembered = 100_000

// Sink sends webhook requests.
type Sink struct {
	client  *http.Client
	log     *slog.Logger
	metrics *httpx.Metrics

	mu sync.Mutex
	// delivered remembers the requests of a batch that the receiver already
	// accepted, until the whole batch succeeds: when the agent retries or
	// splits a batch that failed at request k, requests 0..k-1 are not sent
	// again. The key is the record's first byte: the agent retries with the
	// same record slices, and holding the pointer keeps the memory from being
	// reused by another record. After a restart the batch is read anew from
	// the buffer, so requests may be sent again (at least once).
	delivered map[*byte]struct{}
}

// New returns a sink for a validated config.
func New(c *Config, set component.Settings) *Sink {
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{
		client:    httpx.NewClient(c.Timeout.D(), c.Concurrency),
		log:       log,
		metrics:   httpx.NewMetrics(set.Metrics),
		delivered: map[*byte]struct{}{},
	}
}

// Deliver implements component.Sink: the requests of the batch are sent in
// order, one at a time; the first failure ends the call with that request's
// classified error.
func (s *Sink) Deliver(ctx context.Context, b component.Batch) error {
	for i, rec := range b.Records {
		if len(rec) == 0 {
			return component.Permanent(fmt.Errorf("webhook: request %d of %d is empty", i+1, len(b.Records)))
		}
		if s.wasDelivered(rec) {
			continue
		}
		if err := s.send(ctx, rec); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("webhook: request %d of %d: %w", i+1, len(b.Records), err)
		}
		s.remember(rec)
	}
	s.forget(b.Records)
	return nil
}

func (s *Sink) wasDelivered(rec []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.delivered[&rec[0]]
	return ok
}

func (s *Sink) remember(rec []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.delivered) >= maxRemembered {
		// Only batches the agent gave up on leave entries behind; starting
		// over costs at most some repeated requests.
		s.log.Warn("webhook: forgetting delivered requests of unfinished batches; some may be sent again", "entries", len(s.delivered))
		clear(s.delivered)
	}
	s.delivered[&rec[0]] = struct{}{}
}

func (s *Sink) forget(recs [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		delete(s.delivered, &rec[0])
	}
}

// send delivers one request; the body is sent verbatim.
func (s *Sink) send(ctx context.Context, rec []byte) error {
	var w component.Webhook
	if err := json.Unmarshal(rec, &w); err != nil {
		return component.Permanent(fmt.Errorf("undecodable webhook record: %w", err))
	}
	method := strings.ToUpper(strings.TrimSpace(w.Method))
	if method == "" {
		method = http.MethodPost
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return component.Permanent(fmt.Errorf("connector %s: invalid url %q", w.Connector, w.URL))
	}
	body := httpx.NewBody([]byte(w.Body))
	req, err := body.Request(method, w.URL)
	if err != nil {
		return component.Permanent(fmt.Errorf("connector %s: %w", w.Connector, err))
	}
	if w.Body == "" {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "hogtail")
	}
	s.metrics.AddBytes(len(w.Body))
	if err := httpx.Do(ctx, s.client, req, s.metrics); err != nil {
		return fmt.Errorf("connector %s: %w", w.Connector, err)
	}
	return nil
}

// Start implements component.Lifecycle.
func (s *Sink) Start(context.Context) error { return nil }

// Shutdown implements component.Lifecycle.
func (s *Sink) Shutdown(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}
