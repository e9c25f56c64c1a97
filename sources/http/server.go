package httpsource

import (
	"context"
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
	"github.com/hogtail/hogtail/agent/httpauth"
	"github.com/prometheus/client_golang/prometheus"
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
	clients    *clientLimiter
	budget     *budget
	emit       component.Emitter
	addr       atomic.Pointer[net.Addr]
	ready      chan struct{}
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
		clients:    newClientLimiter(cfg.MaxRequestsPerClient),
		budget:     &budget{limit: int64(cfg.MaxInflightBytes)},
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
	ln = &acceptWatch{Listener: ln, log: s.log, errs: s.metrics.acceptErrors}
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

// acceptWatch counts and logs failed accepts (EMFILE and the like). The
// server retries them with backoff, as it should, but logs them only at
// debug level with the rest of net/http's chatter: an operator must see
// that the host ran out of descriptors.
type acceptWatch struct {
	net.Listener
	log  *slog.Logger
	errs prometheus.Counter
	last atomic.Int64 // unix nanoseconds of the last warning
}

// acceptWarnEvery rate-limits the warning: accept may fail thousands of
// times a second while descriptors are exhausted.
const acceptWarnEvery = 10 * time.Second

func (l *acceptWatch) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		l.errs.Inc()
		now := time.Now().UnixNano()
		if last := l.last.Load(); now-last >= int64(acceptWarnEvery) && l.last.CompareAndSwap(last, now) {
			l.log.Warn("accept failed; retrying with backoff", "err", err)
		}
	}
	return c, err
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
	case p == "/_readiness" || p == "/_liveness",
		p == "/" && s.proxy == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		// "/" is capture's health check too (load balancers probe it),
		// unless it goes to proxy_upstream.
		s.reply(w, "other", http.StatusOK, []byte("ok"))
		return
	case s.proxy != nil:
		if s.cfg.AuthToken != "" {
			switch {
			case s.bearerOK(r):
				// hogtail's secret is not the upstream's to see.
				r.Header.Del("Authorization")
			case len(s.apiKeys) == 0:
				// As on every path; with api_keys the proxy serves
				// browsers, which hold no secret, and the upstream
				// checks its own keys.
				s.rejectAll(w, "proxy", &reqError{http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"})
				return
			}
		}
		s.proxy.ServeHTTP(w, r)
		s.metrics.requests.WithLabelValues("proxy", "proxied").Inc()
		return
	default:
		// With CORS headers, a browser shows the 404 itself rather than a
		// misleading CORS failure.
		if s.cfg.CORS {
			setCORS(w.Header(), r)
		}
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
	capture := endpoint == "capture"
	if !capture && s.cfg.AuthToken != "" && !s.bearerOK(r) {
		s.rejectAll(w, endpoint, &reqError{http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"})
		return
	}
	// The body is read before a processing slot is taken: a client that
	// trickles its body in holds only its own per-client allowance and the
	// memory it sent, never a slot that others need.
	client := s.clientKey(r)
	if !s.clients.acquire(client) {
		// Close rather than wait for the unread body (which net/http
		// would read before answering, to reuse the connection).
		w.Header().Set("Connection", "close")
		s.retryLater(w, endpoint, http.StatusTooManyRequests, "rate_limited", "too many requests in flight from this client")
		return
	}
	defer s.clients.release(client)
	l := &lease{b: s.budget}
	defer l.release()
	limit := int64(s.cfg.MaxBodyBytes)
	r.Body = http.MaxBytesReader(w, r.Body, limit+1)
	body, rerr := decodeBody(r, limit, capture, l)
	if rerr != nil {
		if rerr.status == http.StatusServiceUnavailable || rerr.status == http.StatusRequestTimeout {
			w.Header().Set("Connection", "close")
		}
		if rerr.status == http.StatusServiceUnavailable {
			s.unavailable(w, endpoint, rerr.msg)
			return
		}
		s.rejectAll(w, endpoint, rerr)
		return
	}
	defer putBuf(body)
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.unavailable(w, endpoint, "too many concurrent requests")
		return
	}
	s.metrics.inFlight.Inc()
	defer s.metrics.inFlight.Dec()
	s.handle(w, r, endpoint, body, l)
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

// bearerOK reports whether r carries "Authorization: Bearer auth_token".
func (s *source) bearerOK(r *http.Request) bool {
	cred, ok := httpauth.Bearer(r)
	return ok && httpauth.Equal(strings.TrimSpace(cred), s.cfg.AuthToken)
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

// Bounds of the run of events a request builds before handing it to the
// buffer: a request of any size holds at most about this much at once.
const (
	chunkMaxEvents = 4096
	chunkMaxBytes  = 4 << 20
	// eventCost estimates the memory of a decoded event beyond twice its
	// JSON size: the Event, its maps and the boxed values.
	eventCost = 512
)

func (s *source) handle(w http.ResponseWriter, r *http.Request, endpoint string, body []byte, l *lease) {
	capture := endpoint == "capture"
	now := time.Now()
	b := batchInfo{now: event.FormatTime(now)}
	if s.cfg.SetIP {
		b.clientIP = s.clientIP(r)
	}
	var p *payload
	if capture {
		var rerr *reqError
		p, rerr = scanCapture(body, &b)
		if rerr == nil {
			// Finding the project token may decode every item.
			p.maxRaw, p.lease = int(s.cfg.MaxEventBytes), l
			rerr = s.authorizeCapture(r, p, &b)
		}
		if rerr != nil {
			s.rejectAll(w, endpoint, rerr)
			return
		}
	} else {
		p = scanGeneric(body)
	}
	p.maxRaw, p.lease = int(s.cfg.MaxEventBytes), l
	if b.sentAt == "" {
		b.sentAt = querySentAt(r)
	}
	if p.empty() {
		s.rejectAll(w, endpoint, badRequest("empty_batch", "no events in the request"))
		return
	}
	// The events under construction are reserved up front, so that once
	// the first of them is stored no later one fails for want of memory.
	// A small request reserves in proportion to its size: the events of
	// the tiniest JSON ({"event":"t","distinct_id":"u"}) take about 20
	// times its bytes.
	reserve := min(int64(minEventReserve), 20*int64(len(body))+64<<10)
	if !l.take(reserve) {
		s.unavailable(w, endpoint, "too much request data in flight; retry later")
		return
	}
	ce := chunkEmitter{s: s, ctx: r.Context(), single: true}
	if a, ok := s.emit.(component.AsyncEmitter); ok {
		ce.async = a
	}
	var bad []rejection
	nbad, tooBig := 0, 0
	var chunk []*event.Event
	// chunkBytes estimates the memory of chunk's events, of which
	// chunkHeld was charged to l for large items (see payload.each).
	var chunkBytes, chunkHeld int64
	var scratch []byte
	var emitErr error
	emitChunk := func() error {
		err := ce.emit(chunk)
		// The events are encoded: their decoded values are garbage.
		l.give(chunkHeld)
		chunk, chunkBytes, chunkHeld = nil, 0, 0
		return err
	}
	walkErr := p.each(capture, func(i int, it any) error {
		var ev *event.Event
		var rej *rejection
		switch {
		case isRejection(it):
			r := it.(rejection)
			rej = &r
			if r.Code == "too_large" {
				tooBig++
			}
		case capture:
			ev, rej = s.captureEvent(it, &b, now)
		default:
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
			nbad++
			s.metrics.rejected.WithLabelValues(rej.Code).Inc()
			if len(bad) < maxRejectionsListed {
				bad = append(bad, *rej)
			}
			return nil
		}
		// The event's memory: its decoded values (p.cost, from their
		// count) or twice its JSON, whichever is more.
		cost := max(int64(2*len(scratch)+eventCost), p.cost)
		held := p.held
		p.held = 0 // kept with the event until its run is stored
		if len(chunk) > 0 && (len(chunk) >= chunkMaxEvents || chunkBytes+cost > reserve/2) {
			if ce.single {
				// The first of several runs: the rest of the body must be
				// known good before anything is stored.
				if err := p.valid(); err != nil {
					l.give(held)
					return syntaxError{err}
				}
				ce.single = false
			}
			if emitErr = emitChunk(); emitErr != nil {
				l.give(held)
				return emitErr
			}
		}
		chunk = append(chunk, ev)
		chunkBytes += cost
		chunkHeld += held
		return nil
	})
	if walkErr == nil && len(chunk) > 0 {
		emitErr = emitChunk()
	}
	if emitErr == nil {
		emitErr = ce.wait()
	}
	if emitErr != nil {
		s.metrics.rejected.WithLabelValues("buffer_full").Add(float64(ce.failed))
		msg := "buffer full"
		if !errors.Is(emitErr, component.ErrFull) {
			s.log.Warn("cannot store events", "err", emitErr, "events", ce.failed)
			msg = "cannot store events"
		}
		if ce.stored > 0 {
			// Capture behaves alike: what reached Kafka stays. The events'
			// uuids make a retry of the whole request deduplicate.
			msg += fmt.Sprintf(" after %d of the request's events were stored", ce.stored)
		}
		s.unavailable(w, endpoint, msg)
		return
	}
	if errors.Is(walkErr, errBudget) {
		// A large item's values would take the memory budget over.
		s.metrics.rejected.WithLabelValues("no_memory").Add(float64(ce.failed))
		msg := "too much request data in flight; retry later"
		if ce.stored > 0 {
			msg += fmt.Sprintf(" (%d of the request's events were stored)", ce.stored)
		}
		s.unavailable(w, endpoint, msg)
		return
	}
	if walkErr != nil {
		// Otherwise only a syntax error stops the walk, and it does so
		// before anything was stored (see payload.valid).
		s.rejectAll(w, endpoint, badRequest("invalid_json", walkErr.Error()))
		return
	}
	if ce.stored == 0 {
		e := &reqError{http.StatusBadRequest, bad[0].Code, bad[0].Error}
		if tooBig == nbad {
			e.status = http.StatusRequestEntityTooLarge
			e.code = "payload_too_large"
		}
		s.replyJSON(w, endpoint, e.status, errorBody(e, bad, nbad))
		return
	}
	s.metrics.accepted.Add(float64(ce.stored))
	if nbad == 0 {
		s.replyJSON(w, endpoint, http.StatusOK, okBody)
		return
	}
	s.replyJSON(w, endpoint, http.StatusOK, partialBody(ce.stored, bad, nbad))
}

// maxRejectionsListed bounds the rejected list of an answer: a request of
// a million bad events is answered with the first ones and their count.
const maxRejectionsListed = 1000

// chunkEmitter stores a request's events one bounded run at a time. Runs
// after the first are handed over with EmitAsync, chained so that a run is
// never stored after an earlier one failed, with at most one run waiting
// for its write while the next is built.
type chunkEmitter struct {
	s      *source
	ctx    context.Context
	async  component.AsyncEmitter
	single bool // the whole request is this one run
	prev   component.Pending
	prevN  int
	stored int // events known to be stored
	failed int // events that will not be stored
}

func (c *chunkEmitter) emit(events []*event.Event) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.FullWait.D())
	defer cancel()
	if c.single || c.async == nil {
		if err := c.s.emit.Emit(ctx, events); err != nil {
			c.failed += len(events)
			return err
		}
		c.stored += len(events)
		return nil
	}
	p, err := c.async.EmitAsync(ctx, c.prev, events)
	if err != nil {
		c.failed += len(events)
		if werr := c.wait(); werr != nil {
			return werr
		}
		return err
	}
	if err := c.wait(); err != nil {
		// This run was chained to the failed one: it is not stored.
		_ = p.Wait()
		c.failed += len(events)
		return err
	}
	c.prev, c.prevN = p, len(events)
	return nil
}

// wait waits for the run handed over last.
func (c *chunkEmitter) wait() error {
	if c.prev == nil {
		return nil
	}
	p, n := c.prev, c.prevN
	c.prev, c.prevN = nil, 0
	if err := p.Wait(); err != nil {
		c.failed += n
		return err
	}
	c.stored += n
	return nil
}

// authorizeCapture checks the project token (required, as PostHog does)
// against api_keys and the bearer token.
func (s *source) authorizeCapture(r *http.Request, p *payload, b *batchInfo) *reqError {
	tok := b.token
	if tok == "" {
		var rerr *reqError
		if tok, rerr = p.token(); rerr != nil {
			return rerr
		}
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

func errorBody(e *reqError, bad []rejection, total int) []byte {
	out := []byte(`{"status":`)
	out = strconv.AppendInt(out, int64(e.status), 10)
	out = append(out, `,"code":`...)
	out = event.AppendString(out, e.code)
	out = append(out, `,"error":`...)
	out = event.AppendString(out, e.msg)
	if len(bad) > 0 {
		out = appendRejected(out, bad, total)
	}
	return append(out, '}')
}

func partialBody(accepted int, bad []rejection, total int) []byte {
	out := []byte(`{"status":1,"accepted":`)
	out = strconv.AppendInt(out, int64(accepted), 10)
	out = appendRejected(out, bad, total)
	return append(out, '}')
}

// appendRejected lists the rejections; when the list was cut, a
// rejected_count field gives the total.
func appendRejected(out []byte, bad []rejection, total int) []byte {
	if total > len(bad) {
		out = append(out, `,"rejected_count":`...)
		out = strconv.AppendInt(out, int64(total), 10)
	}
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
	if e.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Every 503 says when to come back, whichever path refused.
		w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.D().Round(time.Second)/time.Second)))
	}
	s.metrics.rejected.WithLabelValues(e.code).Inc()
	s.replyError(w, endpoint, e)
}

func (s *source) replyError(w http.ResponseWriter, endpoint string, e *reqError) {
	s.replyJSON(w, endpoint, e.status, errorBody(e, nil, 0))
}

func (s *source) unavailable(w http.ResponseWriter, endpoint, msg string) {
	s.retryLater(w, endpoint, http.StatusServiceUnavailable, "service_unavailable", msg)
}

// retryLater answers a status SDKs retry (503, 429) with Retry-After.
func (s *source) retryLater(w http.ResponseWriter, endpoint string, status int, code, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.D().Round(time.Second)/time.Second)))
	s.rejectAll(w, endpoint, &reqError{status, code, msg})
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
