package httpsource

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
)

// Config is the TOML table of an http source.
type Config struct {
	// Address is the host:port the server listens on.
	Address string `toml:"address"`
	// Path is the generic JSON / NDJSON endpoint.
	Path string `toml:"path"`
	// Capture enables the PostHog capture endpoints (/batch/, /e/, ...).
	Capture bool `toml:"capture"`
	// APIKeys, when not empty, is the allowlist of project tokens accepted
	// on the capture endpoints.
	APIKeys []string `toml:"api_keys"`
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// (capture requests whose token is in APIKeys are exempt).
	AuthToken string `toml:"auth_token"`
	// ProxyUpstream is a base URL other paths are reverse-proxied to.
	ProxyUpstream string `toml:"proxy_upstream"`
	// TLSCertFile and TLSKeyFile switch the listener to HTTPS.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// MaxBodyBytes caps a request body after decompression.
	MaxBodyBytes component.ByteSize `toml:"max_body_bytes"`
	// MaxEventBytes caps one event's JSON.
	MaxEventBytes component.ByteSize `toml:"max_event_bytes"`
	// MaxConcurrentRequests caps the requests being processed at once
	// (decoded and stored; bodies are read before a slot is taken).
	MaxConcurrentRequests int `toml:"max_concurrent_requests"`
	// MaxRequestsPerClient caps the requests one client address (IPv6: one
	// /64) has in flight, body reading included.
	MaxRequestsPerClient int `toml:"max_requests_per_client"`
	// MaxInflightBytes is the memory budget of all requests in flight:
	// their bodies, raw and decompressed, and the events being built.
	MaxInflightBytes component.ByteSize `toml:"max_inflight_bytes"`
	// FullWait is how long a request waits for room in a full buffer
	// before it is answered 503.
	FullWait component.Duration `toml:"full_wait"`
	// RetryAfter is the Retry-After sent with a 503.
	RetryAfter component.Duration `toml:"retry_after"`
	// ReadTimeout bounds reading a whole request, headers and body.
	ReadTimeout component.Duration `toml:"read_timeout"`
	// WriteTimeout bounds handling and answering a request.
	WriteTimeout component.Duration `toml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle that long.
	IdleTimeout component.Duration `toml:"idle_timeout"`
	// CORS answers browsers as PostHog capture does.
	CORS bool `toml:"cors"`
	// Event is the event name given to plain log objects on Path.
	Event string `toml:"event"`
	// DistinctID is the distinct_id of events on Path that carry none;
	// empty means the agent's host name.
	DistinctID string `toml:"distinct_id"`
	// SetIP records the client address in ip and properties.$ip.
	SetIP bool `toml:"set_ip"`
	// IPHeader names a header (X-Forwarded-For, X-Real-IP) that holds the
	// client address when hogtail sits behind a trusted proxy.
	IPHeader string `toml:"ip_header"`

	upstream *url.URL
}

func defaultConfig() *Config {
	return &Config{
		Address:               "127.0.0.1:8010",
		Path:                  "/ingest",
		Capture:               true,
		APIKeys:               []string{},
		MaxBodyBytes:          20 << 20,
		MaxEventBytes:         1_000_000,
		MaxConcurrentRequests: 256,
		MaxRequestsPerClient:  64,
		MaxInflightBytes:      256 << 20,
		FullWait:              component.Duration(time.Second),
		RetryAfter:            component.Duration(5 * time.Second),
		ReadTimeout:           component.Duration(30 * time.Second),
		WriteTimeout:          component.Duration(60 * time.Second),
		IdleTimeout:           component.Duration(120 * time.Second),
		CORS:                  true,
		Event:                 "log",
		SetIP:                 true,
	}
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	var errs []error
	if err := component.CheckListenAddress("tcp", c.Address); err != nil {
		errs = append(errs, fmt.Errorf("address: %w", err))
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("path: must start with /, got %q", c.Path))
	}
	if p := normPath(c.Path); c.Capture && capturePaths[p] {
		errs = append(errs, fmt.Errorf("path: %q is a capture endpoint; choose another path or set capture = false", c.Path))
	}
	for i, k := range c.APIKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("api_keys: entry %d is empty", i))
		}
	}
	if c.ProxyUpstream != "" {
		u, err := url.Parse(c.ProxyUpstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("proxy_upstream: must be an http(s) URL, got %q", c.ProxyUpstream))
		} else {
			c.upstream = u
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file: tls_cert_file and tls_key_file must be set together"))
	}
	if c.MaxBodyBytes < 1 {
		errs = append(errs, errors.New("max_body_bytes: must be at least 1 byte"))
	}
	if c.MaxEventBytes < 1 {
		errs = append(errs, errors.New("max_event_bytes: must be at least 1 byte"))
	}
	if c.MaxConcurrentRequests < 1 {
		errs = append(errs, fmt.Errorf("max_concurrent_requests: must be at least 1, got %d", c.MaxConcurrentRequests))
	}
	if c.MaxRequestsPerClient < 1 {
		errs = append(errs, fmt.Errorf("max_requests_per_client: must be at least 1, got %d", c.MaxRequestsPerClient))
	}
	// A gzipped body of max_body_bytes is held twice (as received and
	// inflated): the budget must let at least one such request through.
	if c.MaxInflightBytes < 2*c.MaxBodyBytes+minEventReserve {
		errs = append(errs, fmt.Errorf("max_inflight_bytes: must be at least twice max_body_bytes plus %d (the largest request's body, raw and decompressed, and its events), got %d", int64(minEventReserve), int64(c.MaxInflightBytes)))
	}
	if c.FullWait <= 0 {
		errs = append(errs, errors.New("full_wait: must be positive"))
	}
	if c.RetryAfter < component.Duration(time.Second) {
		errs = append(errs, errors.New("retry_after: must be at least 1s (Retry-After has a resolution of seconds)"))
	}
	if c.ReadTimeout <= 0 {
		errs = append(errs, errors.New("read_timeout: must be positive"))
	}
	if c.WriteTimeout <= c.FullWait {
		errs = append(errs, errors.New("write_timeout: must be longer than full_wait"))
	}
	if c.Event == "" {
		errs = append(errs, errors.New("event: must not be empty"))
	}
	return errors.Join(errs...)
}

// resolve makes relative file paths absolute against the config dir.
func (c *Config) resolve(dir string) {
	for _, p := range []*string{&c.TLSCertFile, &c.TLSKeyFile} {
		if *p != "" && !filepath.IsAbs(*p) && dir != "" {
			*p = filepath.Join(dir, *p)
		}
	}
}

// minEventReserve is the most a request reserves for the events it builds
// (see handle).
const minEventReserve = chunkMaxBytes*2 + chunkMaxEvents*eventCost
