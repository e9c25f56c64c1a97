package file

import (
	"context"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// tailer follows one open file in its own goroutine, so that the events of
// a file keep their order while files are read in parallel. It owns the
// file, the timers and the emitting; what the bytes mean is its
// lineReader's business, and whether the file still holds the content
// read from it is its identity's.
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
	// ident is only written by the tailer's goroutine (under s.mu), which
	// therefore reads it without the lock.
	ident identity

	// Owned by the goroutine (set before it starts).
	// retired is the checkpoint of the content this file held before it
	// was truncated while hogtail was down, stored with its new start.
	retired    *component.Checkpoint
	startAtEnd bool  // read_from = "end" applies
	startSize  int64 // size when found
	// heldSize and heldAt: the size a pending file held as a copy had
	// when it was last seen to grow, and when (see classify); only the
	// tailer's goroutine uses them.
	heldSize int64
	heldAt   time.Time
	offset   int64       // committed: every line before it is stored
	lr       *lineReader // nil until the start is decided
	bufp     *[]byte     // the pooled buffer lr reads into, if any (holding a read slot)
	// partial is the allocation dropBuf keeps a partial last line in.
	partial []byte
	// wanting: found no free read buffer, counted in s.reading.wanting.
	wanting    bool
	lastGrowth time.Time
	dirty      bool // checkpoint fields changed without an event
	// readFailing: a read error was logged; log again once it works.
	readFailing bool
	// head is what this tailer read of the file's first bytes; replaced
	// compares it with the file.
	head readHead
	// atEnd: the last read reached the end of the file (or failed). Data
	// read next was written since, possibly by a truncate-and-rewrite: it
	// is checked before use.
	atEnd bool

	rnd   []byte
	times event.TimeFormatter
	ptrs  []*event.Event
	// out stores the batches in file order, each tagged with its
	// checkpoint; stored is called as each one lands.
	out *component.Ordered[record]
}

// newOut sets up the tailer's ordered emitting: a batch that fails stops
// the tailer (the file is read again from its checkpoint), so no retry.
func (t *tailer) newOut() {
	t.out = component.NewOrdered(t.s.emitter, component.OrderedOptions[record]{
		Landed: func(l component.Landed[record]) {
			if l.Err == nil {
				t.stored(l.Tag, l.Events)
			}
		},
	})
}

