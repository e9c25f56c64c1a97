package syslogsource

import (
	"bytes"
	"unicode/utf8"
)

// Loose parsing: real senders deviate from RFC 3164 and RFC 5424 in a few
// common ways that go-syslog rejects. When go-syslog fails on a message,
// repairLoose rewrites those deviations into the strict form and the
// message is parsed again by go-syslog; go-syslog's first answer stands
// when nothing was repaired or the repaired message fails too. Vector's
// syslog-loose accepts the same deviations.

// repairLoose returns msg rewritten into the strict form (into dst's
// storage), or false when none of the known deviations is found.
func repairLoose(dst, msg []byte) ([]byte, bool) {
	_, rest, ok := leadingPRI(msg)
	if !ok {
		return nil, false
	}
	head := len(msg) - len(rest)
	if out, ok := repairDay(dst, msg, head); ok {
		return out, true
	}
	return repairSD(dst, msg, head)
}

// repairDay turns an RFC 3164 timestamp with a single-digit day after one
// space ("Jan 5 10:01:00") into the padded form ("Jan  5 10:01:00").
func repairDay(dst, msg []byte, head int) ([]byte, bool) {
	r := msg[head:]
	if len(r) < 8 || !isUpper(r[0]) || !isLower(r[1]) || !isLower(r[2]) || r[3] != ' ' ||
		r[4] < '1' || r[4] > '9' || r[5] != ' ' || !isDigit(r[6]) || !isDigit(r[7]) {
		return nil, false
	}
	out := append(dst[:0], msg[:head+4]...)
	out = append(out, ' ')
	return append(out, msg[head+4:]...), true
}

// repairSD removes spaces after "=" in the structured data of an RFC 5424
// message (`[id@1 key= "value"]` becomes `[id@1 key="value"]`); quoted
// values are left as they are.
func repairSD(dst, msg []byte, head int) ([]byte, bool) {
	// <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD
	i := head
	if i >= len(msg) || !isDigit(msg[i]) {
		return nil, false
	}
	for spaces := 0; spaces < 6; spaces++ {
		sp := bytes.IndexByte(msg[i:], ' ')
		if sp < 0 {
			return nil, false
		}
		i += sp + 1
	}
	if i >= len(msg) || msg[i] != '[' {
		return nil, false
	}
	out := append(dst[:0], msg[:i]...)
	changed := false
	inElem, inValue := false, false
	for ; i < len(msg); i++ {
		c := msg[i]
		switch {
		case inValue:
			out = append(out, c)
			if c == '\\' && i+1 < len(msg) {
				i++
				out = append(out, msg[i])
			} else if c == '"' {
				inValue = false
			}
			continue
		case !inElem:
			if c != '[' {
				// The end of the structured data: the rest is MSG.
				return append(out, msg[i:]...), changed
			}
			inElem = true
		case c == ']':
			inElem = false
		case c == '"':
			inValue = true
		case c == '=':
			out = append(out, c)
			j := i + 1
			for j < len(msg) && msg[j] == ' ' {
				j++
			}
			if j > i+1 && j < len(msg) && msg[j] == '"' {
				changed = true
				i = j - 1
			}
			continue
		}
		out = append(out, c)
	}
	return out, changed
}

// bomInvalid reports an RFC 5424 MSG that announces UTF-8 with a BOM but
// is not valid UTF-8: RFC 5424 section 6.4 requires it to be. The message
// is kept (invalid bytes replaced) and flagged.
func bomInvalid(msg string) bool {
	return len(msg) >= 3 && msg[0] == 0xEF && msg[1] == 0xBB && msg[2] == 0xBF && !utf8.ValidString(msg)
}

const bomInvalidError = "MSG starts with a UTF-8 BOM but is not valid UTF-8 (RFC 5424 section 6.4); invalid bytes replaced by U+FFFD"

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
