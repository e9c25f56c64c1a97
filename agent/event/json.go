package event

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the PostHog JSON form of e to dst. Keys come out in a
// fixed order (uuid, event, distinct_id, timestamp, properties, extras), and
// properties keep their order.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"uuid":`...)
	dst = AppendString(dst, e.UUID)
	dst = append(dst, `,"event":`...)
	dst = AppendString(dst, e.Event)
	dst = append(dst, `,"distinct_id":`...)
	dst = AppendString(dst, e.DistinctID)
	switch {
	case e.Timestamp != "" && e.TimestampIsNumber:
		dst = append(dst, `,"timestamp":`...)
		dst = append(dst, e.Timestamp...)
	case e.Timestamp != "":
		dst = append(dst, `,"timestamp":`...)
		dst = AppendString(dst, e.Timestamp)
	}
	dst = append(dst, `,"properties":`...)
	dst = appendMap(dst, e.Properties)
	if e.Set != nil {
		dst = append(dst, `,"$set":`...)
		dst = appendMap(dst, e.Set)
	}
	if e.SetOnce != nil {
		dst = append(dst, `,"$set_once":`...)
		dst = appendMap(dst, e.SetOnce)
	}
	dst = appendOptString(dst, `,"ip":`, e.IP)
	dst = appendOptString(dst, `,"site_url":`, e.SiteURL)
	if e.TeamID != 0 {
		dst = append(dst, `,"team_id":`...)
		dst = strconv.AppendInt(dst, e.TeamID, 10)
	}
	dst = appendOptString(dst, `,"now":`, e.Now)
	dst = appendOptString(dst, `,"sent_at":`, e.SentAt)
	for _, f := range e.Extra {
		dst = append(dst, ',')
		dst = AppendString(dst, f.Key)
		dst = append(dst, ':')
		dst = AppendValue(dst, f.Value)
	}
	return append(dst, '}')
}

func appendOptString(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, key...)
	return AppendString(dst, v)
}

// MarshalJSON implements json.Marshaler.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(nil), nil
}

// MarshalJSON implements json.Marshaler, keeping key order.
func (m Map) MarshalJSON() ([]byte, error) {
	return appendMap(nil, m), nil
}

// AppendValue appends the JSON encoding of v. Unknown types go through
// encoding/json.
func AppendValue(dst []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return AppendString(dst, t)
	case bool:
		return strconv.AppendBool(dst, t)
	case int64:
		return strconv.AppendInt(dst, t, 10)
	case int:
		return strconv.AppendInt(dst, int64(t), 10)
	case float64:
		return appendFloat(dst, t)
	case json.Number:
		return append(dst, t...)
	case Map:
		return appendMap(dst, t)
	case []any:
		dst = append(dst, '[')
		for i := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendValue(dst, t[i])
		}
		return append(dst, ']')
	case []string:
		dst = append(dst, '[')
		for i := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, t[i])
		}
		return append(dst, ']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			dst = AppendValue(dst, t[k])
		}
		return append(dst, '}')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return AppendString(dst, fmt.Sprint(v))
		}
		return append(dst, b...)
	}
}

// appendMap encodes m in order; a nil Map is {}. Called directly (not
// through AppendValue) on hot paths: boxing a slice into an interface
// allocates.
func appendMap(dst []byte, m Map) []byte {
	dst = append(dst, '{')
	for i, f := range m {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, f.Key)
		dst = append(dst, ':')
		dst = AppendValue(dst, f.Value)
	}
	return append(dst, '}')
}

