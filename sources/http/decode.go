package httpsource

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// reqError is a refusal with its HTTP status and PostHog-style code.
type reqError struct {
	status int
	code   string
	msg    string
}

func (e *reqError) Error() string { return e.msg }

func badRequest(code, msg string) *reqError {
	return &reqError{http.StatusBadRequest, code, msg}
}

func tooLarge(msg string) *reqError {
	return &reqError{http.StatusRequestEntityTooLarge, "payload_too_large", msg}
}

// bufPool recycles request buffers: the JSON parser copies every string out,
// so a body buffer is free again once the events are built.
var bufPool sync.Pool // *[]byte

var gzPool sync.Pool // *gzip.Reader

// maxPooledBuf keeps a rare huge buffer out of the pool rather than pin it.
const maxPooledBuf = 1 << 20

func getBuf() []byte {
	if v := bufPool.Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return nil
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	bufPool.Put(&b)
}

// errBudget reports that a request's body would take the in-flight memory
// budget over max_inflight_bytes.
var errBudget = errors.New("in-flight memory budget exhausted")

// errTooLarge reports a body over the size limit.
var errTooLarge = errors.New("body too large")

// readCapped appends what r yields to dst until EOF. It fails with
// errTooLarge once more than limit bytes were read, and with errBudget when
// the lease cannot cover a larger buffer. The buffer grows by doubling but
// never past limit+1, and every growth is charged to the lease first, so a
// request holds no memory it did not reserve.
func readCapped(dst []byte, r io.Reader, limit int64, l *lease) ([]byte, error) {
	if !l.take(int64(cap(dst))) {
		return dst, errBudget
	}
	for {
		if len(dst) == cap(dst) {
			if int64(len(dst)) > limit {
				return dst, errTooLarge
			}
			n := min(max(2*cap(dst), 32<<10), int(limit)+1)
			if !l.take(int64(n)) {
				return dst, errBudget
			}
			grown := make([]byte, len(dst), n)
			copy(grown, dst)
			l.give(int64(cap(dst)))
			putBuf(dst)
			dst = grown
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// acceptedContentType reports whether a body of this media type is worth
// decoding. posthog-js posts text/plain (sendBeacon, gzip) and form bodies;
// anything multipart or XML is certainly not an event.
func acceptedContentType(ct string) (form bool, ok bool) {
	if ct == "" {
		return false, true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, false
	}
	switch {
	case mt == "application/x-www-form-urlencoded":
		return true, true
	case mt == "application/json", mt == "text/plain", mt == "application/x-ndjson",
		mt == "application/jsonlines", mt == "application/json-seq", mt == "application/x-json-stream",
		mt == "application/octet-stream", mt == "text/json":
		return false, true
	case strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return false, true
	}
	return false, false
}

// readError turns a failed body read into the answer: 413 over the limit,
// 503 over the memory budget, 408 when the client stopped sending (what
// PostHog capture answers, and SDKs retry), 400 otherwise. Messages never
// carry socket addresses.
func readError(err error, what string) *reqError {
	var mbe *http.MaxBytesError
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, errTooLarge), errors.As(err, &mbe):
		return tooLarge(what + " is larger than max_body_bytes")
	case errors.Is(err, errBudget):
		return &reqError{http.StatusServiceUnavailable, "service_unavailable", "too much request data in flight; retry later"}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &reqError{http.StatusRequestTimeout, "body_read_timeout", "timed out reading the request body (read_timeout)"}
	case errors.As(err, &op):
		err = op.Err
	}
	return &reqError{http.StatusBadRequest, "body_read_error", "cannot read the request body: " + err.Error()}
}

// decodeBody returns the JSON text of a request: it reads at most limit
// bytes, unwraps data= forms, base64 and gzip (found by its magic bytes
// whatever the headers say, as PostHog capture does) and never holds more
// than limit decompressed bytes. Every buffer it holds is charged to l.
// The returned buffer goes back with putBuf.
// decodeData decodes a data= value of a query or a form body: base64 of
// the payload, compressed or not. missing is the message when it is empty,
// what names it in read errors.
func decodeData(data, missing, what string, limit int64, compression string, l *lease) ([]byte, *reqError) {
	if data == "" {
		return nil, badRequest("empty_payload", missing)
	}
	raw, err := readCapped(getBuf(), strings.NewReader(data), limit, l)
	if err != nil {
		putBuf(raw)
		return nil, readError(err, what)
	}
	return unwrap(raw, limit, compression, true, l)
}

func decodeBody(r *http.Request, limit int64, capture bool, l *lease) ([]byte, *reqError) {
	q := r.URL.Query()
	compression := q.Get("compression")
	if r.Method == http.MethodGet {
		// GET /e/?data=<base64> (image beacons of old posthog-js).
		return decodeData(q.Get("data"), "GET needs a data query parameter", "data parameter", limit, compression, l)
	}
	if r.ContentLength > limit {
		return nil, tooLarge("request body is larger than max_body_bytes")
	}
	form, ok := acceptedContentType(r.Header.Get("Content-Type"))
	if !ok {
		return nil, &reqError{http.StatusUnsupportedMediaType, "unsupported_content_type",
			"unsupported Content-Type " + r.Header.Get("Content-Type") + ": send JSON, NDJSON, text/plain or a data= form"}
	}
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity", "gzip", "x-gzip":
		if ce == "gzip" || ce == "x-gzip" {
			compression = "gzip"
		}
	default:
		return nil, &reqError{http.StatusUnsupportedMediaType, "unsupported_encoding", "unsupported Content-Encoding " + ce}
	}
	// The buffer grows with what arrives, not with what Content-Length
	// announces: a client that claims 20 MiB and sends nothing costs
	// nothing.
	raw, err := readCapped(getBuf(), r.Body, limit, l)
	if err != nil {
		putBuf(raw)
		return nil, readError(err, "request body")
	}
	if len(raw) == 0 {
		putBuf(raw)
		return nil, badRequest("empty_payload", "empty body")
	}
	if form || (capture && bytes.HasPrefix(raw, []byte("data="))) {
		vals, err := url.ParseQuery(string(raw))
		putBuf(raw)
		if err != nil {
			return nil, badRequest("invalid_form", "cannot parse form body: "+err.Error())
		}
		if c := vals.Get("compression"); c != "" {
			compression = c
		}
		return decodeData(vals.Get("data"), "form body has no data field", "form data", limit, compression, l)
	}
	if compression == "gzip" && !isGzip(raw) {
		putBuf(raw)
		return nil, badRequest("invalid_gzip", "Content-Encoding is gzip but the body is not gzip")
	}
	return unwrap(raw, limit, compression, capture, l)
}

