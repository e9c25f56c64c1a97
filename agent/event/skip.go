package event

import (
	"bytes"
	"strconv"
)

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipString returns the index after the closing quote of the JSON string
// that starts at b[i], or -1.
func SkipString(b []byte, i int) int {
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		j += q
		// The quote is escaped when an odd number of backslashes
		// precede it.
		bs := 0
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1
		}
		j++
	}
}

// SkipValue returns the index after the JSON value that starts at b[i], or
// -1. It finds where a value ends without decoding it or allocating, for
// locating fields and items; it is not a validator: it checks strings and
// bracket nesting only, and ParseValue is what tells whether the value is
// JSON.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = SkipString(b, j)
				if j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// CountValues scans the JSON text b without decoding it and returns how
// many values and object keys it holds (each string, number, literal,
// array and object counts one; a key counts one more), as Values.Count
// reports them after decoding. A request handler uses it to charge a
// large item's decoded memory before decoding it: that memory grows with
// the count, not with the bytes (an array of zeros costs 50 times its
// text). b need not be valid; the count is then only an estimate.
func CountValues(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			j := SkipString(b, i)
			if j < 0 {
				return n + 1
			}
			n++
			i = j
			continue
		case c == '{' || c == '[':
			n++
		case c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n':
			n++
			i = scalarEnd(b, i)
			continue
		}
		i++
	}
	return n
}

// NumberOutOfRange returns the offset of the first number of the JSON text
// b that ParseValue refuses because a float64 cannot hold it (1e400, as
// encoding/json refuses it too, though json.Valid accepts it), or -1.
// Strings are skipped.
func NumberOutOfRange(b []byte) int {
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			j := SkipString(b, i)
			if j < 0 {
				return -1
			}
			i = j
			continue
		case c == '-' || (c >= '0' && c <= '9'):
			j := scalarEnd(b, i)
			if outOfRange(b[i:j]) {
				return i
			}
			i = j
			continue
		}
		i++
	}
	return -1
}

// scalarEnd returns the index after the number or literal at b[i].
func scalarEnd(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ':', ' ', '\t', '\n', '\r', '"', '{', '[':
			return i
		}
		i++
	}
	return i
}

// outOfRange reports whether the number text t (JSON syntax) is beyond
// float64, as ParseValue's number finds it. Only an exponent or hundreds of
// digits can get there, so other numbers are not parsed.
func outOfRange(t []byte) bool {
	if len(t) < 300 && bytes.IndexAny(t, "eE") < 0 {
		return false
	}
	_, err := strconv.ParseFloat(UnsafeString(t), 64)
	return err != nil
}
