package file

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
)

// readLine is what the line reader made of a line.
type readLine struct {
	off   int64
	text  string
	split bool
}

// feed runs data through a line reader in reads of chunk bytes, taking at
// most max items at a time, as the tailer does; at the end the partial
// last line and the record in progress are taken too.
func feed(t *testing.T, cfg *Config, data []byte, chunk, max int) []readLine {
	t.Helper()
	r := newLineReader(cfg, data[:min(2, len(data))], 0)
	r.buf = make([]byte, len(data)+1)
	now := time.Unix(0, 0)
	var out []readLine
	take := func() {
		for i := range r.items {
			it := &r.items[i]
			out = append(out, readLine{it.off, string(r.itemBytes(it)), it.split})
		}
		r.items = r.items[:0]
	}
	for pos := 0; pos < len(data); {
		n := copy(r.space()[:min(chunk, len(r.space()))], data[pos:])
		r.added(n)
		pos += n
		for r.lines(false, max, now) {
			take()
		}
		take()
		r.compact()
		if got, want := r.readPos(), int64(pos); got != want {
			t.Fatalf("readPos %d after %d bytes", got, want)
		}
	}
	for r.lines(true, max, now) {
		take()
	}
	take()
	r.flushGroup()
	take()
	r.compact()
	return out
}

func validConfig(t *testing.T, edit func(*Config)) *Config {
	t.Helper()
	cfg := defaultConfig()
	cfg.Include = []string{"/x/*.log"}
	if edit != nil {
		edit(cfg)
	}
	must(t, cfg.Validate())
	return cfg
}

// TestLineReaderChunking: the lines of each golden input do not depend on
// how the bytes arrive, nor on how many lines are taken at a time.
func TestLineReaderChunking(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"text_basic", nil},
		{"invalid_utf8", nil},
		{"utf16le", func(c *Config) { c.Encoding = "utf-16" }},
		{"utf16be", func(c *Config) { c.Encoding = "utf-16be" }},
		{"delimiter", func(c *Config) { c.LineDelimiter = "|" }},
		{"max_line", func(c *Config) { c.MaxLineBytes = 10 }},
		{"multiline", func(c *Config) { c.Multiline.StartPattern = `^\d{4}-\d{2}-\d{2} ` }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "golden", tc.name+".log"))
			must(t, err)
			cfg := validConfig(t, tc.edit)
			want := feed(t, cfg, data, len(data), 1<<20)
			if len(want) < 2 {
				t.Fatalf("%d lines: the input tests nothing", len(want))
			}
			for _, chunk := range []int{1, 2, 3, 7, 64} {
				for _, max := range []int{1, 2, 1000} {
					if got := feed(t, cfg, data, chunk, max); !slices.Equal(got, want) {
						t.Errorf("reads of %d bytes, %d lines at a time:\ngot  %+v\nwant %+v", chunk, max, got, want)
					}
				}
			}
		})
	}
}

func TestLineReaderCases(t *testing.T) {
	utf16le := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			b.WriteByte(byte(r))
			b.WriteByte(byte(r >> 8))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		in   string
		want []readLine
	}{
		{"CRLF", nil, "a\r\nb\n\r\n", []readLine{{0, "a", false}, {3, "b", false}, {5, "", false}}},
		{"CR kept with another delimiter", func(c *Config) { c.LineDelimiter = "|" }, "a\r|b", []readLine{{0, "a\r", false}, {3, "b", false}}},
		{"multi-byte delimiter", func(c *Config) { c.LineDelimiter = "<>" }, "a<b<>c<>", []readLine{{0, "a<b", false}, {5, "c", false}}},
		{"BOM only at offset 0", nil, "\xEF\xBB\xBFa\n\xEF\xBB\xBFb\n", []readLine{{0, "a", false}, {5, "\xEF\xBB\xBFb", false}}},
		{"UTF-16 BOM decides big endian", func(c *Config) { c.Encoding = "utf-16" }, "\xFE\xFF\x00a\x00\n\x00b", []readLine{{0, "a", false}, {6, "b", false}}},
		{"UTF-16 delimiter aligned to code units", func(c *Config) { c.Encoding = "utf-16le" },
			"\x00\x0A\x0A\x00" + utf16le("x\r\n"), []readLine{{0, "\u0a00", false}, {4, "x", false}}},
		{"long line split, last part flagged", func(c *Config) { c.MaxLineBytes = 4 }, "abcdefghij\nok\n",
			[]readLine{{0, "abcd", true}, {4, "efgh", true}, {8, "ij", true}, {11, "ok", false}}},
		{"UTF-16 split on code units", func(c *Config) { c.Encoding = "utf-16le"; c.MaxLineBytes = 3 }, utf16le("abc\n"),
			[]readLine{{0, "a", true}, {2, "b", true}, {4, "c", true}}},
		// Whether the delimiter's first byte arrives with the line or
		// later, a line of exactly max_line_bytes is one line.
		{"line of max_line_bytes, delimiter of two", func(c *Config) { c.LineDelimiter = "<>"; c.MaxLineBytes = 4 }, "abcd<>ef<>",
			[]readLine{{0, "abcd", false}, {6, "ef", false}}},
		// CRLF: the CR goes with the delimiter, not with the line's length
		// nor into a part of its own.
		{"CRLF line of max_line_bytes", func(c *Config) { c.MaxLineBytes = 4 }, "abcd\r\nok\r\n",
			[]readLine{{0, "abcd", false}, {6, "ok", false}}},
		{"CRLF line split, CR not in the last part", func(c *Config) { c.MaxLineBytes = 4 }, "abcdef\r\n",
			[]readLine{{0, "abcd", true}, {4, "ef", true}}},
		{"CRLF line split at the CR", func(c *Config) { c.MaxLineBytes = 4 }, "abcde\r\n",
			[]readLine{{0, "abcd", true}, {4, "e", true}}},
		// A split never cuts a UTF-8 character in two (é is 2 bytes, € 3).
		{"split before a multi-byte character", func(c *Config) { c.MaxLineBytes = 4 }, "abcé\n",
			[]readLine{{0, "abc", true}, {3, "é", true}}},
		{"split inside a three-byte character", func(c *Config) { c.MaxLineBytes = 4 }, "ab€€\n",
			[]readLine{{0, "ab", true}, {2, "€", true}, {5, "€", true}}},
		// The parts of a split line are events of their own, outside any
		// record: no newline is added between them.
		{"split line inside multiline", func(c *Config) { c.Multiline.StartPattern = "^S"; c.MaxLineBytes = 4 }, "S1\n a\nSxyzabc\n b\nS2\n",
			[]readLine{{0, "S1\n a", false}, {6, "Sxyz", true}, {10, "abc", true}, {14, " b", false}, {17, "S2", false}}},
		{"multiline max_lines", func(c *Config) { c.Multiline.StartPattern = "^S"; c.Multiline.MaxLines = 2 }, "x\nS1\n a\n b\nS2\n",
			[]readLine{{0, "x", false}, {2, "S1\n a", false}, {8, " b", false}, {11, "S2", false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig(t, tc.edit)
			for _, chunk := range []int{1, len(tc.in)} {
				if got := feed(t, cfg, []byte(tc.in), chunk, 1000); !slices.Equal(got, tc.want) {
					t.Errorf("reads of %d bytes:\ngot  %+v\nwant %+v", chunk, got, tc.want)
				}
			}
		})
	}
}