func (t *tailer) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run steps the tailer until its file is closed or ctx is done, waiting
// between steps for a wake-up or the time step asked for.
func (t *tailer) run(ctx context.Context) {
	defer t.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait, done, err := t.step(ctx)
		if err != nil && ctx.Err() == nil {
			// The buffer refused the lines (a full disk, a full queue that
			// gave up): nothing after the checkpoint was stored, and the
			// next scan reads them again from there.
			t.s.log.Warn("cannot store the lines read; they are read again from the checkpoint", "path", t.curPath(), "error", err)
		}
		if err != nil || done {
			return
		}
		timer.Reset(wait)
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

// step does all the tailer can do without waiting: it decides where a new
// file starts, reads what was written, and handles the end of the file
// (truncation, timeouts, rotation). It returns how long to wait before the
// next step at most (a write wakes it earlier); done means the file is
// finished and must be closed. An error (an emit that failed) stops the
// tailer too: nothing after its checkpoint was stored, and the file is
// read again from there when a scan finds it.
func (t *tailer) step(ctx context.Context) (wait time.Duration, done bool, err error) {
	s := t.s
	if t.lr == nil {
		s.mu.Lock()
		pending := t.pending
		s.mu.Unlock()
		if pending {
			if done, err := t.classify(ctx); err != nil || done {
				return 0, done, err
			}
			s.mu.Lock()
			pending = t.pending
			s.mu.Unlock()
			if pending {
				return s.cfg.PollInterval.D(), false, nil
			}
			if s.afterClassify != nil {
				s.afterClassify(t.path)
			}
		}
		t.startReading()
	}
	for ctx.Err() == nil {
		if t.bufp == nil && !t.holdBuf() {
			// Every read buffer is taken: try again shortly (holders give
			// theirs up between reads while this tailer wants one).
			return readRetry, false, nil
		}
		pos := t.lr.readPos()
		n, rerr := t.f.ReadAt(t.lr.space(), pos)
		if n > 0 && t.atEnd {
			// Written since the last read reached the end (or failed), for
			// example while we slept. If the file was truncated and
			// rewritten past our offset in between, what was just read is
			// the new content's middle: start over instead.
			t.atEnd = false
			if fi, serr := t.f.Stat(); serr == nil && t.replaced(fi.Size()) {
				if err := t.truncated(ctx); err != nil {
					return 0, false, err
				}
				continue
			}
		}
		if n > 0 {
			t.atEnd = rerr == io.EOF
			t.head.note(pos, t.lr.space()[:n])
			t.lr.added(n)
			if t.ident.n < s.fpBytes && t.lr.readPos() >= int64(s.fpBytes) {
				// Complete as soon as it can be, not at the next EOF: a
				// copy made before it (copytruncate) would not be
				// recognised and be read again from its start.
				t.growIdentity(t.lr.readPos())
			}
			s.metrics.bytes.Add(float64(n))
			t.lastGrowth = s.now()
			if err := t.consume(ctx, false); err != nil {
				return 0, false, err
			}
			if s.reading.contended() && t.dropBuf() {
				// Other files wait for a read buffer: take turns, so that
				// files written flat out do not keep them from being read.
				runtime.Gosched()
			}
			continue
		}
		// The read path pauses here: everything below works on what is
		// stored (offset, known checkpoints).
		t.atEnd = true
		if err := t.settle(); err != nil {
			return 0, false, err
		}
		if rerr != nil && rerr != io.EOF {
			s.metrics.readErrors.Inc()
			if !t.readFailing {
				s.log.Warn("read failed, will retry", "path", t.curPath(), "error", rerr)
			}
			t.readFailing = true
		} else {
			if t.readFailing {
				s.log.Info("read works again", "path", t.curPath())
				t.readFailing = false
			}
			if done, err := t.atEOF(ctx); err != nil || done {
				return 0, done, err
			}
			if t.changed() {
				continue // grown meanwhile, or reset by truncation
			}
		}
		t.dropBuf() // nothing to read until the file grows
		return t.nextWait(), false, nil
	}
	return 0, false, ctx.Err()
}

// startReading sets the line reader up at the decided offset.
func (t *tailer) startReading() {
	var first []byte
	if t.s.cfg.Encoding == "utf-16" { // the byte order mark decides
		var bom [2]byte
		n, _ := t.f.ReadAt(bom[:], 0)
		first = bom[:n]
	}
	t.lr = newLineReader(t.s.cfg, first, t.offset)
	t.head = readHead{max: t.s.fpBytes}
	t.lastGrowth = t.s.now()
	// The first read checks that the file still holds the content its
	// identity was taken from (see step): a copytruncate right after the
	// file was found must not have its new content read as the old.
	t.atEnd = true
}

// changed reports whether the file grew past what was read.
func (t *tailer) changed() bool {
	fi, err := t.f.Stat()
	return err == nil && fi.Size() > t.lr.readPos()
}

func (t *tailer) curPath() string {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return t.path
}

func (t *tailer) close() {
	t.settle() // what fails here is read again from the checkpoint
	t.f.Close()
	t.stopWanting()
	if t.bufp != nil {
		t.s.pool.Put(t.bufp)
		t.s.reading.release()
		t.lr.buf, t.bufp = nil, nil
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
	now := t.s.now()
	if idle := t.lr.groupIdle(now); idle >= 0 {
		d = min(d, max(cfg.Multiline.Timeout.D()-idle, time.Millisecond))
	}
	t.s.mu.Lock()
	rotated, at := t.rotated, t.rotatedAt
	t.s.mu.Unlock()
	if rotated {
		idle := now.Sub(latest(t.lastGrowth, at))
		if t.lr.fill > 0 {
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
// rotated file. done means the file is finished. step calls it with no
// batch in flight.
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
	t.growIdentity(size)
	now := s.now()
	if t.lr.groupIdle(now) >= cfg.Multiline.Timeout.D() {
		t.lr.flushGroup()
	}
	s.mu.Lock()
	rotated, at := t.rotated, t.rotatedAt
	s.mu.Unlock()
	idle := now.Sub(latest(t.lastGrowth, at))
	final := rotated && idle >= cfg.PartialLineTimeout.D()
	if final && t.lr.fill > 0 {
		if err := t.consume(ctx, true); err != nil {
			return false, err
		}
	}
	if len(t.lr.items) > 0 || t.dirty {
		if err := t.emit(ctx); err != nil {
			return false, err
		}
	}
	if rotated && idle >= cfg.RotateWait.D() && t.lr.fill == 0 {
		if t.lr.group != nil {
			t.lr.flushGroup()
			if err := t.emit(ctx); err != nil {
				return false, err
			}
		}
		s.metrics.rotations.Inc()
		if nlink(fi) == 0 { // deleted: nothing can find it again
			s.mu.Lock()
			delete(s.known, t.key)
			// Its content may live on in a copy (cp then rm, a move
			// across file systems): that copy resumes where this file
			// was read to, as after a truncation.
			cps := append([]component.Checkpoint{{Key: t.key}}, s.retire(t)...)
			s.mu.Unlock()
			if err := s.emitter.Emit(ctx, nil, cps...); err != nil {
				return false, err
			}
			s.requestScan() // a copy may be waiting
		}
		return true, nil
	}
	return false, nil
}

// retire records that the content t identified left its file (truncated,
// or the file deleted) after being read to t.offset, so that a copy of it
// resumes there; it returns the checkpoint that stores that, so that a
// copy found after a restart resumes too (pruned after checkpoint_ttl like
// any checkpoint). Called with s.mu held.
func (s *Source) retire(t *tailer) []component.Checkpoint {
	old := t.ident
	if !old.complete(s.fpBytes) || old.head == nil {
		return nil
	}
	now := s.now()
	s.retired = append(s.retired, retiredFP{id: old, offset: t.offset, at: now})
	r := &record{Path: t.path, Offset: t.offset, FP: old.fp, FPLen: old.n, Seen: now.Unix()}
	s.known[retiredPrefix+old.fp] = r
	return []component.Checkpoint{{Key: retiredPrefix + old.fp, Value: r.encode()}}
}

// growIdentity extends an identity shorter than fingerprint_bytes to the
// file's first size bytes (at most fingerprint_bytes). Only this
// goroutine writes t.ident, so it reads it without the lock.
func (t *tailer) growIdentity(size int64) {
	s := t.s
	if t.ident.n >= s.fpBytes || size <= int64(t.ident.n) {
		return
	}
	n := int(min(int64(s.fpBytes), size))
	if id, ok, err := readIdentity(t.f, n); err == nil && ok {
		s.mu.Lock()
		t.ident = id
		s.mu.Unlock()
		t.dirty = true
	}
}

// replaced reports whether the file shrank below what was read or its first
// bytes changed: truncated, maybe refilled past our offset already.
func (t *tailer) replaced(size int64) bool {
	if size < t.lr.readPos() || t.head.changedIn(t.f) {
		return true
	}
	t.s.mu.Lock()
	id := t.ident
	t.s.mu.Unlock()
	return !id.heldBy(t.f)
}

// truncated restarts at 0 after the file shrank or its first bytes changed
// (copytruncate). The old content's fingerprint and offset are remembered
// so that a copy of it found later resumes where this file stopped.
func (t *tailer) truncated(ctx context.Context) error {
	if err := t.settle(); err != nil {
		return err
	}
	s := t.s
	t.lr.flushGroup()
	if len(t.lr.items) > 0 {
		if err := t.emit(ctx); err != nil {
			return err
		}
	}
	s.metrics.truncations.Inc()
	s.log.Info("file truncated, reading from the start", "path", t.curPath(), "offset", t.offset, "fp", t.ident.fp)
	var id identity
	if fi, err := t.f.Stat(); err == nil {
		id = identityAt(t.f, int(min(int64(s.fpBytes), fi.Size())))
	}
	s.mu.Lock()
	extra := s.retire(t)
	t.ident = id
	s.mu.Unlock()
	t.offset = 0
	t.lr.reset(0)
	t.head.reset()
	t.atEnd = true // the next read checks the new content's identity again
	t.dirty = true
	if err := t.emit(ctx, extra...); err != nil {
		return err
	}
	s.requestScan() // a copy of the old content may be waiting
	return nil
}

// consume turns the complete lines read into items, emitting a batch every
// batch_lines lines and at the end. With final, a partial last line is
// taken too.
func (t *tailer) consume(ctx context.Context, final bool) error {
	now := t.s.now()
	for {
		more := t.lr.lines(final, t.s.cfg.BatchLines, now)
		if n := t.lr.takeSplits(); n > 0 {
			t.s.metrics.splits.Add(float64(n))
		}
		if len(t.lr.items) > 0 {
			if err := t.emitBatch(ctx, final); err != nil {
				return err
			}
		}
		if !more {
			break
		}
	}
	t.lr.compact()
	return nil
}

// emitBatch emits the batch from consume: while reading on (not final), it
// is queued and the next batch is prepared while it is written.
func (t *tailer) emitBatch(ctx context.Context, final bool) error {
	if final {
		return t.emit(ctx)
	}
	return t.emitAsync(ctx)
}

// emit commits the batch with the file's checkpoint and waits for it. On
// error nothing was stored and the caller stops.
func (t *tailer) emit(ctx context.Context, extra ...component.Checkpoint) error {
	if err := t.settle(); err != nil {
		return err
	}
	if err := t.send(ctx, extra...); err != nil {
		return err
	}
	return t.settle()
}

// emitAsync queues the batch with the file's checkpoint, then waits for the
// previous batch: reading and encoding overlap the buffer's write. A batch
// is chained after the previous one, so if that one fails this one is not
// stored either and the checkpoint never skips lines.
func (t *tailer) emitAsync(ctx context.Context) error {
	if err := t.send(ctx); err != nil {
		t.settle() // the batches before it are read again if they fail too
		return err
	}
	return t.out.Wait(ctx, 1)
}

// nothingNew reports whether a batch checkpointed at cpOff would carry
// nothing: no line, and the checkpoint of the last batch queued or stored.
func (t *tailer) nothingNew(cpOff int64) bool {
	last := t.offset
	if rec, ok := t.out.Last(); ok {
		last = rec.Offset
	}
	return len(t.lr.items) == 0 && cpOff == last && !t.dirty
}

// send builds the batch in one of the source's building slots and queues
// its events and checkpoints (the file's, then extra), unless it would
// carry nothing new. The events are released once queued (they are encoded
// by then), and their slab is reused when the emitter says nothing kept
// them (see component.Recycler); on success the batch is cleared.
func (t *tailer) send(ctx context.Context, extra ...component.Checkpoint) error {
	cpOff := t.lr.checkpointOffset()
	if t.nothingNew(cpOff) {
		return nil
	}
	if err := t.s.startBuilding(ctx); err != nil {
		return err
	}
	rec := t.record(cpOff)
	sl := t.s.slabs.get()
	evs := t.build(rec.Path, sl)
	released, err := t.out.Queue(ctx, rec, evs, append([]component.Checkpoint{{Key: t.key, Value: rec.encode()}}, extra...)...)
	clear(evs) // do not keep the events alive
	if released {
		t.s.slabs.put(sl)
		if event.PoisonReleased && t.s.cfg.Codec == "text" && t.lr.buf != nil {
			// The released messages point into the read buffer: read on
			// in a copy and poison it, so a holder of one reads poison.
			old := t.lr.buf
			t.detachBuf()
			event.PoisonBytes(old)
		}
	} else if t.s.cfg.Codec == "text" {
		// The events may live on, and their messages point into the read
		// buffer: leave it to them and read on in a copy. (The json codec's
		// values are copies.)
		t.detachBuf()
	}
	t.s.doneBuilding()
	if err != nil {
		return err
	}
	t.dirty = false
	t.lr.items = t.lr.items[:0]
	return nil
}

// detachBuf moves the tailer to a copy of its read buffer, the old one
// being referenced by events that were not released. The copy goes to the
// pool when the tailer is idle, the old one never. A partial line kept
// without a pooled buffer (see dropBuf) is copied the same way.
func (t *tailer) detachBuf() {
	if t.lr.buf == nil {
		return
	}
	t.lr.detach()
	// The old bytes are the events' now: dropBuf must not reuse them.
	t.partial = nil
	if t.bufp != nil {
		b := t.lr.buf
		t.bufp = &b
	}
}

// readRetry is how soon a tailer that found no free read buffer tries
// again.
const readRetry = 20 * time.Millisecond

// holdBuf takes a read slot and a pooled buffer for lr, with the partial
// line dropBuf kept, if any, at its start. It reports false when no slot is
// free; the tailer then counts as wanting one until it gets one.
func (t *tailer) holdBuf() bool {
	if !t.s.reading.tryAcquire() {
		if !t.wanting {
			t.wanting = true
			t.s.reading.wanting.Add(1)
		}
		return false
	}
	t.stopWanting()
	t.bufp = t.s.pool.Get().(*[]byte)
	copy(*t.bufp, t.lr.buf[:t.lr.fill])
	t.lr.buf = *t.bufp
	return true
}

func (t *tailer) stopWanting() {
	if t.wanting {
		t.wanting = false
		t.s.reading.wanting.Add(-1)
	}
}

// dropBuf gives the pooled read buffer and its slot back when the reader
// holds no lines not yet sent (a multiline record in progress owns its
// text): the bytes of a partial last line (at most max_line_bytes; an
// active file's last line may wait for its delimiter for ever) move to an
// allocation of their own. It reports whether it did.
func (t *tailer) dropBuf() bool {
	lr := t.lr
	if t.bufp == nil || len(lr.items) > 0 {
		return false
	}
	lr.compact()
	if lr.fill > 0 {
		lr.buf = append(t.partial[:0], lr.buf[:lr.fill]...)
		t.partial = lr.buf
	} else {
		lr.buf = nil
	}
	t.s.pool.Put(t.bufp)
	t.bufp = nil
	t.s.reading.release()
	return true
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
	return t.out.Wait(context.Background(), 0)
}

// record is the checkpoint of the file read up to off.
func (t *tailer) record(off int64) record {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return record{Path: t.path, Offset: off, FP: t.ident.fp, FPLen: t.ident.n, Seen: t.s.now().Unix()}
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
	items, buf := t.lr.items, t.lr.buf
	n := len(items)
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
	for i := range items {
		if it := &items[i]; !it.owned {
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
		block = event.UnsafeString(buf[lo:hi])
	}
	var idb []byte
	idb, t.rnd = event.AppendUUIDv7s(make([]byte, 0, n*36), n, now, t.rnd)
	ids := event.UnsafeString(idb) // idb is not written again
	evs, offs, fields, msgs := sl.take(n, cfg.Codec == "text")
	pathV, hostV := any(path), any(host)
	if cap(t.ptrs) < n {
		t.ptrs = make([]*event.Event, n)
	}
	ptrs := t.ptrs[:n]
	for i := range items {
		it := &items[i]
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
	b := t.lr.itemBytes(it)
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
