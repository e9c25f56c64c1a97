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
	// kindArray: the items are the elements of the JSON array at arr.
	kindArray = iota
	// kindSingle: the whole body is one item.
	kindSingle
	// kindNDJSON: each non-blank line is an item (generic endpoint).
	kindNDJSON
)

// payload locates the items of a request body without decoding them all at
// once: a body of many tiny events costs several times its size as decoded
// values, so items are decoded one by one, and only a bounded run of events
// is held at a time (see handle). Locating them costs no allocation per
// item beyond its span.
type payload struct {
	body []byte
	kind int
	arr  int // kindArray: offset of the array's [
	n    int // kindArray: number of elements, or 1 for "some" (capture)
	// checked: the whole body is known to be JSON. Items are otherwise
	// checked one by one as they are decoded, which is enough while all
	// of them are stored together; before a request stores its first run
	// of several, the rest of the body is checked (see valid).
	checked bool
	// maxRaw: an item longer than this (max_event_bytes) is handed to
	// each's fn as a too_large rejection without being decoded; 0 for no
	// limit.
	maxRaw int
	// lease, when set, is charged the decoded memory of an item longer
	// than largeItem before it is decoded (see each).
	lease *lease
	// cost is the decoded memory of the item each last handed to fn, and
	// held the part of it charged to lease: each gives held back after fn
	// unless fn took it over (set it to 0).
	cost, held int64
}

// valueCost is the memory a decoded value or object key may take, at most:
// measured 113-126 bytes allocated per value for arrays of zeros, of empty
// strings and objects of many keys, the worst shapes (their stacks' growth
// included). An item is charged its length plus valueCost per value.
const valueCost = 128

// largeItem is the length above which an item's decoded memory is charged
// to the request's lease before it is decoded. Below it an item costs at
// most valueCost times as much, which the request's reserve covers.
const largeItem = 4 << 10

// errStructure reports a body whose brackets, commas or strings do not
// line up.
var errStructure = errors.New("invalid JSON")

func jsonError(at int, what string) error {
	return fmt.Errorf("%w: %s at offset %d", errStructure, what, at)
}

