// Package httpx holds what hogtail's HTTP sinks share: the mapping of HTTP
// statuses and transport failures to component delivery errors, Retry-After
// parsing, a tuned client, pooled gzip writers and request metrics.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/redact"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
)

// MaxRetryAfter caps a receiver's Retry-After: a misconfigured server must
// not park a queue for days.
const MaxRetryAfter = time.Hour

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 section 10.2.3). It returns 0 when the header is absent, invalid
// or in the past, and at most MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), MaxRetryAfter)
}

// Classify maps a receiver's answer to a delivery error, or nil for 2xx:
//
//	2xx                    nil
//	408, 429, 5xx          retryable, with the Retry-After delay if any
//	413                    component.TooLarge (the agent splits the batch)
//	401, 403               component.Paused (bad credentials: keep the data)
//	other 4xx              component.Permanent (split, then dead letters)
//	anything else          retryable (1xx/3xx here mean a confused receiver;
//	                       the sinks with one url pause on a 3xx, see
//	                       EndpointMissing)
//
// body is a snippet of the response body, quoted in the error.
func Classify(status int, header http.Header, body []byte) error {
	if status >= 200 && status < 300 {
		return nil
	}
	err := &StatusError{Status: status, Body: snippet(body)}
	if status >= 300 && status < 400 {
		err.Location = header.Get("Location")
	}
	switch {
	case status == http.StatusRequestEntityTooLarge:
		return component.TooLarge(err)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return component.Paused(err)
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		if d := ParseRetryAfter(header.Get("Retry-After"), time.Now()); d > 0 {
			return component.RetryAfter(d, err)
		}
		return err
	case status >= 400 && status < 500:
		return component.Permanent(err)
	}
	return err
}

// EndpointMissing turns a 404 or 405 for a whole batch into a pause: for a
// sink posting every batch to one configured URL it means the URL is wrong
// (a typo in host, a proxy route missing), and retrying or splitting would
// only move every event to dead letters one by one. Paused sinks keep their
// queue, show on /health, and retry at retry.max_interval. Webhook sinks do
// not use it: there a 404 concerns one request's own URL.
func EndpointMissing(err error) error {
	var se *StatusError
	if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed) {
		// %v, not %w: the inner Permanent classification must not survive.
		return component.Paused(fmt.Errorf("%v (is the configured host or url right?)", err))
	}
	if errors.As(err, &se) && se.Status >= 300 && se.Status < 400 {
		// A redirect that was not followed (see NewClient): the url is
		// wrong in the same way (http:// for https://, a moved host).
		return component.Paused(fmt.Errorf("%v (the receiver redirects: set the url to where it points)", err))
	}
	return err
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Status int
	Body   string
	// Location is where a 3xx answer redirects to.
	Location string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Location != "" {
		msg += " to " + redact.URL(e.Location)
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func snippet(b []byte) string {
	const maxLen = 256
	b = bytes.TrimSpace(b)
	if len(b) > maxLen {
		return string(b[:maxLen]) + "..."
	}
	return string(b)
}

// maxBodyRead bounds how much of a response is read: enough for an error
// message and to let the connection be reused.
const maxBodyRead = 64 << 10

// Do sends req and classifies the outcome. Transport failures (refused or
// dropped connections, timeouts) are retryable; a cancelled ctx is returned
// as is so the agent sees its own shutdown. The response body is drained
// (up to 64 KiB) and closed so the connection can be reused.
func Do(ctx context.Context, c *http.Client, req *http.Request, m *Metrics) error {
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.observe("error")
		// A *url.Error repeats method and URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", req.Method, redact.URL(req.URL.String()), redact.Error(err))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	resp.Body.Close()
	m.observe(strconv.Itoa(resp.StatusCode))
	if err := Classify(resp.StatusCode, resp.Header, body); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, redact.URL(req.URL.String()), err)
	}
	return nil
}

