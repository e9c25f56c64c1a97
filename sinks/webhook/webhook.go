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
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/netguard"
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
	// The delivery options (batch_*, concurrency, buffer.*, retry.*) are
	// validated once for every sink by the config loader.
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the webhook sink.
func NewFactory() component.SinkFactory {
	return component.NewSinkFactory("webhook", component.KindWebhooks, sample, defaultConfig, New)
}

// Sink sends webhook requests.
type Sink struct {
	httpx.Endpoint
}

// New returns a sink for a validated config.
func New(c *Config, set component.Settings) (*Sink, error) {
	e, err := httpx.NewEndpoint("webhook", c.Timeout.D(), c.Concurrency, set)
	if err != nil {
		return nil, err
	}
	s := &Sink{Endpoint: e}
	// The url is chosen by a connector's code, which must not reach the
	// agent's API (dead-letter replay and purge, /tap), as its fetch
	// cannot either.
	api := netguard.NewAPI(set.APIAddress)
	s.Guard(func(address string) error {
		if ap, err := netip.ParseAddrPort(address); err == nil && api.Reaches(ap.Addr(), ap.Port()) {
			return fmt.Errorf("%w: %s is the agent's own API", errRefused, ap)
		}
		return nil
	})
	return s, nil
}

// errRefused marks a request refused before it was sent: it is never
// retried.
var errRefused = errors.New("webhook refused")

// Deliver implements component.Sink: the requests of the batch are sent in
// order, one at a time; the first failure ends the call with that request's
// classified error and the number of requests accepted before it
// (component.Partial), so the agent's retry or split never sends an accepted
// request again. After a crash, requests of an unfinished batch may be sent
// again (at least once).
func (s *Sink) Deliver(ctx context.Context, b component.Batch) error {
	for i, rec := range b.Records {
		var err error
		if len(rec) == 0 {
			err = component.Permanent(fmt.Errorf("request %d of %d is empty", i+1, len(b.Records)))
		} else {
			err = s.send(ctx, rec)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return component.Partial(i, fmt.Errorf("webhook: request %d of %d: %w", i+1, len(b.Records), err))
		}
	}
	return nil
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
	if err := s.Send(ctx, req, len(w.Body)); err != nil {
		if errors.Is(err, errRefused) {
			return component.Permanent(fmt.Errorf("connector %s: %w", w.Connector, err))
		}
		return fmt.Errorf("connector %s: %w", w.Connector, err)
	}
	return nil
}