// walkArray calls fn with the span of each element of the array at
// body[i] and returns the index after the array. It checks the commas and
// brackets between the elements; each element itself is checked when it
// is decoded. fn's error stops the walk.
func walkArray(body []byte, i int, fn func(k, start, end int) error) (int, error) {
	i = event.SkipSpace(body, i+1)
	if i < len(body) && body[i] == ']' {
		return i + 1, nil
	}
	for k := 0; ; k++ {
		end := event.SkipValue(body, i)
		if end < 0 {
			return 0, jsonError(i, "unterminated value")
		}
		if fn != nil {
			if err := fn(k, i, end); err != nil {
				return 0, err
			}
		}
		i = event.SkipSpace(body, end)
		if i >= len(body) {
			return 0, jsonError(i, "unexpected end of input in an array")
		}
		switch body[i] {
		case ',':
			i = event.SkipSpace(body, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, jsonError(i, "expected , or ] after an array element")
		}
	}
}

// arrayEnd returns the index after the array at body[i] and whether it has
// no element. Unlike arrayItems it does not check the commas between the
// elements: the walk that decodes them does, and payload.valid checks the
// whole body before a request stores its first run of several.
func arrayEnd(body []byte, i int) (int, bool, error) {
	end := event.SkipValue(body, i)
	if end < 0 || body[end-1] != ']' {
		return 0, false, jsonError(i, "unterminated array")
	}
	return end, event.SkipSpace(body, i+1) == end-1, nil
}

// arrayItems counts the elements of the array at body[i] and returns the
// index after it.
func arrayItems(body []byte, i int) (int, int, error) {
	n := 0
	end, err := walkArray(body, i, func(int, int, int) error { n++; return nil })
	return n, end, err
}

// atEnd checks that only whitespace follows body[i:].
func atEnd(body []byte, i int) error {
	if j := event.SkipSpace(body, i); j != len(body) {
		return jsonError(j, "unexpected data after the JSON value")
	}
	return nil
}

// scanCapture finds the items of a capture body in the order PostHog
// capture tries its shapes: array, {"batch": [...]}, single event. The
// batch-level fields go into b, wherever they are in the object.
func scanCapture(body []byte, b *batchInfo) (*payload, *reqError) {
	i := event.SkipSpace(body, 0)
	if i >= len(body) {
		return nil, badRequest("empty_payload", "empty body")
	}
	bad := func(err error) (*payload, *reqError) { return nil, badRequest("invalid_json", err.Error()) }
	switch body[i] {
	case '[':
		end, empty, err := arrayEnd(body, i)
		if err == nil {
			err = atEnd(body, end)
		}
		if err != nil {
			return bad(err)
		}
		return &payload{body: body, kind: kindArray, arr: i, n: boolInt(!empty)}, nil
	case '{':
	default:
		if json.Valid(body) {
			return nil, badRequest("invalid_payload", "expected a JSON object or array")
		}
		return bad(jsonError(i, "expected a JSON object or array"))
	}
	// The top-level object: the values of the batch-level keys are decoded,
	// the others checked without decoding them (the properties of a single
	// event can be large, and decoding them costs many times their size);
	// batch's elements are located.
	p := &payload{body: body, kind: kindSingle}
	var apiKey, token, sentAt string
	historical, isBatch := false, false
	i = event.SkipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			if i >= len(body) || body[i] != '"' {
				return bad(jsonError(i, "expected a key"))
			}
			kEnd := event.SkipString(body, i)
			if kEnd < 0 {
				return bad(jsonError(i, "unterminated key"))
			}
			kv, err := event.ParseValue(body[i:kEnd])
			if err != nil {
				return bad(err)
			}
			key, _ := kv.(string)
			i = event.SkipSpace(body, kEnd)
			if i >= len(body) || body[i] != ':' {
				return bad(jsonError(i, "expected :"))
			}
			i = event.SkipSpace(body, i+1)
			if key == "batch" && i < len(body) && body[i] == '[' {
				end, empty, err := arrayEnd(body, i)
				if err != nil {
					return bad(err)
				}
				p.arr, p.n, isBatch, i = i, boolInt(!empty), true, end
			} else {
				end := event.SkipValue(body, i)
				if end < 0 {
					return bad(jsonError(i, "unterminated value"))
				}
				var v any
				var err error
				switch key {
				case "batch", "api_key", "token", "sent_at", "historical_migration":
					v, err = event.ParseValue(body[i:end])
				default:
					err = checkParsable(body[i:end], i)
				}
				if err != nil {
					return bad(err)
				}
				switch key {
				case "batch":
					return nil, badRequest("invalid_payload", "batch: expected an array")
				case "api_key":
					apiKey, _ = v.(string)
				case "token":
					token, _ = v.(string)
				case "sent_at":
					sentAt, _ = v.(string)
				case "historical_migration":
					historical = v == true
				}
				i = end
			}
			i = event.SkipSpace(body, i)
			if i < len(body) && body[i] == ',' {
				i = event.SkipSpace(body, i+1)
				continue
			}
			if i < len(body) && body[i] == '}' {
				i++
				break
			}
			return bad(jsonError(i, "expected , or } in an object"))
		}
	}
	if err := atEnd(body, i); err != nil {
		return bad(err)
	}
	if isBatch {
		p.kind = kindArray
		b.token, b.sentAt, b.historical = apiKey, sentAt, historical
		if b.token == "" {
			b.token = token
		}
	}
	return p, nil
}

// scanGeneric finds the items of a generic body: one JSON value (an array's
// elements are the items), or NDJSON.
func scanGeneric(body []byte) *payload {
	i := event.SkipSpace(body, 0)
	if i < len(body) && (body[i] == '[' || body[i] == '{') {
		if body[i] == '[' {
			if n, end, err := arrayItems(body, i); err == nil && atEnd(body, end) == nil {
				return &payload{body: body, kind: kindArray, arr: i, n: n}
			}
		} else if end := event.SkipValue(body, i); end > 0 && atEnd(body, end) == nil {
			return &payload{body: body, kind: kindSingle}
		}
	}
	return &payload{body: body, kind: kindNDJSON}
}

// empty reports whether the payload holds no item at all.
func (p *payload) empty() bool {
	switch p.kind {
	case kindArray:
		return p.n == 0
	case kindNDJSON:
		return event.SkipSpace(p.body, 0) == len(p.body)
	}
	return false
}

// valid checks the whole body, once: a request that is stored in several
// runs must be known to be JSON before its first run is stored.
func (p *payload) valid() error {
	if p.checked || p.kind == kindNDJSON {
		return nil
	}
	p.checked = true
	return checkParsable(p.body, 0)
}

// checkParsable reports whether b (found at offset off of the body) is
// JSON that ParseValue accepts, without decoding it. json.Valid accepts
// numbers beyond float64 that ParseValue refuses, as capture's parser
// does: a request stored in runs must not fail at one of them after its
// first run is stored.
func checkParsable(b []byte, off int) error {
	if err := checkJSON(b); err != nil {
		return err
	}
	if at := event.NumberOutOfRange(b); at >= 0 {
		end := at + 1
		for end < len(b) && bytes.IndexByte([]byte("0123456789.eE+-"), b[end]) >= 0 {
			end++
		}
		return fmt.Errorf("%w: number %s out of range (offset %d)", errStructure, b[at:end], off+at)
	}
	return nil
}

