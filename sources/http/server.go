package httpsource

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// capturePaths are PostHog capture's event endpoints, without trailing slash.
var capturePaths = map[string]bool{
	"/batch": true, "/e": true, "/i/v0/e": true, "/capture": true, "/track": true, "/engage": true,
}

func normPath(p string) string {
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	if p == "" {
		return "/"
	}
	return p
}

type source struct {
	cfg        *Config
	log        *slog.Logger
	metrics    *metrics
	distinctID string
	path       string
	apiKeys    map[string]bool
	proxy      *httputil.ReverseProxy
	transport  *http.Transport
	sem        chan struct{}
	emit       component.Emitter
	addr       atomic.Pointer[net.Addr]
	ready      chan struct{}
}

func newSource(cfg *Config, set component.Settings) (component.Source, error) {
	return create(cfg, set)
}

func create(cfg *Config, set component.Settings) (*source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.resolve(set.ConfigDir)
	m, err := newMetrics(set.Metrics)
	if err != nil {
		return nil, fmt.Errorf("http source %s: metrics: %w", set.Name, err)
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &source{
		cfg:        cfg,
		log:        log,
		metrics:    m,
		distinctID: cfg.DistinctID,
		path:       normPath(cfg.Path),
		apiKeys:    map[string]bool{},
		sem:        make(chan struct{}, cfg.MaxConcurrentRequests),
		ready:      make(chan struct{}),
	}
	if s.distinctID == "" {
		s.distinctID = set.Hostname
	}
	if cfg.Path == "" {
		s.path = ""
	}
	for _, k := range cfg.APIKeys {
		s.apiKeys[k] = true
	}
	if u := cfg.upstream; u != nil {
		// Its own transport, so that its idle upstream connections are
		// closed with the source.
		s.transport = http.DefaultTransport.(*http.Transport).Clone()
		s.proxy = &httputil.ReverseProxy{
			Transport: s.transport,
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(u)
				pr.SetXForwarded()
			},
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	return s, nil
}

// Addr returns the address the server listens on, or nil before Run has
// opened its listener. Useful with port 0.
func (s *source) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// Run serves until ctx is cancelled, then stops accepting and lets the
// requests in flight finish (their Emit included) before it returns.
func (s *source) Run(ctx context.Context, emit component.Emitter) error {
	s.emit = emit
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("http source: listen on %s: %w", s.cfg.Address, err)
	}
	a := ln.Addr()
	s.addr.Store(&a)
	close(s.ready)
	srv := &http.Server{
		Handler:           s,
		ReadTimeout:       s.cfg.ReadTimeout.D(),
		ReadHeaderTimeout: min(s.cfg.ReadTimeout.D(), 10*time.Second),
		WriteTimeout:      s.cfg.WriteTimeout.D(),
		IdleTimeout:       s.cfg.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("http source listening", "address", a.String(), "capture", s.cfg.Capture, "path", s.cfg.Path)
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("http source: serve: %w", err)
	case <-ctx.Done():
	}
	// Requests in flight keep their own contexts: they finish their Emit
	// and answer; the wait is bounded by the write timeout.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout.D())
	defer cancel()
	if s.transport != nil {
		defer s.transport.CloseIdleConnections()
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		<-errc
		return fmt.Errorf("http source: shutdown: %w", err)
	}
	<-errc
	return nil
}

// ServeHTTP routes a request.
func (s *source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := normPath(r.URL.Path)
	var endpoint string
	switch {
	case s.cfg.Capture && capturePaths[p]:
		endpoint = "capture"
	case s.path != "" && p == s.path:
		endpoint = "generic"
	case p == "/_readiness" || p == "/_liveness":
		s.reply(w, "other", http.StatusOK, []byte("ok"))
		return
	case s.proxy != nil:
		s.proxy.ServeHTTP(w, r)
		s.metrics.requests.WithLabelValues("proxy", "proxied").Inc()
		return
	default:
		s.replyError(w, "other", &reqError{http.StatusNotFound, "not_found", "no endpoint at " + r.URL.Path})
		return
	}
	if s.cfg.CORS {
		setCORS(w.Header(), r)
	}
	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		s.reply(w, endpoint, http.StatusOK, nil)
		return
	case http.MethodPost:
	case http.MethodGet:
		if endpoint == "capture" && r.URL.Query().Has("data") {
			break
		}
		fallthrough
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		s.replyError(w, endpoint, &reqError{http.StatusMethodNotAllowed, "method_not_allowed", r.Method + " is not allowed here; POST events"})
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.unavailable(w, endpoint, "too many concurrent requests")
		return
	}
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	s.handle(w, r, endpoint)
}