// NewClient returns a client for one sink: timeout bounds a whole request,
// and enough idle connections are kept for the sink's concurrency.
func NewClient(timeout time.Duration, conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(conns*2, 16)
	t.MaxIdleConnsPerHost = max(conns, 2)
	t.DialContext = (&net.Dialer{Timeout: min(timeout, 30*time.Second), KeepAlive: 30 * time.Second}).DialContext
	// Sinks compress bodies themselves; responses are small.
	t.DisableCompression = true
	return &http.Client{Timeout: timeout, Transport: t, CheckRedirect: keepMethod}
}

// keepMethod follows only the redirects that resend the same request (307,
// 308, at most 10). Go's client turns a POST into a GET without its body
// on 301, 302 and 303, whose 200 would then acknowledge a batch the
// receiver never got: those are returned as they are, for Classify.
func keepMethod(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if r := req.Response; r != nil && (r.StatusCode == http.StatusTemporaryRedirect || r.StatusCode == http.StatusPermanentRedirect) {
		return nil
	}
	return http.ErrUseLastResponse
}

// Guard makes every connection of the endpoint's client pass check, given
// the ip:port it is about to connect to (in net.Dialer.Control, after name
// resolution, so a name that resolves to a refused address gains nothing).
// Call it before the endpoint is used.
func (e *Endpoint) Guard(check func(address string) error) {
	t := e.client.Transport.(*http.Transport).Clone()
	dialTimeout := 30 * time.Second
	if e.client.Timeout > 0 {
		dialTimeout = min(e.client.Timeout, dialTimeout)
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error { return check(address) }}
	t.DialContext = d.DialContext
	e.client.Transport = t
}

// IsTimeout reports whether err is a client timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// CheckGzipLevel reports a gzip_level option outside 1 to 9 (nil when
// valid; errors.Join drops it), worded alike for every sink.
func CheckGzipLevel(level int) error {
	if level < gzip.BestSpeed || level > gzip.BestCompression {
		return fmt.Errorf("gzip_level: must be 1 to 9, got %d", level)
	}
	return nil
}

// GzipPool reuses gzip writers: a fresh writer allocates about 1 MB of
// compression state.
type GzipPool struct {
	level int
	pool  sync.Pool
}

// NewGzipPool returns a pool of writers at level (gzip.DefaultCompression,
// gzip.BestSpeed, 1-9).
func NewGzipPool(level int) *GzipPool {
	return &GzipPool{level: level}
}

// Get returns a writer reset to w.
func (p *GzipPool) Get(w io.Writer) *gzip.Writer {
	if zw, ok := p.pool.Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return zw
	}
	zw, err := gzip.NewWriterLevel(w, p.level)
	if err != nil {
		// The level is validated in the sink config.
		zw = gzip.NewWriter(w)
	}
	return zw
}

// Put returns a writer after Close.
func (p *GzipPool) Put(zw *gzip.Writer) { p.pool.Put(zw) }

// BufferPool reuses request body buffers.
type BufferPool struct{ pool sync.Pool }

// Get returns an empty buffer.
func (p *BufferPool) Get() *bytes.Buffer {
	if b, ok := p.pool.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

// Put returns a buffer; very large ones are let go so one huge batch does
// not pin memory forever.
func (p *BufferPool) Put(b *bytes.Buffer) {
	if b.Cap() > 32<<20 {
		return
	}
	p.pool.Put(b)
}

// Metrics counts a sink's requests.
type Metrics struct {
	requests *prometheus.CounterVec
	bytes    prometheus.Counter
}

// NewMetrics registers the request metrics of one sink on reg (the agent
// labels them with the component name).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	// A sink rebuilt on reload finds its collectors registered: reuse them.
	c := component.NewCollectors(reg, "hogtail_sink_http_")
	m := &Metrics{
		requests: c.CounterVec("requests_total",
			"HTTP requests sent by a sink, by response status (\"error\" for transport failures).", "status"),
		bytes: c.Counter("sent_bytes_total", "Request body bytes sent by a sink, after compression."),
	}
	return m, c.Err()
}

func (m *Metrics) observe(status string) {
	if m != nil {
		m.requests.WithLabelValues(status).Inc()
	}
}

