package httpsource

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
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
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var gzPool sync.Pool // *gzip.Reader

func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 4<<20 {
		return // let a huge one go rather than pin it
	}
	bufPool.Put(b)
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

// decodeBody returns the JSON text of a request: it reads at most limit
// bytes, unwraps data= forms, base64 and gzip (found by its magic bytes
// whatever the headers say, as PostHog capture does) and never holds more
// than limit decompressed bytes. The returned buffers go back with putBuf.
func decodeBody(r *http.Request, limit int64, capture bool) (*bytes.Buffer, *reqError) {
	q := r.URL.Query()
	compression := q.Get("compression")
	raw := getBuf()
	if r.Method == http.MethodGet {
		// GET /e/?data=<base64> (image beacons of old posthog-js).
		raw.WriteString(q.Get("data"))
		if raw.Len() == 0 {
			putBuf(raw)
			return nil, badRequest("empty_payload", "GET needs a data query parameter")
		}
		return unwrap(raw, limit, compression, true)
	}
	if r.ContentLength > limit {
		putBuf(raw)
		return nil, tooLarge("request body is larger than max_body_bytes")
	}
	form, ok := acceptedContentType(r.Header.Get("Content-Type"))
	if !ok {
		putBuf(raw)
		return nil, &reqError{http.StatusUnsupportedMediaType, "unsupported_content_type",
			"unsupported Content-Type " + r.Header.Get("Content-Type") + ": send JSON, NDJSON, text/plain or a data= form"}
	}
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity", "gzip", "x-gzip":
		if ce == "gzip" || ce == "x-gzip" {
			compression = "gzip"
		}
	default:
		putBuf(raw)
		return nil, &reqError{http.StatusUnsupportedMediaType, "unsupported_encoding", "unsupported Content-Encoding " + ce}
	}
	n, err := raw.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		putBuf(raw)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge("request body is larger than max_body_bytes")
		}
		return nil, &reqError{http.StatusBadRequest, "body_read_error", "cannot read body: " + err.Error()}
	}
	if n > limit {
		putBuf(raw)
		return nil, tooLarge("request body is larger than max_body_bytes")
	}
	if raw.Len() == 0 {
		putBuf(raw)
		return nil, badRequest("empty_payload", "empty body")
	}
	if form || (capture && bytes.HasPrefix(raw.Bytes(), []byte("data="))) {
		vals, err := url.ParseQuery(raw.String())
		if err != nil {
			putBuf(raw)
			return nil, badRequest("invalid_form", "cannot parse form body: "+err.Error())
		}
		if c := vals.Get("compression"); c != "" {
			compression = c
		}
		raw.Reset()
		raw.WriteString(vals.Get("data"))
		if raw.Len() == 0 {
			putBuf(raw)
			return nil, badRequest("empty_payload", "form body has no data field")
		}
		return unwrap(raw, limit, compression, true)
	}
	if compression == "gzip" && !isGzip(raw.Bytes()) {
		putBuf(raw)
		return nil, badRequest("invalid_gzip", "Content-Encoding is gzip but the body is not gzip")
	}
	return unwrap(raw, limit, compression, capture)
}

func isGzip(b []byte) bool { return len(b) >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8 }

// unwrap peels gzip and base64 layers off b (consuming it).
func unwrap(b *bytes.Buffer, limit int64, compression string, allowBase64 bool) (*bytes.Buffer, *reqError) {
	if compression == "lz64" {
		putBuf(b)
		return nil, badRequest("unsupported_compression", "compression=lz64 is not supported; use gzip or base64")
	}
	for layer := 0; layer < 3; layer++ {
		data := b.Bytes()
		switch {
		case isGzip(data):
			out, rerr := gunzip(data, limit)
			putBuf(b)
			if rerr != nil {
				return nil, rerr
			}
			b = out
		case allowBase64 && looksBase64(data):
			out := getBuf()
			dec, err := decodeBase64(out, data)
			if err != nil {
				// Not base64 after all: hand it to the JSON parser, whose
				// error is the more useful one.
				putBuf(out)
				return b, nil
			}
			putBuf(b)
			b = dec
			if int64(b.Len()) > limit {
				putBuf(b)
				return nil, tooLarge("decoded body is larger than max_body_bytes")
			}
		default:
			return b, nil
		}
	}
	return b, nil
}

func gunzip(data []byte, limit int64) (*bytes.Buffer, *reqError) {
	var zr *gzip.Reader
	if v := gzPool.Get(); v != nil {
		zr = v.(*gzip.Reader)
		if err := zr.Reset(bytes.NewReader(data)); err != nil {
			gzPool.Put(zr)
			return nil, badRequest("invalid_gzip", "invalid gzip body: "+err.Error())
		}
	} else {
		var err error
		zr, err = gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, badRequest("invalid_gzip", "invalid gzip body: "+err.Error())
		}
	}
	defer gzPool.Put(zr)
	out := getBuf()
	// Read at most limit+1 bytes: a gzip bomb stops here, not in memory.
	n, err := out.ReadFrom(io.LimitReader(zr, limit+1))
	if n > limit {
		putBuf(out)
		return nil, tooLarge("decompressed body is larger than max_body_bytes")
	}
	if err != nil {
		putBuf(out)
		return nil, badRequest("invalid_gzip", "invalid gzip body: "+err.Error())
	}
	return out, nil
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
func decodeBase64(out *bytes.Buffer, in []byte) (*bytes.Buffer, error) {
	s := strings.TrimSpace(string(in))
	if strings.Contains(s, "%") {
		if u, err := url.QueryUnescape(s); err == nil {
			s = u
		}
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	out.Grow(enc.DecodedLen(len(s)))
	buf := out.AvailableBuffer()[:enc.DecodedLen(len(s))]
	n, err := enc.Decode(buf, []byte(s))
	if err != nil {
		return nil, err
	}
	out.Write(buf[:n])
	return out, nil
}
