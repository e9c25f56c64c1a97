// Package http is the "http" sink: a generic batched POST of events, as a
// JSON array or as NDJSON, for Loki/Elasticsearch-like receivers, other
// agents and benchmarks.
package http

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
	"github.com/hogtail/hogtail/sinks/internal/httpx"
)

//go:embed sample.toml
var sample string

// Encodings.
const (
	EncodingJSONArray = "json_array"
	EncodingNDJSON    = "ndjson"
)

// Config is the [sinks.NAME] table of an http sink.
type Config struct {
	component.DeliveryConfig
	// URL receives the batches.
	URL string `toml:"url"`
	// Method is POST or PUT.
	Method string `toml:"method"`
	// Encoding is "json_array" ([ev,ev]) or "ndjson" (one event per line).
	Encoding string `toml:"encoding"`
	// Gzip compresses request bodies (Content-Encoding: gzip).
	Gzip bool `toml:"gzip"`
	// GzipLevel is 1 (fastest) to 9 (smallest).
	GzipLevel int `toml:"gzip_level"`
	// Headers are added to every request.
	Headers map[string]string `toml:"headers"`
	// Auth configures basic or bearer authentication.
	Auth AuthConfig `toml:"auth"`
	// Timeout bounds one request.
	Timeout component.Duration `toml:"timeout"`
}

// AuthConfig is the auth table.
type AuthConfig struct {
	// Strategy is "" (none), "basic" or "bearer".
	Strategy string `toml:"strategy"`
	User     string `toml:"user"`
	Password string `toml:"password"`
	Token    string `toml:"token"`
}

func defaultConfig() *Config {
	return &Config{
		DeliveryConfig: component.DefaultDelivery(),
		Method:         http.MethodPost,
		Encoding:       EncodingJSONArray,
		GzipLevel:      1,
		Headers:        map[string]string{},
		Timeout:        component.Duration(30 * time.Second),
	}
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	// The delivery options (batch_*, concurrency, buffer.*, retry.*) are
	// validated once for every sink by the config loader.
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: must be an http(s) URL, got %q", c.URL))
	}
	if c.Method != http.MethodPost && c.Method != http.MethodPut {
		errs = append(errs, fmt.Errorf("method: must be POST or PUT, got %q", c.Method))
	}
	if c.Encoding != EncodingJSONArray && c.Encoding != EncodingNDJSON {
		errs = append(errs, fmt.Errorf("encoding: must be %q or %q, got %q", EncodingJSONArray, EncodingNDJSON, c.Encoding))
	}
	errs = append(errs, httpx.CheckGzipLevel(c.GzipLevel))
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			errs = append(errs, fmt.Errorf("headers: invalid header name %q", k))
		}
	}
	switch c.Auth.Strategy {
	case "":
		if c.Auth.User != "" || c.Auth.Password != "" || c.Auth.Token != "" {
			errs = append(errs, errors.New("auth.strategy: must be \"basic\" or \"bearer\" when credentials are set"))
		}
	case "basic":
		if c.Auth.User == "" {
			errs = append(errs, errors.New("auth.user: must be set for basic auth"))
		}
		if c.Auth.Token != "" {
			errs = append(errs, errors.New("auth.token: is for bearer auth, not basic"))
		}
	case "bearer":
		if c.Auth.Token == "" {
			errs = append(errs, errors.New("auth.token: must be set for bearer auth"))
		}
		if c.Auth.User != "" || c.Auth.Password != "" {
			errs = append(errs, errors.New("auth.user: is for basic auth, not bearer"))
		}
	default:
		errs = append(errs, fmt.Errorf("auth.strategy: must be \"basic\" or \"bearer\", got %q", c.Auth.Strategy))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the http sink.
func NewFactory() component.SinkFactory {
	return component.NewSinkFactory("http", component.KindEvents, sample, defaultConfig, New)
}

// Sink posts batches of events.
type Sink struct {
	httpx.Endpoint
	cfg    Config
	header http.Header
	sep    []byte
	open   []byte
	close  []byte
	gz     *httpx.GzipPool // nil without gzip
	bufs   httpx.BufferPool
}

// New returns a sink for a validated config.
func New(c *Config, set component.Settings) (*Sink, error) {
	e, err := httpx.NewEndpoint("http", c.Timeout.D(), c.Concurrency, set)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		Endpoint: e,
		cfg:      *c,
		header:   http.Header{},
	}
	if c.Encoding == EncodingNDJSON {
		s.sep, s.close = []byte{'\n'}, []byte{'\n'}
		s.header.Set("Content-Type", "application/x-ndjson")
	} else {
		s.open, s.sep, s.close = []byte{'['}, []byte{','}, []byte{']'}
		s.header.Set("Content-Type", "application/json")
	}
	if c.Gzip {
		s.header.Set("Content-Encoding", "gzip")
		s.gz = httpx.NewGzipPool(c.GzipLevel)
	}
	s.header.Set("User-Agent", "hogtail")
	for k, v := range c.Headers {
		s.header.Set(k, v)
	}
	// Auth last: a headers entry cannot silently replace it.
	switch c.Auth.Strategy {
	case "bearer":
		s.header.Set("Authorization", "Bearer "+c.Auth.Token)
	case "basic":
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(c.Auth.User, c.Auth.Password)
		s.header.Set("Authorization", r.Header.Get("Authorization"))
	}
	return s, nil
}

// Deliver implements component.Sink.
func (s *Sink) Deliver(ctx context.Context, b component.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	buf := s.bufs.Get()
	if err := s.encode(buf, b.Records); err != nil {
		return fmt.Errorf("http: encode batch: %w", err)
	}
	return s.SendBatch(ctx, "http", len(b.Records), s.cfg.Method, s.cfg.URL, s.header, buf, &s.bufs)
}

func (s *Sink) encode(buf *bytes.Buffer, recs [][]byte) error {
	size := component.Batch{Records: recs}.Bytes() + len(recs) + 2
	return httpx.WriteBody(buf, s.gz, size, func(w io.Writer) {
		w.Write(s.open)
		for i, r := range recs {
			if i > 0 {
				w.Write(s.sep)
			}
			w.Write(r)
		}
		w.Write(s.close)
	})
}
