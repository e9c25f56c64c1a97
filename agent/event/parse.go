package event

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// parser decodes JSON into Map/[]any values in one pass over the bytes.
//
// encoding/json cannot decode objects into an ordered form except through
// Decoder.Token, which allocates for every token and runs about 10× slower;
// events must keep their key order (plugins observe it), and decoding is on
// the hot path of the HTTP source and the file source's json codec. The
// grammar is RFC 8259; FuzzParseValue checks it against encoding/json.
type parser struct {
	data []byte
	// str is data as one string: unescaped strings are substrings of it,
	// so a document costs one string allocation, not one per string.
	str   string
	pos   int
	depth int
	// values counts the values and keys decoded (see Values.Count).
	values int
	// fields and items are stacks of the objects and arrays being parsed:
	// a finished one is copied out at its exact size, so a value does not
	// reallocate as it grows.
	fields []Field
	items  []any
	// strs, ints and floats box scalar values from slabs (see box.go): one
	// allocation per slab instead of one per value.
	strs   []string
	ints   []int64
	floats []float64
}

// parseStacks are a parser's fields and items, kept between documents:
// growing them afresh for every log line cost more than the values.
type parseStacks struct {
	fields []Field
	items  []any
}

var stacks = sync.Pool{New: func() any { return new(parseStacks) }}

// maxPooledStack keeps the stacks of a rare huge document out of the pool.
const maxPooledStack = 1 << 14

// slabLen sizes the parser's slabs by the document: a log line needs a
// few values, a capture batch thousands.
func (p *parser) slabLen() int {
	return min(256, max(8, len(p.data)/32))
}

func (p *parser) boxString(s string) any { return boxFrom(&p.strs, p.slabLen(), s, BoxString) }
func (p *parser) boxInt(i int64) any     { return boxFrom(&p.ints, p.slabLen(), i, BoxInt64) }
func (p *parser) boxFloat(f float64) any { return boxFrom(&p.floats, p.slabLen()/4+1, f, BoxFloat64) }

// boxFrom stores v in the next element of *slab (a new slab of n when it
// is used up) and boxes that element.
func boxFrom[T any](slab *[]T, n int, v T, box func(*T) any) any {
	if len(*slab) == 0 {
		*slab = make([]T, n)
	}
	(*slab)[0] = v
	r := box(&(*slab)[0])
	*slab = (*slab)[1:]
	return r
}

const maxDepth = 10000

var errSyntax = errors.New("invalid JSON")

func (p *parser) fail(what string) error {
	if p.pos >= len(p.data) {
		return fmt.Errorf("%w: unexpected end of input (%s)", errSyntax, what)
	}
	return fmt.Errorf("%w: %s at offset %d", errSyntax, what, p.pos)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (any, error) {
	p.values++
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.fail("expected a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return p.boxString(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", nil)
	}
	return nil, p.fail("unexpected character")
}

func (p *parser) literal(word string, v any) (any, error) {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return v, nil
	}
	return nil, p.fail("invalid literal")
}

func (p *parser) object() (any, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, p.fail("nested too deeply")
	}
	defer func() { p.depth-- }()
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return Map{}, nil
	}
	base := len(p.fields)
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a string key")
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.values++
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.fields = append(p.fields, Field{Key: key, Value: v})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("expected ',' or '}'")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			m := make(Map, len(p.fields)-base)
			copy(m, p.fields[base:])
			clear(p.fields[base:])
			p.fields = p.fields[:base]
			return dedupe(m), nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

func (p *parser) array() (any, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, p.fail("nested too deeply")
	}
	defer func() { p.depth-- }()
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return []any{}, nil
	}
	base := len(p.items)
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.items = append(p.items, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("expected ',' or ']'")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			arr := make([]any, len(p.items)-base)
			copy(arr, p.items[base:])
			clear(p.items[base:])
			p.items = p.items[:base]
			return arr, nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}

// string decodes a string starting at the opening quote. Strings without
// escapes (the common case) are substrings of the document.
func (p *parser) string() (string, error) {
	p.pos++ // "
	start := p.pos
	ascii := true
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			raw := p.data[start:p.pos]
			p.pos++
			if !ascii && !utf8.Valid(raw) {
				return fixUTF8(string(raw)), nil
			}
			return p.str[start : p.pos-1], nil
		case c == '\\':
			return p.escapedString(start)
		case c < 0x20:
			return "", p.fail("control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.pos++
	}
	return "", p.fail("unterminated string")
}

func (p *parser) escapedString(start int) (string, error) {
	var b strings.Builder
	b.Grow(p.pos - start + 16)
	b.Write(p.data[start:p.pos])
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			s := b.String()
			if !utf8.ValidString(s) {
				s = fixUTF8(s)
			}
			return s, nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c != '\\':
			// Copy the run of plain bytes up to the next quote, escape or
			// control character at once: escaped JSON inside a string has
			// a few plain bytes between escapes, and WriteByte per byte
			// was most of its cost.
			end := p.pos + 1
			for end < len(p.data) {
				if d := p.data[end]; d == '"' || d == '\\' || d < 0x20 {
					break
				}
				end++
			}
			b.Write(p.data[p.pos:end])
			p.pos = end
			continue
		}
		p.pos++ // backslash
		if p.pos >= len(p.data) {
			break
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate must be followed by \uDC00-\uDFFF; a
				// lone one becomes U+FFFD, as with encoding/json.
				save := p.pos
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					p.pos += 2
					if r2, ok := p.hex4(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b.WriteRune(dec)
							continue
						}
					}
				}
				p.pos = save
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default:
			p.pos--
			return "", p.fail("invalid escape")
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// number decodes an RFC 8259 number: int64 when it is an integer that fits,
// float64 otherwise.
func (p *parser) number() (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if digits() == 0 {
		return nil, p.fail("invalid number")
	}
	if p.data[intStart] == '0' && p.pos-intStart > 1 {
		return nil, p.fail("leading zero in number")
	}
	isInt := true
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		isInt = false
		p.pos++
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		isInt = false
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	text := unsafeString(p.data[start:p.pos])
	if isInt {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return p.boxInt(i), nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		// Out of range: encoding/json refuses these too.
		return nil, fmt.Errorf("%w: number %s out of range", errSyntax, text)
	}
	return p.boxFloat(f), nil
}

// unsafeString views b as a string without copying; only for immediate
// parsing (strconv does not retain its argument).
func unsafeString(b []byte) string { return UnsafeString(b) }

// fixUTF8 replaces each invalid byte with U+FFFD, as encoding/json does.
func fixUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// dedupe applies JSON.parse's rule to duplicate keys: the key keeps the
// position of its first occurrence and the value of its last. Duplicates
// are rare, so the common case is one pass with no allocation for small
// objects.
func dedupe(m Map) Map {
	if len(m) < 2 {
		return m
	}
	if len(m) <= 16 {
		dup := false
		for i := 1; i < len(m) && !dup; i++ {
			for j := 0; j < i; j++ {
				if m[i].Key == m[j].Key {
					dup = true
					break
				}
			}
		}
		if !dup {
			return m
		}
	}
	first := make(map[string]int, len(m))
	out := m[:0]
	for _, f := range m {
		if i, ok := first[f.Key]; ok {
			out[i].Value = f.Value
			continue
		}
		first[f.Key] = len(out)
		out = append(out, f)
	}
	return out
}
