package file

import (
	"bytes"
	"regexp"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// lineReader turns the bytes of one file into lines: it finds delimiters,
// decodes UTF-16, drops a leading byte order mark and a CR before "\n",
// splits lines longer than max_line_bytes and groups multiline records. It
// does no I/O and keeps no clock: the tailer reads into it and says what
// time it is, so its behaviour can be driven one step at a time.
//
// Its buffer holds the bytes from bufOff on that are not lines yet. Lines
// found are appended to items; a borrowed item points into the buffer, so
// the buffer is only compacted once the items were taken (compact).
type lineReader struct {
	delim   []byte
	utf16   bool
	bigEnd  bool
	trimCR  bool // the delimiter is "\n": a line's trailing "\r" goes too
	maxLine int
	start   *regexp.Regexp // multiline record start; nil: one line per item
	maxRec  int            // multiline.max_lines

	buf      []byte
	fill     int   // bytes in buf
	pos      int   // buf[:pos] became items (or part of a record)
	bufOff   int64 // file offset of buf[0]
	consumed int64 // file offset up to which bytes became items or a record
	// splitting: inside a line longer than max_line_bytes, whose next part
	// is flagged split too.
	splitting bool
	group     *mlGroup
	items     []item
	splits    int // lines split since takeSplits
}

// item is one line (or multiline record) waiting in the current batch.
// Borrowed items point into buf [lo:hi]; owned ones carry their text.
type item struct {
	off    int64
	lo, hi int
	text   string
	owned  bool
	split  bool
}

// mlGroup is a multiline record being assembled.
type mlGroup struct {
	start int64
	text  []byte
	lines int
	split bool
	last  time.Time
}

// newLineReader returns a reader for cfg starting at file offset off.
// first is the file's first two bytes (fewer if it is shorter): with
// encoding "utf-16" their byte order mark decides the byte order.
func newLineReader(cfg *Config, first []byte, off int64) *lineReader {
	r := &lineReader{
		delim:   []byte(cfg.LineDelimiter),
		trimCR:  cfg.LineDelimiter == "\n",
		maxLine: int(cfg.MaxLineBytes),
		start:   cfg.Multiline.start,
		maxRec:  cfg.Multiline.MaxLines,
	}
	if cfg.Encoding != "utf-8" {
		r.utf16 = true
		r.bigEnd = cfg.Encoding == "utf-16be" ||
			cfg.Encoding == "utf-16" && len(first) >= 2 && first[0] == 0xFE && first[1] == 0xFF
		r.delim = r.delim[:0]
		for _, c := range utf16.Encode([]rune(cfg.LineDelimiter)) {
			if r.bigEnd {
				r.delim = append(r.delim, byte(c>>8), byte(c))
			} else {
				r.delim = append(r.delim, byte(c), byte(c>>8))
			}
		}
		r.maxLine &^= 1 // whole code units
		if r.maxLine == 0 {
			r.maxLine = 2
		}
	}
	r.reset(off)
	return r
}

// reset starts over at file offset off with nothing buffered, as after a
// truncation. The caller has taken the items and the record in progress.
func (r *lineReader) reset(off int64) {
	r.bufOff, r.consumed = off, off
	r.fill, r.pos = 0, 0
	r.splitting = false
}

// readPos is the file offset of the next byte to read.
func (r *lineReader) readPos() int64 { return r.bufOff + int64(r.fill) }

// space is where the next read goes.
func (r *lineReader) space() []byte { return r.buf[r.fill:] }

// added records that n bytes were read into space.
func (r *lineReader) added(n int) { r.fill += n }

// lines appends the complete lines from the buffer to items until items
// holds max of them (then it returns true: call again once they are taken)
// or no complete line is left. With final, a partial last line is taken
// too. now is the time the bytes were read, for multiline.timeout.
func (r *lineReader) lines(final bool, max int, now time.Time) (more bool) {
	pos := r.pos
	for len(r.items) < max {
		i := r.indexDelim(pos)
		// The line's text ends before a CR that goes with the delimiter
		// (CRLF), which is no part to split off.
		end := i
		if i > pos && r.trimCR && !r.utf16 && r.buf[i-1] == '\r' {
			end--
		}
		switch {
		// Without a delimiter, the buffer may end in the first bytes of
		// one (or in the CR of a CRLF): the line is known too long only
		// past those.
		case i < 0 && r.fill-pos-r.partialDelim(pos) > r.maxLine, i >= 0 && end-pos > r.maxLine:
			r.splits++
			cut := r.cut(pos)
			r.addLine(pos, cut, true, false, now)
			r.splitting = true
			pos = cut
		case i < 0:
			if !final || pos == r.fill {
				r.pos = pos
				return false
			}
			r.addLine(pos, r.fill, r.splitting, true, now)
			r.splitting = false
			pos = r.fill
		default:
			r.addLine(pos, i, r.splitting, true, now)
			r.splitting = false
			pos = i + len(r.delim)
		}
		r.consumed = r.bufOff + int64(pos)
	}
	r.pos = pos
	return true
}

// compact drops the bytes that became lines from the buffer. Borrowed
// items point into those bytes: take them first.
func (r *lineReader) compact() {
	copy(r.buf, r.buf[r.pos:r.fill])
	r.fill -= r.pos
	r.bufOff += int64(r.pos)
	r.pos = 0
}

// takeSplits returns how many lines were split since the last call.
func (r *lineReader) takeSplits() int {
	n := r.splits
	r.splits = 0
	return n
}

// indexDelim finds the delimiter in buf[from:fill], aligned to code units
// for UTF-16. It returns an index into buf or -1.
func (r *lineReader) indexDelim(from int) int {
	data := r.buf[:r.fill]
	if len(r.delim) == 1 {
		i := bytes.IndexByte(data[from:], r.delim[0])
		if i < 0 {
			return -1
		}
		return from + i
	}
	for from < len(data) {
		i := bytes.Index(data[from:], r.delim)
		if i < 0 {
			return -1
		}
		i += from
		if !r.utf16 || (r.bufOff+int64(i))%2 == 0 {
			return i
		}
		from = i + 1
	}
	return -1
}

// partialDelim is how many bytes at the end of buf[pos:fill], a line
// without its delimiter yet, may be the start of the delimiter: they are
// not the line's, so they do not make it too long.
func (r *lineReader) partialDelim(pos int) int {
	n := len(r.delim) - 1
	if r.trimCR && !r.utf16 && r.fill > pos && r.buf[r.fill-1] == '\r' {
		n++ // the CR of a CRLF
	}
	return n
}

// cut returns where the part of a too long line that starts at pos ends:
// max_line_bytes on, backed up to the start of a UTF-8 character (at most
// three bytes), so that no character is cut in two and lost to U+FFFD.
func (r *lineReader) cut(pos int) int {
	c := pos + r.maxLine
	if r.utf16 {
		return c // maxLine is whole code units
	}
	for back := 0; back < 3 && c-1 > pos && c < r.fill && !utf8.RuneStart(r.buf[c]); back++ {
		c--
	}
	if c < r.fill && !utf8.RuneStart(r.buf[c]) {
		return pos + r.maxLine // not UTF-8 there: cut where asked
	}
	return c
}

// addLine adds buf[lo:hi] (a line without its delimiter) to the items, or
// to the multiline record. last: the part ends the line (at its delimiter
// or at the end of the file), so a CR before a "\n" delimiter is removed.
func (r *lineReader) addLine(lo, hi int, split, last bool, now time.Time) {
	off := r.bufOff + int64(lo)
	it := item{off: off, lo: lo, hi: hi, split: split}
	if off == 0 { // byte order mark
		b := r.buf[lo:hi]
		switch {
		case !r.utf16 && bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
			it.lo += 3
		case r.utf16 && len(b) >= 2 && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF):
			it.lo += 2
		}
	}
	if r.utf16 {
		it.text, it.owned = r.decodeUTF16(r.buf[it.lo:it.hi]), true
		if last && r.trimCR && len(it.text) > 0 && it.text[len(it.text)-1] == '\r' {
			it.text = it.text[:len(it.text)-1]
		}
	} else if last && r.trimCR && it.hi > it.lo && r.buf[it.hi-1] == '\r' {
		it.hi--
	}
	if r.start != nil {
		if split {
			// A part of a line too long for max_line_bytes is an event of
			// its own, as without multiline: joined into a record it would
			// get newlines that are not in the file, and the record would
			// be as large as the line.
			r.flushGroup()
			r.items = append(r.items, it)
			return
		}
		r.addMultiline(it, now)
		return
	}
	r.items = append(r.items, it)
}

