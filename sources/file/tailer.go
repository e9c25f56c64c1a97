package file

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"
	"unicode/utf16"
	"unsafe"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// tailer reads one open file in its own goroutine, so that the events of a
// file keep their order while files are read in parallel.
type tailer struct {
	s    *Source
	id   fileID
	key  string
	f    *os.File
	wake chan struct{}
	// foundAt: a scan that began before it cannot have seen it.
	foundAt time.Time

	// Guarded by s.mu.
	path      string
	pending   bool // new, start not decided yet (see classify)
	rotated   bool // no longer at an included path (renamed away or deleted)
	rotatedAt time.Time
	fp        string
	fpLen     int
	head      []byte // the first fpLen bytes

	// Owned by the goroutine (set before it starts).
	// retired is the checkpoint of the content this file held before it
	// was truncated while hogtail was down, stored with its new start.
	retired     *component.Checkpoint
	startAtEnd  bool  // read_from = "end" applies
	startSize   int64 // size when found
	offset      int64 // committed: every line before it is stored
	readPos     int64 // next byte to read
	buf         []byte
	bufp        *[]byte
	fill        int   // bytes in buf
	bufOff      int64 // file offset of buf[0]
	consumed    int64 // file offset up to which bytes became items or multiline
	splitting   bool  // inside a line longer than max_line_bytes
	lastGrowth  time.Time
	items       []item
	dirty       bool // checkpoint fields changed without an event
	readFailing bool // a read error was logged; log again once it works
	// seen is the file's first bytes (up to fingerprint_bytes) as this
	// tailer read them from offset 0; empty when it started further on.
	// replaced compares them with the file: a file rewritten past our
	// offset while it was shorter than the fingerprint is caught too.
	seen    []byte
	scratch []byte
	// atEnd: the last read reached the end of the file (or failed). Data
	// read next was written since, possibly by a truncate-and-rewrite: it
	// is checked before use.
	atEnd bool

	utf16   bool
	bigEnd  bool
	delim   []byte
	maxLine int
	rnd     []byte
	ml      *mlGroup
	times   event.TimeFormatter
	ptrs    []*event.Event
	// inflight is the batch queued by emitAsync and not yet known stored.
	inflight *inflight
}