// appendFloat formats like encoding/json (and like JavaScript for the common
// range): integers without a fraction, exponent form only for extremes.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes that need no escaping in a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// with encoding/json; U+2028/U+2029 are escaped so the output is valid JS.
//
// Log lines are mostly plain ASCII, and lines that are themselves JSON have
// a quote every few bytes. So s is read eight bytes at a time: a word is
// stored as is, and each quote or backslash in it is escaped by storing the
// rest of the word again one byte further, without reading s again or
// leaving the loop. Words with a control or non-ASCII byte take the general
// path, a byte or a rune at a time. AppendString may use up to 16 bytes of
// dst's spare capacity beyond the returned length as scratch.
func AppendString(dst []byte, s string) []byte {
	n := len(dst)
	// Room: an escape at most doubles what it reads (the general path
	// makes sure of more for \u00XX), plus the quotes and store slop.
	dst = reserve(dst, n, 2*len(s)+18)
	dst[n] = '"'
	n++
	src := unsafeBytes(s)
	i := 0
	for {
		for i+8 <= len(src) {
			x := binary.LittleEndian.Uint64(src[i:])
			binary.LittleEndian.PutUint64(dst[n:], x)
			// Exact per-byte flags (the high bit of each byte): the
			// (v&low7)+low7 form never carries across bytes.
			vq := x ^ (ones8 * '"')
			vb := x ^ (ones8 * '\\')
			q := ^(((vq & low7) + low7) | vq) & high8
			b := ^(((vb & low7) + low7) | vb) & high8
			other := (^((x & low7) + ones8*0x60 | x) | x) & high8
			if other != 0 {
				break
			}
			m := q | b
			ins := 0
			for m != 0 {
				j := bits.TrailingZeros64(m) >> 3
				binary.LittleEndian.PutUint64(dst[n+j+ins+1:], x>>(8*j))
				dst[n+j+ins] = '\\'
				ins++
				m &= m - 1
			}
			i, n = i+8, n+8+ins
		}
		for i < len(src) && src[i] < utf8.RuneSelf && jsonSafe[src[i]] {
			dst[n] = src[i]
			i, n = i+1, n+1
		}
		if i == len(src) {
			break
		}
		// One step of the general path: a word with a control or
		// non-ASCII byte, or the last bytes (safe ones were copied just
		// above, so c needs escaping or is the start of a rune).
		if len(dst)-n < 2*(len(src)-i)+16 {
			dst = reserve(dst, n, 2*(len(src)-i)+16)
		}
		c := src[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst[n], dst[n+1] = '\\', c
				n += 2
			case c == '\n':
				dst[n], dst[n+1] = '\\', 'n'
				n += 2
			case c == '\r':
				dst[n], dst[n+1] = '\\', 'r'
				n += 2
			case c == '\t':
				dst[n], dst[n+1] = '\\', 't'
				n += 2
			default:
				n += copy(dst[n:], `\u00`)
				dst[n], dst[n+1] = hexDigits[c>>4], hexDigits[c&0xf]
				n += 2
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += copy(dst[n:], `\ufffd`)
		case r == '\u2028' || r == '\u2029':
			n += copy(dst[n:], `\u202`)
			dst[n] = hexDigits[r&0xf]
			n++
		default:
			n += copy(dst[n:], src[i:i+size])
		}
		i += size
	}
	dst[n] = '"'
	return dst[:n+1]
}

// reserve returns dst (of which the first n bytes are kept) resliced to its
// full capacity, grown so that at least extra bytes follow n.
func reserve(dst []byte, n, extra int) []byte {
	if cap(dst)-n < extra {
		grown := make([]byte, n, max(2*cap(dst), n+extra))
		copy(grown, dst[:n])
		dst = grown
	}
	return dst[:cap(dst)]
}

const (
	ones8 = 0x0101010101010101
	low7  = 0x7f7f7f7f7f7f7f7f
	high8 = 0x8080808080808080
)

// ParseValue decodes one JSON value, keeping object key order (objects become
// Map). Integers that fit become int64, other numbers float64. Invalid UTF-8
// in strings becomes U+FFFD, as with encoding/json.
func ParseValue(data []byte) (any, error) {
	p := parser{data: data, str: string(data)}
	return p.run()
}

// run decodes the value at p.pos, which must end the data, with pooled
// stacks.
func (p *parser) run() (any, error) {
	st := stacks.Get().(*parseStacks)
	p.fields, p.items = st.fields[:0], st.items[:0]
	v, err := p.value()
	// Every finished object and array leaves the stacks empty and cleared;
	// after an error they may hold values.
	if err != nil {
		clear(p.fields)
		clear(p.items)
	}
	if cap(p.fields) <= maxPooledStack && cap(p.items) <= maxPooledStack {
		st.fields, st.items = p.fields[:0], p.items[:0]
		stacks.Put(st)
	}
	p.fields, p.items = nil, nil
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.fail("unexpected data after the JSON value")
	}
	return v, nil
}