func (r *lineReader) decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if r.bigEnd {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	return string(utf16.Decode(u))
}

// itemBytes is the text of an item.
func (r *lineReader) itemBytes(it *item) []byte {
	if it.owned {
		return []byte(it.text)
	}
	return r.buf[it.lo:it.hi]
}

// addMultiline appends a line to the record being assembled, flushing the
// previous record when the line starts a new one.
func (r *lineReader) addMultiline(it item, now time.Time) {
	line := r.itemBytes(&it)
	starts := r.start.Match(line)
	if r.group != nil && (starts || r.group.lines >= r.maxRec) {
		r.flushGroup()
	}
	if r.group == nil {
		r.group = &mlGroup{start: it.off}
	} else {
		r.group.text = append(r.group.text, '\n')
	}
	r.group.text = append(r.group.text, line...)
	r.group.lines++
	r.group.split = r.group.split || it.split
	r.group.last = now
}

// flushGroup ends the record in progress, if any, as an item.
func (r *lineReader) flushGroup() {
	g := r.group
	if g == nil {
		return
	}
	r.group = nil
	r.items = append(r.items, item{off: g.start, text: string(g.text), owned: true, split: g.split})
}

// groupIdle is how long the record in progress got no line, or -1 when
// there is none.
func (r *lineReader) groupIdle(now time.Time) time.Duration {
	if r.group == nil {
		return -1
	}
	return now.Sub(r.group.last)
}

// checkpointOffset is the offset a restart must resume at: the start of a
// multiline record still being assembled, else the end of what became
// items.
func (r *lineReader) checkpointOffset() int64 {
	if r.group != nil {
		return r.group.start
	}
	return r.consumed
}

// detach moves the reader to a copy of its buffer: the old one is
// referenced by events that were not released.
func (r *lineReader) detach() {
	if r.buf == nil {
		return
	}
	b := make([]byte, len(r.buf))
	copy(b, r.buf[:r.fill])
	r.buf = b
}