// setCORS answers browsers as PostHog capture does: the origin is
// mirrored, credentials are allowed, preflights get the headers they ask.
func setCORS(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		}
		h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
		h.Set("Access-Control-Max-Age", "86400")
	}
}

func (s *source) bearerOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.AuthToken)) == 1
}

func (s *source) clientIP(r *http.Request) string {
	if s.cfg.IPHeader != "" {
		if v := r.Header.Get(s.cfg.IPHeader); v != "" {
			first, _, _ := strings.Cut(v, ",")
			if ip := strings.TrimSpace(first); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *source) handle(w http.ResponseWriter, r *http.Request, endpoint string) {
	capture := endpoint == "capture"
	if !capture && s.cfg.AuthToken != "" && !s.bearerOK(r) {
		s.rejectAll(w, endpoint, &reqError{http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"})
		return
	}
	limit := int64(s.cfg.MaxBodyBytes)
	r.Body = http.MaxBytesReader(w, r.Body, limit+1)
	body, rerr := decodeBody(r, limit, capture)
	if rerr != nil {
		s.rejectAll(w, endpoint, rerr)
		return
	}
	v, perr := parseBody(body.Bytes(), capture)
	putBuf(body)
	if perr != nil {
		s.rejectAll(w, endpoint, perr)
		return
	}
	now := time.Now()
	b := batchInfo{now: event.FormatTime(now)}
	if s.cfg.SetIP {
		b.clientIP = s.clientIP(r)
	}
	var items []any
	if capture {
		items, rerr = captureItems(v, &b)
		if rerr == nil {
			rerr = s.authorizeCapture(r, items, &b)
		}
		if rerr != nil {
			s.rejectAll(w, endpoint, rerr)
			return
		}
	} else {
		items = v.([]any)
	}
	if b.sentAt == "" {
		b.sentAt = querySentAt(r)
	}
	if len(items) == 0 {
		s.rejectAll(w, endpoint, badRequest("empty_batch", "no events in the request"))
		return
	}
	events := make([]*event.Event, 0, len(items))
	var bad []rejection
	tooBig := 0
	var scratch []byte
	for i, it := range items {
		var ev *event.Event
		var rej *rejection
		if capture {
			ev, rej = s.captureEvent(it, &b, now)
		} else {
			ev, rej = s.genericEvent(it, &b, now)
		}
		if rej == nil {
			scratch = ev.AppendJSON(scratch[:0])
			if n := len(scratch); int64(n) > int64(s.cfg.MaxEventBytes) {
				rej = &rejection{Code: "too_large", Error: fmt.Sprintf("event is %d bytes, more than max_event_bytes (%d)", n, s.cfg.MaxEventBytes)}
				tooBig++
			}
		}
		if rej != nil {
			rej.Index = i
			bad = append(bad, *rej)
			s.metrics.rejected.WithLabelValues(rej.Code).Inc()
			continue
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		e := &reqError{http.StatusBadRequest, bad[0].Code, bad[0].Error}
		if tooBig == len(bad) {
			e.status = http.StatusRequestEntityTooLarge
			e.code = "payload_too_large"
		}
		s.replyJSON(w, endpoint, e.status, errorBody(e, bad))
		return
	}
	ectx, cancel := context.WithTimeout(r.Context(), s.cfg.FullWait.D())
	err := s.emit.Emit(ectx, events)
	cancel()
	if err != nil {
		s.metrics.rejected.WithLabelValues("buffer_full").Add(float64(len(events)))
		if errors.Is(err, component.ErrFull) {
			s.unavailable(w, endpoint, "buffer full")
		} else {
			s.log.Warn("http source: cannot store events", "err", err, "events", len(events))
			s.unavailable(w, endpoint, "cannot store events")
		}
		return
	}
	s.metrics.accepted.Add(float64(len(events)))
	if len(bad) == 0 {
		s.replyJSON(w, endpoint, http.StatusOK, okBody)
		return
	}
	s.replyJSON(w, endpoint, http.StatusOK, partialBody(len(events), bad))
}

// authorizeCapture checks the project token (required, as PostHog does)
// against api_keys and the bearer token.
func (s *source) authorizeCapture(r *http.Request, items []any, b *batchInfo) *reqError {
	tok, rerr := requestToken(items, b)
	if rerr != nil {
		return rerr
	}
	switch {
	case tok == "":
		return &reqError{http.StatusUnauthorized, "ingest_key_required", "API key is required (api_key or properties.token)"}
	case strings.HasPrefix(tok, "phx_"):
		return &reqError{http.StatusUnauthorized, "personal_api_key", "personal API keys (phx_) cannot capture events; use the project API key"}
	case len(s.apiKeys) > 0 && !s.apiKeys[tok]:
		return &reqError{http.StatusUnauthorized, "invalid_api_key", "API key is not in this source's api_keys"}
	case s.cfg.AuthToken != "" && len(s.apiKeys) == 0 && !s.bearerOK(r):
		return &reqError{http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"}
	}
	return nil
}

// parseBody decodes the JSON: capture bodies are one value; generic bodies
// may also be NDJSON (returned as []any).
func parseBody(body []byte, capture bool) (any, *reqError) {
	if !capture {
		return parseGeneric(body), nil
	}
	v, err := event.ParseValue(body)
	if err != nil {
		return nil, badRequest("invalid_json", "invalid JSON: "+err.Error())
	}
	return v, nil
}

// querySentAt reads the ms-epoch `_` / `sent_at` query parameter posthog-js
// adds; a value that looks like seconds is ignored, as capture does.
func querySentAt(r *http.Request) string {
	q := r.URL.Query()
	v := q.Get("_")
	if v == "" {
		v = q.Get("sent_at")
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 1e11 {
		return ""
	}
	return event.FormatTime(time.UnixMilli(ms))
}

var okBody = []byte(`{"status":1}`)

func errorBody(e *reqError, bad []rejection) []byte {
	out := []byte(`{"status":`)
	out = strconv.AppendInt(out, int64(e.status), 10)
	out = append(out, `,"code":`...)
	out = event.AppendString(out, e.code)
	out = append(out, `,"error":`...)
	out = event.AppendString(out, e.msg)
	if len(bad) > 0 {
		out = appendRejected(out, bad)
	}
	return append(out, '}')
}

func partialBody(accepted int, bad []rejection) []byte {
	out := []byte(`{"status":1,"accepted":`)
	out = strconv.AppendInt(out, int64(accepted), 10)
	out = appendRejected(out, bad)
	return append(out, '}')
}

func appendRejected(out []byte, bad []rejection) []byte {
	out = append(out, `,"rejected":[`...)
	for i, r := range bad {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(r.Index), 10)
		out = append(out, `,"code":`...)
		out = event.AppendString(out, r.Code)
		out = append(out, `,"error":`...)
		out = event.AppendString(out, r.Error)
		out = append(out, '}')
	}
	return append(out, ']')
}

func (s *source) rejectAll(w http.ResponseWriter, endpoint string, e *reqError) {
	s.metrics.rejected.WithLabelValues(e.code).Inc()
	s.replyError(w, endpoint, e)
}

func (s *source) replyError(w http.ResponseWriter, endpoint string, e *reqError) {
	s.replyJSON(w, endpoint, e.status, errorBody(e, nil))
}

func (s *source) unavailable(w http.ResponseWriter, endpoint, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.D().Round(time.Second)/time.Second)))
	s.replyError(w, endpoint, &reqError{http.StatusServiceUnavailable, "service_unavailable", msg})
}

func (s *source) replyJSON(w http.ResponseWriter, endpoint string, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	s.reply(w, endpoint, status, body)
}

func (s *source) reply(w http.ResponseWriter, endpoint string, status int, body []byte) {
	if body != nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if body != nil {
		_, _ = w.Write(body)
	}
	s.metrics.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
}