// checkJSON reports whether b is JSON, without decoding it.
func checkJSON(b []byte) error {
	if json.Valid(b) {
		return nil
	}
	err := json.Unmarshal(b, new(struct{}))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s (offset %d)", errStructure, se.Error(), se.Offset)
	}
	return errStructure
}

// sharedDocMax is the largest body decoded as one document (see each).
const sharedDocMax = 1 << 20

// syntaxError is an item that is not JSON: on the capture paths the whole
// request is refused, as capture does.
type syntaxError struct{ err error }

func (e syntaxError) Error() string { return e.err.Error() }

// each decodes the items one by one and hands each to fn with its index.
// An item that does not decode is handed over as a rejection on the
// generic endpoint (an NDJSON line or array element that is not JSON is
// rejected alone); on capture paths it stops the walk with a syntaxError.
// fn's error stops the walk.
func (p *payload) each(capture bool, fn func(i int, v any) error) error {
	// A small body is decoded as one document (its strings share one
	// copy); a large one item by item, so that the copy of a run's strings
	// goes with the run instead of pinning a copy of the whole body.
	var shared *event.Values
	if len(p.body) <= sharedDocMax {
		shared = event.NewValues(p.body)
	}
	parse := func(start, end int) (any, int, error) {
		vs, from, to := shared, start, end
		if vs == nil {
			vs, from, to = event.NewValues(p.body[start:end]), 0, end-start
		}
		v, err := vs.Parse(from, to)
		return v, vs.Count(), err
	}
	item := func(i, start, end int, what string) error {
		raw := p.body[start:end]
		if p.maxRaw > 0 && len(raw) > p.maxRaw {
			// Not decoded: its values could take 50 times its size.
			if err := checkJSON(raw); err != nil {
				if capture {
					return syntaxError{fmt.Errorf("item %d: %w", i, err)}
				}
				return fn(i, rejection{Code: "invalid_json", Error: what + err.Error()})
			}
			p.cost = int64(len(raw))
			return fn(i, rejection{Code: "too_large", Error: fmt.Sprintf("event is %d bytes as received, more than max_event_bytes (%d)", len(raw), p.maxRaw), raw: raw})
		}
		if p.lease != nil && len(raw) > largeItem {
			c := int64(len(raw)) + valueCost*int64(event.CountValues(raw))
			if !p.lease.take(c) {
				return errBudget
			}
			p.held = c
		}
		v, n, err := parse(start, end)
		p.cost = int64(len(raw)) + valueCost*int64(n)
		defer func() {
			// What fn did not take over is garbage once fn returns.
			p.lease.give(p.held)
			p.held = 0
		}()
		if err != nil {
			if capture {
				if p.kind == kindArray {
					err = fmt.Errorf("item %d: %w", i, err)
				}
				return syntaxError{err}
			}
			return fn(i, rejection{Code: "invalid_json", Error: what + err.Error()})
		}
		return fn(i, v)
	}
	switch p.kind {
	case kindSingle:
		return item(0, 0, len(p.body), "")
	case kindArray:
		_, err := walkArray(p.body, p.arr, func(k, start, end int) error {
			return item(k, start, end, "")
		})
		return err
	}
	idx := 0
	for start := 0; start < len(p.body); {
		end := len(p.body)
		if i := bytes.IndexByte(p.body[start:], '\n'); i >= 0 {
			end = start + i
		}
		next := end + 1
		start = event.SkipSpace(p.body, start)
		if start < end {
			if err := item(idx, start, end, "NDJSON record "+strconv.Itoa(idx+1)+": "); err != nil {
				return err
			}
			idx++
		}
		start = next
	}
	return nil
}

// token resolves the project token of a capture payload whose batch has
// none: every item's own token, which must all agree (capture's
// MultipleTokensError). Items are decoded one at a time and dropped; all
// of them are, so the body is checked as a whole on the way.
func (p *payload) token() (string, *reqError) {
	tok := ""
	var rerr *reqError
	err := p.each(true, func(_ int, v any) error {
		var t string
		switch it := v.(type) {
		case event.Map:
			t = itemToken(it)
		case rejection:
			t = rawItemToken(it.raw)
		}
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
	if errors.Is(err, errBudget) {
		return "", readError(err, "")
	}
	if err != nil {
		return "", badRequest("invalid_json", err.Error())
	}
	p.checked = true
	return tok, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
