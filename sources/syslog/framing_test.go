package syslogsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

type framingCase struct {
	Name   string `json:"name"`
	Max    int    `json:"max"`
	Stream string `json:"stream"`
	Frames []struct {
		Msg       string `json:"msg"`
		Truncated bool   `json:"truncated"`
		Cut       string `json:"cut"`
	} `json:"frames"`
	Error string `json:"error"`
}

func loadFramingCases(t testing.TB) []framingCase {
	raw, err := os.ReadFile("testdata/framing.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []framingCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestFraming runs the stream of each case in testdata/framing.json
// through the framer, fed one byte per read so that every header and
// frame is split across reads.
func TestFraming(t *testing.T) {
	for _, c := range loadFramingCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			max := c.Max
			if max == 0 {
				max = 1 << 10
			}
			f := newFramer(&oneByteReader{s: c.Stream}, max)
			var i int
			for {
				msg, fi, err := f.next()
				if err != nil {
					switch {
					case c.Error != "":
						if err.Error() != c.Error || !errors.Is(err, errFraming) {
							t.Fatalf("error %q, want %q", err, c.Error)
						}
					case !errors.Is(err, io.EOF):
						t.Fatalf("error %v, want io.EOF", err)
					}
					break
				}
				if i >= len(c.Frames) {
					t.Fatalf("extra frame %q %+v", msg, fi)
				}
				w := c.Frames[i]
				if string(msg) != w.Msg || fi.truncated != w.Truncated || fi.cut != w.Cut {
					t.Fatalf("frame %d = %q %+v, want %q truncated=%v cut=%q", i, msg, fi, w.Msg, w.Truncated, w.Cut)
				}
				i++
			}
			if i != len(c.Frames) {
				t.Fatalf("%d frames, want %d", i, len(c.Frames))
			}
		})
	}
}

type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}

// TestFramingWholeStream: the same cases read in one piece.
func TestFramingWholeStream(t *testing.T) {
	for _, c := range loadFramingCases(t) {
		max := c.Max
		if max == 0 {
			max = 1 << 10
		}
		f := newFramer(strings.NewReader(c.Stream), max)
		var got []string
		for {
			msg, _, err := f.next()
			if err != nil {
				break
			}
			got = append(got, string(msg))
		}
		if len(got) != len(c.Frames) {
			t.Errorf("%s: %q, want %d frames", c.Name, got, len(c.Frames))
		}
	}
}

// FuzzFraming: for any stream, the framer splits the same messages
// whether the bytes come one per read or all at once, never returns a
// message longer than max, and ends (a framing error or the end of the
// stream) without panicking.
func FuzzFraming(f *testing.F) {
	for _, c := range loadFramingCases(f) {
		f.Add([]byte(c.Stream), uint16(c.Max))
	}
	f.Fuzz(func(t *testing.T, stream []byte, max16 uint16) {
		max := int(max16%512) + 1
		split := func(r io.Reader) (msgs []string, infos []frameInfo, err error) {
			fr := newFramer(r, max)
			for {
				msg, fi, err := fr.next()
				if err != nil {
					return msgs, infos, err
				}
				if len(msg) > max {
					t.Fatalf("message of %d bytes, max %d", len(msg), max)
				}
				msgs, infos = append(msgs, string(msg)), append(infos, fi)
			}
		}
		m1, i1, e1 := split(&oneByteReader{s: string(stream)})
		m2, i2, e2 := split(strings.NewReader(string(stream)))
		if fmt.Sprint(m1, i1) != fmt.Sprint(m2, i2) || errors.Is(e1, errFraming) != errors.Is(e2, errFraming) {
			t.Fatalf("one byte per read: %q %v %v\nwhole stream: %q %v %v", m1, i1, e1, m2, i2, e2)
		}
		if e1 != nil && !errors.Is(e1, io.EOF) && !errors.Is(e1, errFraming) {
			t.Fatalf("unexpected error %v", e1)
		}
	})
}

// errAfterReader returns s, then err for ever.
type errAfterReader struct {
	s   string
	err error
}

func (r *errAfterReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, r.err
	}
	n := copy(p, r.s)
	r.s = r.s[n:]
	return n, nil
}

// TestFramingCutByError: a frame cut by an error other than the end of
// the stream (the idle timeout, a shutdown) keeps what arrived too, and
// the error is returned next, so the connection ends instead of reading
// the rest of the frame as a new one.
func TestFramingCutByError(t *testing.T) {
	stop := errors.New("read deadline")
	for _, c := range []struct{ stream, msg, cut string }{
		{"3 abc10 <13>1", "<13>1", "connection ended inside an octet-counted frame: 5 of 10 bytes arrived"},
		{"3 abc10", "", "connection ended inside an octet-counted frame's length"},
	} {
		f := newFramer(&errAfterReader{s: c.stream, err: stop}, 100)
		if msg, _, err := f.next(); err != nil || string(msg) != "abc" {
			t.Fatalf("%q: first frame %q %v", c.stream, msg, err)
		}
		msg, fi, err := f.next()
		if err != nil || string(msg) != c.msg || fi.cut != c.cut || !fi.truncated {
			t.Fatalf("%q: cut frame %q %+v %v", c.stream, msg, fi, err)
		}
		if _, _, err := f.next(); !errors.Is(err, stop) {
			t.Fatalf("%q: after the cut frame: %v, want the read error", c.stream, err)
		}
	}
}

// TestFramingLastLineCutByError: with newline framing, a last line without
// its newline is kept whatever ended the stream (the idle timeout, a
// shutdown, a TLS peer gone without close_notify), as at the end of the
// stream; the error comes next.
func TestFramingLastLineCutByError(t *testing.T) {
	stop := errors.New("read deadline")
	for _, max := range []int{100, 4} { // 4: the last line is also cut at max_message_bytes
		f := newFramer(&errAfterReader{s: "<13>first\n<13>last", err: stop}, max)
		if msg, _, err := f.next(); err != nil || string(msg) != "<13>first"[:min(max, 9)] {
			t.Fatalf("max %d: first line %q %v", max, msg, err)
		}
		msg, fi, err := f.next()
		if err != nil || string(msg) != "<13>last"[:min(max, 8)] || fi.truncated != (max < 8) {
			t.Fatalf("max %d: last line %q %+v %v", max, msg, fi, err)
		}
		if _, _, err := f.next(); !errors.Is(err, stop) {
			t.Fatalf("max %d: after the last line: %v, want the read error", max, err)
		}
	}
}
