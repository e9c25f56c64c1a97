package syslogsource

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// framer splits a TCP/TLS byte stream into messages: RFC 6587 octet
// counting ("<len> <msg>") or non-transparent framing (one message per
// line), chosen from the first byte of the connection (a digit means octet
// counting, as syslog-ng and rsyslog decide).
//
// go-syslog's octetcounting and nontransparent parsers do the same over an
// io.Reader with a callback, but they neither hand back the raw bytes of a
// message that does not parse (kept as text with $parse_error), nor say
// whether more data is already buffered (which is how a busy connection's
// messages are gathered into one Emit), nor recover from an oversized
// frame; hence this small framer, with go-syslog doing the parsing.
type framer struct {
	br      *bufio.Reader
	max     int
	octet   bool
	decided bool
	scratch []byte
}

// errFraming means the stream cannot be split any further.
var errFraming = errors.New("invalid octet-counting frame")

func newFramer(r io.Reader, max int) *framer {
	return &framer{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

func (f *framer) decide() error {
	if f.decided {
		return nil
	}
	b, err := f.br.Peek(1)
	if err != nil {
		return err
	}
	f.octet = b[0] >= '1' && b[0] <= '9'
	f.decided = true
	return nil
}

// next returns the next message, valid until the following call, and
// whether it was cut at max bytes.
func (f *framer) next() ([]byte, bool, error) {
	if err := f.decide(); err != nil {
		return nil, false, err
	}
	if f.octet {
		return f.nextOctet()
	}
	return f.nextLine()
}

func (f *framer) nextLine() ([]byte, bool, error) {
	f.scratch = f.scratch[:0]
	over := false
	for {
		chunk, err := f.br.ReadSlice('\n')
		if err == nil && len(f.scratch) == 0 && !over {
			line := chunk[:len(chunk)-1]
			if len(line) > f.max {
				return line[:f.max], true, nil
			}
			return line, false, nil
		}
		content := chunk
		if err == nil {
			content = chunk[:len(chunk)-1]
		}
		if room := f.max - len(f.scratch); len(content) > room {
			over = true
			content = content[:room]
		}
		f.scratch = append(f.scratch, content...)
		switch {
		case err == nil:
			return f.scratch, over, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (len(f.scratch) > 0 || over):
			// The last message of a stream may lack its newline.
			return f.scratch, over, nil
		default:
			return nil, false, err
		}
	}
}

func (f *framer) nextOctet() ([]byte, bool, error) {
	// Skip the newlines some senders put between frames.
	for {
		b, err := f.br.Peek(1)
		if err != nil {
			return nil, false, err
		}
		if b[0] != '\n' && b[0] != '\r' && b[0] != ' ' {
			break
		}
		f.br.Discard(1)
	}
	n := 0
	for digits := 0; ; digits++ {
		c, err := f.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && digits > 0 {
				return nil, false, io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || digits >= 9 || (digits == 0 && c == '0') {
			return nil, false, fmt.Errorf("%w: unexpected %q in the length", errFraming, c)
		}
		n = n*10 + int(c-'0')
	}
	if n <= f.max && n <= f.br.Size() {
		b, err := f.br.Peek(n)
		if err != nil {
			return nil, false, unexpected(err)
		}
		f.br.Discard(n) // b stays valid: nothing is read until the next call
		return b, false, nil
	}
	keep := min(n, f.max)
	if cap(f.scratch) < keep {
		f.scratch = make([]byte, keep)
	}
	f.scratch = f.scratch[:keep]
	if _, err := io.ReadFull(f.br, f.scratch); err != nil {
		return nil, false, unexpected(err)
	}
	if n > keep {
		if _, err := f.br.Discard(n - keep); err != nil {
			return nil, false, unexpected(err)
		}
	}
	return f.scratch, n > keep, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// complete reports whether a whole message is already buffered, so that
// reading it will not block: while it is, messages are gathered into the
// current batch.
func (f *framer) complete() bool {
	n := f.br.Buffered()
	if n == 0 || !f.decided {
		return false
	}
	b, _ := f.br.Peek(n)
	if !f.octet {
		return bytes.IndexByte(b, '\n') >= 0
	}
	b = bytes.TrimLeft(b, "\r\n ")
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 || sp > 9 {
		return sp < 0 && len(b) > 9 // a broken header: let next() report it
	}
	l := 0
	for _, c := range b[:sp] {
		if c < '0' || c > '9' {
			return true
		}
		l = l*10 + int(c-'0')
	}
	return len(b)-sp-1 >= l
}