// TestLineReaderPartialAndRecords: a partial line is only taken when final;
// a record in progress holds the checkpoint at its start and reports how
// long it has been idle.
func TestLineReaderPartialAndRecords(t *testing.T) {
	cfg := validConfig(t, func(c *Config) {
		c.Multiline.StartPattern = "^S"
		c.Multiline.Timeout = component.Duration(time.Second)
	})
	r := newLineReader(cfg, nil, 100)
	r.buf = make([]byte, 64)
	t0 := time.Unix(1000, 0)
	if r.groupIdle(t0) >= 0 || r.checkpointOffset() != 100 {
		t.Fatalf("fresh reader: idle %v, checkpoint %d", r.groupIdle(t0), r.checkpointOffset())
	}
	r.added(copy(r.space(), "S1\n a\nS2\n b\npart"))
	if r.lines(false, 1000, t0) {
		t.Fatal("asked for more with room left")
	}
	r.compact()
	if len(r.items) != 1 || r.items[0].text != "S1\n a" || r.items[0].off != 100 {
		t.Fatalf("items %+v", r.items)
	}
	if got := r.checkpointOffset(); got != 106 {
		t.Errorf("checkpoint %d inside the second record, want its start 106", got)
	}
	if got := r.groupIdle(t0.Add(300 * time.Millisecond)); got != 300*time.Millisecond {
		t.Errorf("idle %v", got)
	}
	if holdsNothing(r) || r.fill != 4 || r.readPos() != 116 {
		t.Errorf("idle %v, fill %d, readPos %d", holdsNothing(r), r.fill, r.readPos())
	}
	r.items = r.items[:0]
	r.lines(true, 1000, t0)
	r.flushGroup()
	r.compact()
	if len(r.items) != 1 || r.items[0].text != "S2\n b\npart" {
		t.Fatalf("after final: %+v", r.items)
	}
	if !holdsNothing(r) || r.checkpointOffset() != 116 {
		t.Errorf("idle %v, checkpoint %d, want 116", holdsNothing(r), r.checkpointOffset())
	}
	r.reset(0)
	if r.readPos() != 0 || r.checkpointOffset() != 0 {
		t.Errorf("after reset: readPos %d, checkpoint %d", r.readPos(), r.checkpointOffset())
	}
}

// TestLineReaderDetach: the detached buffer keeps the unread bytes, and
// writing to it leaves the old one (held by events) alone.
func TestLineReaderDetach(t *testing.T) {
	r := newLineReader(validConfig(t, nil), nil, 0)
	old := make([]byte, 16)
	r.buf = old
	r.added(copy(r.space(), "a\nbc"))
	r.lines(false, 10, time.Now())
	r.detach()
	r.compact()
	r.added(copy(r.space(), "d\n"))
	r.items = r.items[:0]
	r.lines(false, 10, time.Now())
	if len(r.items) != 1 || string(r.itemBytes(&r.items[0])) != "bcd" {
		t.Fatalf("items %+v", r.items)
	}
	if !bytes.HasPrefix(old, []byte("a\nbc")) {
		t.Errorf("old buffer changed: %q", old)
	}
}

// holdsNothing reports whether r holds no bytes that are not lines yet and
// no record in progress.
func holdsNothing(r *lineReader) bool { return r.fill == 0 && r.group == nil }