// inflight is a batch being written while the tailer reads on.
type inflight struct {
	p   component.Pending
	rec record
	n   int
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

func (t *tailer) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *tailer) run(ctx context.Context) {
	defer t.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s := t.s
		s.mu.Lock()
		pending := t.pending
		s.mu.Unlock()
		if !pending {
			break
		}
		done, err := t.classify(ctx)
		if err != nil || done {
			return
		}
		s.mu.Lock()
		pending = t.pending
		s.mu.Unlock()
		if !pending {
			break
		}
		timer.Reset(s.cfg.PollInterval.D())
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
	cfg := t.s.cfg
	t.maxLine = int(cfg.MaxLineBytes)
	t.delim = []byte(cfg.LineDelimiter)
	if cfg.Encoding != "utf-8" {
		t.utf16 = true
		t.bigEnd = cfg.Encoding == "utf-16be"
		if cfg.Encoding == "utf-16" {
			var bom [2]byte
			if n, _ := t.f.ReadAt(bom[:], 0); n == 2 && bom[0] == 0xFE && bom[1] == 0xFF {
				t.bigEnd = true
			}
		}
		u := utf16.Encode([]rune(cfg.LineDelimiter))
		t.delim = t.delim[:0]
		for _, c := range u {
			if t.bigEnd {
				t.delim = append(t.delim, byte(c>>8), byte(c))
			} else {
				t.delim = append(t.delim, byte(c), byte(c>>8))
			}
		}
		t.maxLine &^= 1
		if t.maxLine == 0 {
			t.maxLine = 2
		}
	}
	t.readPos, t.bufOff, t.consumed = t.offset, t.offset, t.offset
	t.seen = t.seen[:0]
	t.lastGrowth = time.Now()

	for ctx.Err() == nil {
		if t.buf == nil {
			t.bufp = t.s.pool.Get().(*[]byte)
			t.buf = *t.bufp
		}
		n, err := t.f.ReadAt(t.buf[t.fill:], t.readPos)
		if n > 0 && t.atEnd {
			// Written since the last read reached the end (or failed), for
			// example while we slept. If the file was truncated and
			// rewritten past our offset in between, what was just read is
			// the new content's middle: start over instead.
			t.atEnd = false
			if fi, serr := t.f.Stat(); serr == nil && t.replaced(fi.Size()) {
				if t.truncated(ctx) != nil {
					return
				}
				continue
			}
		}
		if n > 0 {
			t.atEnd = err == io.EOF
			t.noteSeen(n)
			t.fill += n
			t.readPos += int64(n)
			t.s.metrics.bytes.Add(float64(n))
			t.lastGrowth = time.Now()
			if t.consume(ctx, false) != nil {
				return
			}
			continue
		}
		// The read path pauses here: everything below works on what is
		// stored (offset, known checkpoints).
		t.atEnd = true
		if t.settle() != nil {
			return
		}
		if err != nil && err != io.EOF {
			t.s.metrics.readErrors.Inc()
			if !t.readFailing {
				t.s.log.Warn("read failed, will retry", "path", t.curPath(), "error", err)
			}
			t.readFailing = true
		} else {
			if t.readFailing {
				t.s.log.Info("read works again", "path", t.curPath())
				t.readFailing = false
			}
			done, err := t.atEOF(ctx)
			if err != nil || done {
				return
			}
			if t.changed() {
				continue // grown meanwhile, or reset by truncation
			}
		}
		if t.fill == 0 && t.ml == nil && t.buf != nil { // idle: give the buffer back
			t.s.pool.Put(t.bufp)
			t.buf, t.bufp = nil, nil
		}
		timer.Reset(t.nextWait())
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
}

// changed reports whether the file grew past what was read.
func (t *tailer) changed() bool {
	fi, err := t.f.Stat()
	return err == nil && fi.Size() > t.readPos
}

func (t *tailer) curPath() string {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return t.path
}

func (t *tailer) close() {
	t.settle() // what fails here is read again from the checkpoint
	t.f.Close()
	if t.bufp != nil {
		t.s.pool.Put(t.bufp)
		t.buf, t.bufp = nil, nil
	}
	t.s.mu.Lock()
	if t.s.tails[t.id] == t {
		delete(t.s.tails, t.id)
	}
	if t.s.byPath[t.path] == t {
		delete(t.s.byPath, t.path)
	}
	t.s.mu.Unlock()
	t.s.metrics.open.Dec()
}

// nextWait is how long to sleep at EOF: until the next poll or the next
// deadline (partial line, multiline, rotate_wait), whichever comes first.
func (t *tailer) nextWait() time.Duration {
	cfg := t.s.cfg
	d := cfg.PollInterval.D()
	now := time.Now()
	if t.ml != nil {
		d = min(d, max(cfg.Multiline.Timeout.D()-now.Sub(t.ml.last), time.Millisecond))
	}
	t.s.mu.Lock()
	rotated, at := t.rotated, t.rotatedAt
	t.s.mu.Unlock()
	if rotated {
		idle := now.Sub(latest(t.lastGrowth, at))
		if t.fill > 0 {
			d = min(d, max(cfg.PartialLineTimeout.D()-idle, time.Millisecond))
		}
		d = min(d, max(cfg.RotateWait.D()-idle, time.Millisecond))
	}
	return d
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// atEOF handles truncation, fingerprint refresh, timeouts and the end of a
// rotated file. done means the file was closed. run calls it with no batch
// in flight.
func (t *tailer) atEOF(ctx context.Context) (done bool, err error) {
	s, cfg := t.s, t.s.cfg
	fi, err := t.f.Stat()
	if err != nil {
		return false, nil
	}
	size := fi.Size()
	if t.replaced(size) {
		return false, t.truncated(ctx)
	}
	s.mu.Lock()
	fpLen := t.fpLen
	s.mu.Unlock()
	if fpLen < s.fpBytes && size > int64(fpLen) {
		n := int(min(int64(s.fpBytes), size))
		if got, head, ok, err := fingerprint(t.f, n); err == nil && ok {
			s.mu.Lock()
			t.fp, t.fpLen, t.head = got, n, head
			s.mu.Unlock()
			t.dirty = true
		}
	}
	now := time.Now()
	if t.ml != nil && now.Sub(t.ml.last) >= cfg.Multiline.Timeout.D() {
		t.flushGroup()
	}
	s.mu.Lock()
	rotated, at := t.rotated, t.rotatedAt
	s.mu.Unlock()
	idle := now.Sub(latest(t.lastGrowth, at))
	final := rotated && idle >= cfg.PartialLineTimeout.D()
	if final && t.fill > 0 {
		if err := t.consume(ctx, true); err != nil {
			return false, err
		}
	}
	if len(t.items) > 0 || t.dirty {
		if err := t.emit(ctx); err != nil {
			return false, err
		}
	}
	if rotated && idle >= cfg.RotateWait.D() && t.fill == 0 {
		if t.ml != nil {
			t.flushGroup()
			if err := t.emit(ctx); err != nil {
				return false, err
			}
		}
		s.metrics.rotations.Inc()
		if nlink(fi) == 0 { // deleted: nothing can find it again
			s.mu.Lock()
			delete(s.known, t.key)
			s.mu.Unlock()
			if err := s.emitter.Emit(ctx, nil, component.Checkpoint{Key: t.key}); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	return false, nil
}

// noteSeen keeps the part of the n bytes just read into buf[fill:] at
// readPos that falls within the fingerprint (see seen).
func (t *tailer) noteSeen(n int) {
	fpBytes := int64(t.s.fpBytes)
	if t.readPos >= fpBytes || int64(len(t.seen)) != t.readPos {
		return
	}
	take := int(min(int64(n), fpBytes-t.readPos))
	t.seen = append(t.seen, t.buf[t.fill:t.fill+take]...)
}

// replaced reports whether the file shrank below what was read or its first
// bytes changed: truncated, maybe refilled past our offset already.
func (t *tailer) replaced(size int64) bool {
	if size < t.readPos {
		return true
	}
	if len(t.seen) > 0 {
		if cap(t.scratch) < len(t.seen) {
			t.scratch = make([]byte, len(t.seen), t.s.fpBytes)
		}
		head := t.scratch[:len(t.seen)]
		if got, _ := t.f.ReadAt(head, 0); got < len(head) || !bytes.Equal(head, t.seen) {
			return true
		}
	}
	t.s.mu.Lock()
	fp, fpLen := t.fp, t.fpLen
	t.s.mu.Unlock()
	if fpLen == 0 {
		return false
	}
	got, _, ok, _ := fingerprint(t.f, fpLen)
	return !ok || got != fp
}

// truncated restarts at 0 after the file shrank or its first bytes changed
// (copytruncate). The old content's fingerprint and offset are remembered
// so that a copy of it found later resumes where this file stopped.
func (t *tailer) truncated(ctx context.Context) error {
	if err := t.settle(); err != nil {
		return err
	}
	s := t.s
	if t.ml != nil {
		t.flushGroup()
	}
	if len(t.items) > 0 {
		if err := t.emit(ctx); err != nil {
			return err
		}
	}
	s.metrics.truncations.Inc()
	s.log.Info("file truncated, reading from the start", "path", t.curPath(), "offset", t.offset, "fp", t.fp)
	fp, fpLen, head := "", 0, []byte(nil)
	if fi, err := t.f.Stat(); err == nil {
		fpLen = int(min(int64(s.fpBytes), fi.Size()))
		fp, head, _, _ = fingerprint(t.f, fpLen)
	}
	var extra []component.Checkpoint
	s.mu.Lock()
	if t.fpLen == s.fpBytes && t.head != nil {
		now := time.Now()
		s.retired = append(s.retired, retiredFP{fp: t.fp, head: t.head, offset: t.offset, at: now})
		// Also stored, so that a copy found after a restart resumes too;
		// pruned after checkpoint_ttl like any checkpoint.
		r := &record{Path: t.path, Offset: t.offset, FP: t.fp, FPLen: t.fpLen, Seen: now.Unix()}
		s.known[retiredPrefix+t.fp] = r
		extra = append(extra, component.Checkpoint{Key: retiredPrefix + t.fp, Value: r.encode()})
	}
	t.fp, t.fpLen, t.head = fp, fpLen, head
	s.mu.Unlock()
	t.offset, t.readPos, t.bufOff, t.consumed, t.fill = 0, 0, 0, 0, 0
	t.seen, t.atEnd = t.seen[:0], false
	t.splitting = false
	t.dirty = true
	if err := t.emit(ctx, extra...); err != nil {
		return err
	}
	s.requestScan() // a copy of the old content may be waiting
	return nil
}

// indexDelim finds the delimiter in buf[from:], aligned to code units for
// UTF-16. It returns an index into buf or -1.
func (t *tailer) indexDelim(from int) int {
	data := t.buf[:t.fill]
	if len(t.delim) == 1 {
		i := bytes.IndexByte(data[from:], t.delim[0])
		if i < 0 {
			return -1
		}
		return from + i
	}
	for from < len(data) {
		i := bytes.Index(data[from:], t.delim)
		if i < 0 {
			return -1
		}
		i += from
		if !t.utf16 || (t.bufOff+int64(i))%2 == 0 {
			return i
		}
		from = i + 1
	}
	return -1
}

// consume turns the complete lines in buf into items, emitting a batch every
// batch_lines lines and at the end. With final, a partial last line is
// taken too.
func (t *tailer) consume(ctx context.Context, final bool) error {
	pos := 0
	batch := t.s.cfg.BatchLines
	for {
		i := t.indexDelim(pos)
		if i < 0 {
			rest := t.fill - pos
			if rest > t.maxLine {
				t.s.metrics.splits.Inc()
				t.addLine(pos, pos+t.maxLine, true)
				t.splitting = true
				pos += t.maxLine
				t.consumed = t.bufOff + int64(pos)
			} else {
				if final && rest > 0 {
					t.addLine(pos, t.fill, t.splitting)
					t.splitting = false
					pos = t.fill
					t.consumed = t.bufOff + int64(pos)
				}
				break
			}
		} else if i-pos > t.maxLine {
			t.s.metrics.splits.Inc()
			t.addLine(pos, pos+t.maxLine, true)
			t.splitting = true
			pos += t.maxLine
			t.consumed = t.bufOff + int64(pos)
		} else {
			t.addLine(pos, i, t.splitting)
			t.splitting = false
			pos = i + len(t.delim)
			t.consumed = t.bufOff + int64(pos)
		}
		if len(t.items) >= batch {
			if err := t.emitBatch(ctx, final); err != nil {
				return err
			}
		}
	}
	if len(t.items) > 0 {
		if err := t.emitBatch(ctx, final); err != nil {
			return err
		}
	}
	copy(t.buf, t.buf[pos:t.fill])
	t.fill -= pos
	t.bufOff += int64(pos)
	return nil
}

// addLine adds buf[lo:hi] (a line without its delimiter) to the batch.
func (t *tailer) addLine(lo, hi int, split bool) {
	off := t.bufOff + int64(lo)
	it := item{off: off, lo: lo, hi: hi, split: split}
	if off == 0 { // byte order mark
		b := t.buf[lo:hi]
		switch {
		case !t.utf16 && bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
			it.lo += 3
		case t.utf16 && len(b) >= 2 && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF):
			it.lo += 2
		}
	}
	if t.utf16 {
		it.text, it.owned = t.decodeUTF16(t.buf[it.lo:it.hi]), true
		if !split && t.s.cfg.LineDelimiter == "\n" && len(it.text) > 0 && it.text[len(it.text)-1] == '\r' {
			it.text = it.text[:len(it.text)-1]
		}
	} else if !split && t.s.cfg.LineDelimiter == "\n" && it.hi > it.lo && t.buf[it.hi-1] == '\r' {
		it.hi--
	}
	if t.s.cfg.Multiline.start != nil {
		t.addMultiline(it)
		return
	}
	t.items = append(t.items, it)
}

func (t *tailer) decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if t.bigEnd {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	return string(utf16.Decode(u))
}

func (t *tailer) itemBytes(it *item) []byte {
	if it.owned {
		return []byte(it.text)
	}
	return t.buf[it.lo:it.hi]
}

// addMultiline appends a line to the record being assembled, flushing the
// previous record when the line starts a new one.
func (t *tailer) addMultiline(it item) {
	ml := t.s.cfg.Multiline
	line := t.itemBytes(&it)
	starts := ml.start.Match(line)
	if t.ml != nil && (starts || t.ml.lines >= ml.MaxLines) {
		t.flushGroup()
	}
	if t.ml == nil {
		t.ml = &mlGroup{start: it.off}
	} else {
		t.ml.text = append(t.ml.text, '\n')
	}
	t.ml.text = append(t.ml.text, line...)
	t.ml.lines++
	t.ml.split = t.ml.split || it.split
	t.ml.last = time.Now()
}

func (t *tailer) flushGroup() {
	g := t.ml
	t.ml = nil
	t.items = append(t.items, item{off: g.start, text: string(g.text), owned: true, split: g.split})
}

// checkpointOffset is the offset a restart must resume at: the start of a
// multiline record still being assembled, else the end of what was consumed.
func (t *tailer) checkpointOffset() int64 {
	if t.ml != nil {
		return t.ml.start
	}
	return t.consumed
}

// emitBatch emits the batch from consume: while reading on (not final), it
// is queued and the next batch is prepared while it is written.
func (t *tailer) emitBatch(ctx context.Context, final bool) error {
	if !final {
		if ae, ok := t.s.emitter.(component.AsyncEmitter); ok {
			return t.emitAsync(ctx, ae)
		}
	}
	return t.emit(ctx)
}

// emit commits the batch with the file's checkpoint and waits for it. On
// error nothing was stored and the caller stops.
func (t *tailer) emit(ctx context.Context, extra ...component.Checkpoint) error {
	if err := t.settle(); err != nil {
		return err
	}
	cpOff := t.checkpointOffset()
	if t.nothingNew(cpOff) {
		return nil
	}
	rec, n, err := t.send(ctx, cpOff, func(evs []*event.Event, cps []component.Checkpoint) (component.Pending, error) {
		ae, ok := t.s.emitter.(component.AsyncEmitter)
		if !ok {
			return nil, t.s.emitter.Emit(ctx, evs, cps...)
		}
		// The same as Emit, with the Pending that tells whether the events
		// were released.
		p, err := ae.EmitAsync(ctx, nil, evs, cps...)
		if err != nil {
			return nil, err
		}
		return p, p.Wait()
	}, extra...)
	if err != nil {
		return err
	}
	t.stored(rec, n)
	return nil
}

// emitAsync queues the batch with the file's checkpoint, then waits for the
// previous batch: reading and encoding overlap the buffer's write. A batch
// is chained after the previous one, so if that one fails this one is not
// stored either and the checkpoint never skips lines.
func (t *tailer) emitAsync(ctx context.Context, ae component.AsyncEmitter) error {
	cpOff := t.checkpointOffset()
	if t.nothingNew(cpOff) {
		return nil
	}
	var after, p component.Pending
	if t.inflight != nil {
		after = t.inflight.p
	}
	rec, n, err := t.send(ctx, cpOff, func(evs []*event.Event, cps []component.Checkpoint) (component.Pending, error) {
		var err error
		p, err = ae.EmitAsync(ctx, after, evs, cps...)
		return p, err
	})
	if err != nil {
		t.settle()
		return err
	}
	prev := t.inflight
	t.inflight = &inflight{p: p, rec: rec, n: n}
	if prev != nil {
		if err := prev.p.Wait(); err != nil {
			t.settle() // fails too (chained)
			return err
		}
		t.stored(prev.rec, prev.n)
	}
	return nil
}

// nothingNew reports whether a batch checkpointed at cpOff would carry
// nothing: no line, and the checkpoint of the last batch queued or stored.
func (t *tailer) nothingNew(cpOff int64) bool {
	last := t.offset
	if t.inflight != nil {
		last = t.inflight.rec.Offset
	}
	return len(t.items) == 0 && cpOff == last && !t.dirty
}

// send builds the batch in one of the source's building slots and hands
// its events and checkpoints (the file's, then extra) to emit. The events
// are released once emit returned (they are encoded by then), and their
// slab is reused when the emitter says nothing kept them (see
// component.Recycler); on success the batch is cleared.
func (t *tailer) send(ctx context.Context, cpOff int64, emit func([]*event.Event, []component.Checkpoint) (component.Pending, error), extra ...component.Checkpoint) (record, int, error) {
	if err := t.s.startBuilding(ctx); err != nil {
		return record{}, 0, err
	}
	rec := t.record(cpOff)
	sl := t.s.slabs.get()
	evs := t.build(rec.Path, sl)
	p, err := emit(evs, append([]component.Checkpoint{{Key: t.key, Value: rec.encode()}}, extra...))
	clear(evs) // do not keep the events alive
	if r, ok := p.(component.Recycler); ok && err == nil && r.Released() {
		t.s.slabs.put(sl)
	} else if t.s.cfg.Codec == "text" {
		// The events may live on, and their messages point into the read
		// buffer: leave it to them and read on in a copy. (The json codec's
		// values are copies.)
		t.detachBuf()
	}
	t.s.doneBuilding()
	if err != nil {
		return rec, 0, err
	}
	t.dirty = false
	t.items = t.items[:0]
	return rec, len(evs), nil
}

// detachBuf moves the tailer to a copy of its read buffer, the old one
// being referenced by events that were not released.
func (t *tailer) detachBuf() {
	if t.buf == nil {
		return
	}
	b := make([]byte, len(t.buf))
	copy(b, t.buf[:t.fill])
	t.buf, t.bufp = b, &b
}

// startBuilding waits for one of the source's building slots.
func (s *Source) startBuilding(ctx context.Context) error {
	select {
	case s.building <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Source) doneBuilding() { <-s.building }

// settle waits for the batch in flight, if any.
func (t *tailer) settle() error {
	f := t.inflight
	if f == nil {
		return nil
	}
	t.inflight = nil
	if err := f.p.Wait(); err != nil {
		return err
	}
	t.stored(f.rec, f.n)
	return nil
}

// record is the checkpoint of the file read up to off.
func (t *tailer) record(off int64) record {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return record{Path: t.path, Offset: off, FP: t.fp, FPLen: t.fpLen, Seen: time.Now().Unix()}
}

// stored records that a batch of n lines and its checkpoint rec are stored.
func (t *tailer) stored(rec record, n int) {
	s := t.s
	s.metrics.lines.Add(float64(n))
	t.offset = rec.Offset
	s.mu.Lock()
	s.known[t.key] = &rec
	s.mu.Unlock()
}

// build turns the batch into events. The allocations are per batch, not per
// line: events, properties, uuids and messages each come from one block.
func (t *tailer) build(path string, sl *slab) []*event.Event {
	n := len(t.items)
	if n == 0 {
		return nil
	}
	s, cfg := t.s, t.s.cfg
	host := s.set.Hostname
	now := time.Now()
	ts := t.times.Format(now)
	did := ""
	if !s.tpl.dynamic {
		did = s.tpl.render(host, path, nil)
	}

	// Borrowed lines share one string.
	lo, hi := -1, -1
	for i := range t.items {
		if it := &t.items[i]; !it.owned {
			if lo < 0 || it.lo < lo {
				lo = it.lo
			}
			hi = max(hi, it.hi)
		}
	}
	// The block is not copied: the events point into the read buffer,
	// which send replaces unless the emitter released them.
	var block string
	if lo >= 0 && hi > lo && cfg.Codec == "text" {
		block = unsafe.String(&t.buf[lo], hi-lo)
	}
	var idb []byte
	idb, t.rnd = event.AppendUUIDv7s(make([]byte, 0, n*36), n, now, t.rnd)
	ids := unsafe.String(unsafe.SliceData(idb), len(idb)) // idb is not written again
	evs, offs, fields, msgs := sl.take(n, cfg.Codec == "text")
	pathV, hostV := any(path), any(host)
	if cap(t.ptrs) < n {
		t.ptrs = make([]*event.Event, n)
	}
	ptrs := t.ptrs[:n]
	for i := range t.items {
		it := &t.items[i]
		ev := &evs[i]
		ev.UUID = ids[i*36 : i*36+36]
		ev.Event = cfg.Event
		ev.Timestamp = ts
		var props event.Map
		if cfg.Codec == "text" {
			msg := it.text
			if !it.owned {
				msg = block[it.lo-lo : it.hi-lo]
			}
			msgs[i] = msg
			props = fields[i*perEvent : i*perEvent : i*perEvent+perEvent]
			props = append(props, event.Field{Key: "message", Value: event.BoxString(&msgs[i])})
		} else {
			props = t.parseJSON(it, ev)
		}
		offs[i] = it.off
		if cfg.Codec == "text" {
			props = append(props,
				event.Field{Key: "$file", Value: pathV},
				event.Field{Key: "$host", Value: hostV},
				event.Field{Key: "$offset", Value: event.BoxInt64(&offs[i])})
			if it.split {
				props = append(props, event.Field{Key: "$line_split", Value: true})
			}
		} else { // the line's own keys of these names are replaced
			props.Set("$file", pathV)
			props.Set("$host", hostV)
			props.Set("$offset", event.BoxInt64(&offs[i]))
			if it.split {
				props.Set("$line_split", true)
			}
		}
		ev.Properties = props
		ev.DistinctID = did
		if s.tpl.dynamic {
			if ev.DistinctID = s.tpl.render(host, path, props); ev.DistinctID == "" {
				ev.DistinctID = host
			}
		}
		ptrs[i] = ev
	}
	return ptrs
}

// parseJSON maps a line with the json codec. A line that is not a JSON
// object is kept as text with $parse_error.
func (t *tailer) parseJSON(it *item, ev *event.Event) event.Map {
	b := t.itemBytes(it)
	v, err := event.ParseValue(b)
	if err == nil {
		if m, ok := v.(event.Map); ok {
			if f := t.s.cfg.TimestampField; f != "" {
				if ts, ok := m.GetString(f); ok && ts != "" {
					ev.Timestamp = ts
					m.Delete(f)
				}
			}
			return m
		}
		err = errNotObject
	}
	t.s.metrics.parseErrors.Inc()
	msg := it.text
	if !it.owned {
		msg = string(b)
	}
	return event.Map{{Key: "message", Value: msg}, {Key: "$parse_error", Value: err.Error()}}
}

type notObjectError struct{}

func (notObjectError) Error() string { return "not a JSON object" }

var errNotObject error = notObjectError{}