func isGzip(b []byte) bool { return len(b) >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 }

// unwrap peels gzip and base64 layers off b (consuming it).
func unwrap(b []byte, limit int64, compression string, allowBase64 bool, l *lease) ([]byte, *reqError) {
	if compression == "lz64" {
		putBuf(b)
		return nil, badRequest("unsupported_compression", "compression=lz64 is not supported; use gzip or base64")
	}
	for layer := 0; layer < 3; layer++ {
		switch {
		case isGzip(b):
			out, rerr := gunzip(b, limit, l)
			l.give(int64(cap(b)))
			putBuf(b)
			if rerr != nil {
				return nil, rerr
			}
			b = out
		case allowBase64 && looksBase64(b):
			out, err := decodeBase64(b, limit, l)
			if err != nil {
				if errors.Is(err, errBudget) || errors.Is(err, errTooLarge) {
					putBuf(b)
					return nil, readError(err, "decoded body")
				}
				// Not base64 after all: hand it to the JSON parser, whose
				// error is the more useful one.
				return b, nil
			}
			l.give(int64(cap(b)))
			putBuf(b)
			b = out
		default:
			return b, nil
		}
	}
	return b, nil
}

func gunzip(data []byte, limit int64, l *lease) ([]byte, *reqError) {
	var zr *gzip.Reader
	if v := gzPool.Get(); v != nil {
		zr = v.(*gzip.Reader)
		if err := zr.Reset(bytes.NewReader(data)); err != nil {
			gzPool.Put(zr)
			return nil, badRequest("invalid_gzip", "invalid gzip body: "+gzipCause(err))
		}
	} else {
		var err error
		zr, err = gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, badRequest("invalid_gzip", "invalid gzip body: "+gzipCause(err))
		}
	}
	defer gzPool.Put(zr)
	// A gzip bomb stops at limit+1 bytes (or at the budget), not in memory.
	out, err := readCapped(getBuf(), zr, limit, l)
	if err != nil {
		putBuf(out)
		if errors.Is(err, errTooLarge) || errors.Is(err, errBudget) {
			return nil, readError(err, "decompressed body")
		}
		return nil, badRequest("invalid_gzip", "invalid gzip body: "+gzipCause(err))
	}
	return out, nil
}

// gzipCause is a gzip error without the package's "gzip: " prefix, which
// the messages around it already say.
func gzipCause(err error) string {
	return strings.TrimPrefix(err.Error(), "gzip: ")
}

// looksBase64 tells a base64 payload from JSON: JSON starts with {, [ or
// whitespace, base64 never does.
func looksBase64(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) < 4 {
		return false
	}
	switch b[0] {
	case '{', '[', '"':
		return false
	}
	for _, c := range b[:min(len(b), 64)] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '+' || c == '/' || c == '-' || c == '_' || c == '=' || c == '%') {
			return false
		}
	}
	return true
}

// decodeBase64 accepts standard and URL alphabets, padded or not, and the
// %-escaped padding some senders leave in forms.
func decodeBase64(in []byte, limit int64, l *lease) ([]byte, error) {
	// Not spaces: they may be a form value's '+' (below).
	src := bytes.Trim(in, "\r\n\t")
	if bytes.IndexByte(src, '%') >= 0 {
		if u, err := url.QueryUnescape(string(src)); err == nil {
			src = []byte(u)
		}
	}
	// A form value's unescaped '+' arrives as a space (form decoding
	// turns '+' into ' '); base64 has no spaces, so capture turns them
	// back, and so does hogtail. src is this request's own buffer.
	for i, c := range src {
		if c == ' ' {
			src[i] = '+'
		}
	}
	enc := base64.StdEncoding
	if bytes.ContainsAny(src, "-_") {
		enc = base64.URLEncoding
	}
	if !bytes.HasSuffix(src, []byte("=")) && len(src)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	n := enc.DecodedLen(len(src))
	if int64(n) > limit {
		return nil, errTooLarge
	}
	if !l.take(int64(n)) {
		return nil, errBudget
	}
	out := make([]byte, n)
	n, err := enc.Decode(out, src)
	if err != nil {
		l.give(int64(cap(out)))
		return nil, err
	}
	return out[:n], nil
}
