package httpsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/hogtail/hogtail/agent/event"
)

// The shapes a body's items come in.
const (
	// kindArray: body[start:end] is a JSON array whose elements are the items.
	kindArray = iota
	// kindSingle: the whole body is one item.
	kindSingle
	// kindNDJSON: each non-blank line is an item (generic endpoint).
	kindNDJSON
)

// payload locates the items of a request body without decoding them all at
// once: a body of many tiny events costs several times its size as decoded
// values, so items are decoded one by one, and only a bounded run of events
// is held at a time (see emitChunks).
type payload struct {
	body       []byte
	kind       int
	start, end int
}

// syntaxError describes why body is not JSON, as the parser words it.
// Only called on a body json.Valid refused.
func syntaxError(body []byte) *reqError {
	err := json.Unmarshal(body, new(struct{}))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badRequest("invalid_json", fmt.Sprintf("invalid JSON: %s (offset %d)", se.Error(), se.Offset))
	}
	return badRequest("invalid_json", "invalid JSON")
}

// trimSpan is the span of body without leading and trailing JSON space.
func trimSpan(body []byte) (int, int) {
	start, end := 0, len(body)
	for start < end && isSpace(body[start]) {
		start++
	}
	for end > start && isSpace(body[end-1]) {
		end--
	}
	return start, end
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scanCapture finds the items of a capture body in the order PostHog
// capture tries its shapes: array, {"batch": [...]}, single event. The
// batch-level fields go into b. The whole body is checked first, so that a
// syntax error anywhere refuses the request before anything is stored.
func scanCapture(body []byte, b *batchInfo) (*payload, *reqError) {
	if !json.Valid(body) {
		return nil, syntaxError(body)
	}
	start, end := trimSpan(body)
	switch body[start] {
	case '[':
		return &payload{body: body, kind: kindArray, start: start, end: end}, nil
	case '{':
	default:
		return nil, badRequest("invalid_payload", "expected a JSON object or array")
	}
	p := &payload{body: body, kind: kindSingle}
	dec := json.NewDecoder(bytes.NewReader(body))
	var apiKey, token string
	var raw json.RawMessage // reused: skipping a value allocates nothing once it is large enough
	if _, err := dec.Token(); err != nil {
		return nil, syntaxError(body)
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, syntaxError(body)
		}
		key, _ := kt.(string)
		if key != "batch" {
			if err := dec.Decode(&raw); err != nil {
				return nil, syntaxError(body)
			}
			switch key {
			case "api_key":
				apiKey = rawString(raw)
			case "token":
				token = rawString(raw)
			case "sent_at":
				b.sentAt = rawString(raw)
			case "historical_migration":
				b.historical = bytes.Equal(raw, []byte("true"))
			}
			continue
		}
		// Peek past the colon: the value of batch must be an array, whose
		// elements are skipped one by one rather than copied as a whole.
		i := int(dec.InputOffset())
		for i < len(body) && (isSpace(body[i]) || body[i] == ':') {
			i++
		}
		if i >= len(body) || body[i] != '[' {
			return nil, badRequest("invalid_payload", "batch: expected an array")
		}
		if _, err := dec.Token(); err != nil {
			return nil, syntaxError(body)
		}
		p.kind, p.start = kindArray, int(dec.InputOffset())-1
		for dec.More() {
			if err := dec.Decode(&raw); err != nil {
				return nil, syntaxError(body)
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, syntaxError(body)
		}
		p.end = int(dec.InputOffset())
	}
	if p.kind == kindArray {
		b.token = apiKey
		if b.token == "" {
			b.token = token
		}
	} else {
		b.sentAt, b.historical = "", false
	}
	return p, nil
}

// rawString is the value of a JSON string, or "" for any other value.
func rawString(raw []byte) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// scanGeneric finds the items of a generic body: one JSON value (an array's
// elements are the items), or NDJSON.
func scanGeneric(body []byte) *payload {
	start, end := trimSpan(body)
	switch {
	case start == end || !json.Valid(body):
		return &payload{body: body, kind: kindNDJSON}
	case body[start] == '[':
		return &payload{body: body, kind: kindArray, start: start, end: end}
	}
	return &payload{body: body, kind: kindSingle}
}

// empty reports whether the payload holds no item at all.
func (p *payload) empty() bool {
	switch p.kind {
	case kindArray:
		return len(bytes.TrimFunc(p.body[p.start+1:p.end-1], func(r rune) bool { return r < 128 && isSpace(byte(r)) })) == 0
	case kindNDJSON:
		return len(bytes.TrimFunc(p.body, func(r rune) bool { return r < 128 && isSpace(byte(r)) })) == 0
	}
	return false
}

// each decodes the items one by one and hands each to fn with its index;
// an item that does not decode is handed over as a rejection (NDJSON lines
// that are not JSON are rejected alone). fn's error stops the walk.
func (p *payload) each(fn func(i int, v any) error) error {
	switch p.kind {
	case kindSingle:
		v, err := event.ParseValue(p.body)
		if err != nil {
			return fn(0, rejection{Code: "invalid_json", Error: err.Error()})
		}
		return fn(0, v)
	case kindArray:
		dec := json.NewDecoder(bytes.NewReader(p.body[p.start:p.end]))
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("items: %w", err)
		}
		var raw json.RawMessage
		for i := 0; dec.More(); i++ {
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("items: %w", err)
			}
			var item any
			v, err := event.ParseValue(raw)
			if err != nil {
				item = rejection{Code: "invalid_json", Error: err.Error()}
			} else {
				item = v
			}
			if err := fn(i, item); err != nil {
				return err
			}
		}
		return nil
	}
	body, idx := p.body, 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var item any
		v, err := event.ParseValue(line)
		if err != nil {
			item = rejection{Code: "invalid_json", Error: "NDJSON record " + strconv.Itoa(idx+1) + ": " + err.Error()}
		} else {
			item = v
		}
		if err := fn(idx, item); err != nil {
			return err
		}
		idx++
	}
	return nil
}

// tokens resolves the project token of a capture payload whose batch has
// none: every item's own token, which must all agree (capture's
// MultipleTokensError). Items are decoded one at a time and dropped.
func (p *payload) token() (string, *reqError) {
	tok := ""
	var rerr *reqError
	err := p.each(func(_ int, v any) error {
		m, ok := v.(event.Map)
		if !ok {
			return nil
		}
		t := itemToken(m)
		if t == "" {
			return nil
		}
		if tok != "" && t != tok {
			rerr = badRequest("multiple_tokens", "the events of one request carry different tokens")
			return io.EOF
		}
		tok = t
		return nil
	})
	if rerr != nil {
		return "", rerr
	}
	if err != nil {
		return "", badRequest("invalid_json", err.Error())
	}
	return tok, nil
}