// Values decodes many JSON values out of one document, such as the
// elements of a large array one at a time, each as ParseValue would.
// Their strings share one copy of the document, and their scalars share
// slabs, so a value costs what it would inside one ParseValue of the
// whole document, without the whole document being decoded at once. Not
// safe for concurrent use.
type Values struct {
	data []byte
	str  string
	p    parser
}

// NewValues returns a decoder of values in data. data is copied once.
func NewValues(data []byte) *Values {
	return &Values{data: data, str: string(data)}
}

// Parse decodes the value in data[start:end] (surrounding whitespace
// allowed). Error offsets count from the start of data.
func (v *Values) Parse(start, end int) (any, error) {
	v.p.data, v.p.str, v.p.pos, v.p.depth, v.p.values = v.data[:end], v.str[:end], start, 0, 0
	return v.p.run()
}

// Count is how many values and object keys the last Parse decoded, as
// CountValues counts them: what the decoded value's memory grows with.
func (v *Values) Count() int { return v.p.values }

// UnmarshalJSON implements json.Unmarshaler, keeping key order.
func (m *Map) UnmarshalJSON(data []byte) error {
	v, err := ParseValue(data)
	if err != nil {
		return err
	}
	switch t := v.(type) {
	case Map:
		*m = t
	case nil:
		*m = nil
	default:
		return fmt.Errorf("expected a JSON object, got %s", jsonKind(v))
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case []any:
		return "an array"
	case Map:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// UnmarshalJSON decodes a PostHog event object. Known keys fill the typed
// fields; everything else is kept in Extra. It does not assign a uuid.
func (e *Event) UnmarshalJSON(data []byte) error {
	v, err := ParseValue(data)
	if err != nil {
		return err
	}
	m, ok := v.(Map)
	if !ok {
		return fmt.Errorf("event must be a JSON object, got %s", jsonKind(v))
	}
	return e.FromMap(m)
}

// FromMap fills e from a decoded JSON object. distinct_id numbers are turned
// into strings, as PostHog ingestion does.
func (e *Event) FromMap(m Map) error {
	*e = Event{}
	for _, f := range m {
		switch f.Key {
		case "uuid":
			e.UUID = stringOf(f.Value)
		case "event":
			s, ok := f.Value.(string)
			if !ok && f.Value != nil {
				return fmt.Errorf("event: expected a string, got %s", jsonKind(f.Value))
			}
			e.Event = s
		case "distinct_id":
			e.DistinctID = stringOf(f.Value)
		case "timestamp":
			e.Timestamp = stringOf(f.Value)
			switch f.Value.(type) {
			case int64, float64:
				e.TimestampIsNumber = true
			}
		case "properties":
			switch p := f.Value.(type) {
			case Map:
				e.Properties = p
			case nil:
			default:
				return fmt.Errorf("properties: expected an object, got %s", jsonKind(f.Value))
			}
		case "$set":
			e.Set, _ = f.Value.(Map)
		case "$set_once":
			e.SetOnce, _ = f.Value.(Map)
		case "ip":
			e.IP = stringOf(f.Value)
		case "site_url":
			e.SiteURL = stringOf(f.Value)
		case "team_id":
			switch n := f.Value.(type) {
			case int64:
				e.TeamID = n
			case float64:
				e.TeamID = int64(n)
			}
		case "now":
			e.Now = stringOf(f.Value)
		case "sent_at":
			e.SentAt = stringOf(f.Value)
		default:
			e.Extra = append(e.Extra, f)
		}
	}
	return nil
}

// stringOf renders scalars as strings (numbers in their JSON form); objects
// and arrays as JSON text; null as "".
func stringOf(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	default:
		return string(AppendValue(nil, v))
	}
}