// AddBytes counts a request body.
func (m *Metrics) AddBytes(n int) {
	if m != nil {
		m.bytes.Add(float64(n))
	}
}

// Body is a request body over a byte slice that knows whether the transport
// still holds a reader of it. RoundTrip may close a body from another
// goroutine after it returned, and may ask GetBody for fresh copies to
// retry on a reused connection: the slice can go back to a pool only once
// every reader was closed.
type Body struct {
	data []byte
	open atomic.Int32
}

// NewBody wraps data.
func NewBody(data []byte) *Body { return &Body{data: data} }

// Request returns a request sending the body, with ContentLength and
// GetBody set.
func (b *Body) Request(method, url string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, b.reader())
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(b.data))
	req.GetBody = func() (io.ReadCloser, error) { return b.reader(), nil }
	return req, nil
}

func (b *Body) reader() io.ReadCloser {
	b.open.Add(1)
	return &bodyReader{Reader: bytes.NewReader(b.data), b: b}
}

// Released reports whether every reader was closed.
func (b *Body) Released() bool { return b.open.Load() == 0 }

type bodyReader struct {
	*bytes.Reader
	b    *Body
	once sync.Once
}

func (r *bodyReader) Close() error {
	r.once.Do(func() { r.b.open.Add(-1) })
	return nil
}

// Endpoint is the part every HTTP sink shares: a client tuned for the
// sink's concurrency, its logger and its request metrics. Embedded in a
// sink, it provides the sink's Start and Shutdown.
type Endpoint struct {
	client  *http.Client
	metrics *Metrics
	// Log is the sink's logger, never nil.
	Log *slog.Logger
}

// NewEndpoint builds the shared part of a sink of type typ ("http",
// "posthog", "webhook"): requests time out after timeout, and up to
// concurrency connections are kept idle for reuse.
func NewEndpoint(typ string, timeout time.Duration, concurrency int, set component.Settings) (Endpoint, error) {
	m, err := NewMetrics(set.Metrics)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%s sink metrics: %w", typ, err)
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Endpoint{client: NewClient(timeout, concurrency), metrics: m, Log: log}, nil
}

// Send counts a request body of n bytes and sends req with Do.
func (e *Endpoint) Send(ctx context.Context, req *http.Request, n int) error {
	e.metrics.AddBytes(n)
	return Do(ctx, e.client, req, e.metrics)
}

// Start implements component.Lifecycle.
func (e *Endpoint) Start(context.Context) error { return nil }

// Shutdown implements component.Lifecycle: idle connections are closed.
func (e *Endpoint) Shutdown(context.Context) error {
	e.client.CloseIdleConnections()
	return nil
}

// WriteBody writes a request body into buf by calling write once: through
// a pooled gzip writer when gz is not nil, else directly, after growing buf
// by size (the body's length) so it is allocated once.
func WriteBody(buf *bytes.Buffer, gz *GzipPool, size int, write func(io.Writer)) error {
	if gz == nil {
		buf.Grow(size)
		write(buf)
		return nil
	}
	zw := gz.Get(buf)
	write(zw)
	if err := zw.Close(); err != nil {
		return err
	}
	gz.Put(zw)
	return nil
}

// SendBatch sends buf, the body of a batch of n events, as a method request
// to url with header, and gives buf back to pool once the transport let go
// of it (RoundTrip may still hold the body after Do returns). Errors start
// with the sink type: a request that cannot be built is permanent; a
// failed send names the number of events and passes through
// EndpointMissing.
func (e *Endpoint) SendBatch(ctx context.Context, typ string, n int, method, url string, header http.Header, buf *bytes.Buffer, pool *BufferPool) error {
	body := NewBody(buf.Bytes())
	req, err := body.Request(method, url)
	if err != nil {
		return component.Permanent(fmt.Errorf("%s: %w", typ, err))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	err = e.Send(ctx, req, buf.Len())
	if body.Released() {
		pool.Put(buf)
	}
	if err != nil {
		return EndpointMissing(fmt.Errorf("%s: %d events: %w", typ, n, err))
	}
	return nil
}
