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
	err     error // what ended the stream inside the last (cut) frame
}

// errFraming means the stream cannot be split any further.
var errFraming = errors.New("invalid octet-counting frame")

// errHeaderCut: the connection ended inside a frame's length.
var errHeaderCut = errors.New("connection ended inside an octet-counted frame's length")

// headerCut carries the read error that ended the stream inside a length.
type headerCut struct{ err error }

func (h headerCut) Error() string { return errHeaderCut.Error() + ": " + h.err.Error() }

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
	if b[0] == '0' {
		// A zero-length frame ("0 ") may come first.
		b2, err := f.br.Peek(2)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		f.octet = len(b2) == 2 && b2[1] == ' '
	}
	f.decided = true
	return nil
}

// frameInfo describes how a message came out of the stream.
type frameInfo struct {
	// truncated: the message was cut at max bytes.
	truncated bool
	// cut is set when the connection ended inside an octet-counted frame:
	// the message is the part that arrived, and cut says what was missing.
	cut string
}

// next returns the next message, valid until the following call, and how
// it was framed.
func (f *framer) next() ([]byte, frameInfo, error) {
	if f.err != nil {
		return nil, frameInfo{}, f.err
	}
	if err := f.decide(); err != nil {
		return nil, frameInfo{}, err
	}
	if f.octet {
		return f.nextOctet()
	}
	msg, truncated, err := f.nextLine()
	return msg, frameInfo{truncated: truncated}, err
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
		case len(f.scratch) > 0 || over:
			// The last message of a stream may lack its newline. Whatever
			// ended the stream (its end, the idle timeout, a shutdown, a
			// TLS peer gone without close_notify), what arrived is kept,
			// as a cut octet-counted frame is; an error other than the end
			// of the stream is returned by the next call.
			if !errors.Is(err, io.EOF) {
				f.err = err
			}
			return f.scratch, over, nil
		default:
			return nil, false, err
		}
	}
}

func (f *framer) nextOctet() ([]byte, frameInfo, error) {
	var n int
	for {
		var err error
		if n, err = f.octetHeader(); err != nil {
			var hc headerCut
			if errors.As(err, &hc) {
				return nil, f.cut(hc.err, 0, -1), nil
			}
			return nil, frameInfo{}, err
		}
		if n >= 0 {
			break
		}
	}
	if n <= f.max && n <= f.br.Size() {
		b, err := f.br.Peek(n)
		if err != nil {
			f.br.Discard(len(b))
			return b, f.cut(err, len(b), n), nil
		}
		f.br.Discard(n) // b stays valid: nothing is read until the next call
		return b, frameInfo{}, nil
	}
	keep := min(n, f.max)
	if cap(f.scratch) < keep {
		f.scratch = make([]byte, keep)
	}
	f.scratch = f.scratch[:keep]
	if got, err := io.ReadFull(f.br, f.scratch); err != nil {
		return f.scratch[:got], f.cut(err, got, n), nil
	}
	if n > keep {
		if skipped, err := f.br.Discard(n - keep); err != nil {
			return f.scratch, f.cut(err, keep+skipped, n), nil
		}
	}
	return f.scratch, frameInfo{truncated: n > keep}, nil
}

// cut describes a frame of want bytes of which got arrived before the
// stream ended with err. Whatever err is (the end of the stream, the idle
// timeout, a shutdown), the part that arrived is kept; an error other than
// the end of the stream is returned by the next call.
func (f *framer) cut(err error, got, want int) frameInfo {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		f.err = err
	}
	if want < 0 {
		return frameInfo{truncated: true, cut: errHeaderCut.Error()}
	}
	return frameInfo{truncated: true, cut: fmt.Sprintf("connection ended inside an octet-counted frame: %d of %d bytes arrived", got, want)}
}

// octetHeader reads "<len> " and returns len, or -1 for a zero-length
// frame ("0 "), which carries nothing and is skipped. A connection that
// ends inside a header gives a cut frame of length 0 (next returns it as
// an empty message, which makes no event, and the end of the stream
// after it): a headerCut error.
func (f *framer) octetHeader() (int, error) {
	// Skip the newlines some senders put between frames.
	for {
		b, err := f.br.Peek(1)
		if err != nil {
			return 0, err
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
			if digits > 0 {
				return 0, headerCut{err}
			}
			return 0, err
		}
		if c == ' ' && digits > 0 {
			if n == 0 {
				return -1, nil
			}
			return n, nil
		}
		if c < '0' || c > '9' || digits >= 9 || (digits == 1 && n == 0) {
			return 0, fmt.Errorf("%w: unexpected %q in the length", errFraming, c)
		}
		n = n*10 + int(c-'0')
	}
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
	// The newlines and spaces octetHeader skips (bytes.TrimLeft builds
	// its set on every call, and this runs once per message).
	for len(b) > 0 && (b[0] == '\n' || b[0] == '\r' || b[0] == ' ') {
		b = b[1:]
	}
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
