package buffer

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	bolt "go.etcd.io/bbolt"
)

// queue is the in-memory state of one queue; guarded by Buffer.mu.
type queue struct {
	name    string
	cfg     QueueConfig
	bytes   int64 // committed + reserved
	count   int64 // committed records
	chunks  int64
	nextSeq uint64
	space   chan struct{} // closed when bytes decrease
	data    chan struct{} // closed when records are committed
	// hot holds the framed bodies of the latest chunks written, by
	// sequence number, for the queue's reader: a reader that keeps up takes
	// them from here instead of reading back and decompressing what was
	// just written. The chunks are on disk all the same. Guarded by the
	// buffer's mu.
	hot map[uint64]hotChunk
}

// hotChunk is a written chunk's framed body (see queue.hot).
type hotChunk struct {
	body  []byte
	count int
	size  int64 // of the sealed chunk on disk
}

// maxHot bounds queue.hot: a reader that is behind (a receiver down, a
// backlog) reads from disk, and the bodies of a few chunks are all that
// waits for it in memory.
const maxHot = 2

// keepHot hands a chunk just written to the queue's reader, taking its
// body, unless enough are waiting. The buffer's mu is held.
func (q *queue) keepHot(w *chunkWrite) {
	if w.body == nil || len(q.hot) >= maxHot {
		return
	}
	if q.hot == nil {
		q.hot = map[uint64]hotChunk{}
	}
	q.hot[w.seq] = hotChunk{body: w.body, count: w.count, size: w.size}
	w.body = nil
}

func newQueue(name string, cfg QueueConfig) *queue {
	return &queue{name: name, cfg: cfg, space: make(chan struct{}), data: make(chan struct{})}
}

func (q *queue) spaceCh() <-chan struct{} { return q.space }
func (q *queue) dataCh() <-chan struct{}  { return q.data }

func (q *queue) signalSpace() {
	close(q.space)
	q.space = make(chan struct{})
}

func (q *queue) signalData() {
	close(q.data)
	q.data = make(chan struct{})
}

func (q *queue) wakeAll() {
	q.signalSpace()
	q.signalData()
}

// chunkCount reads the record count of a chunk without decoding it.
func chunkCount(v []byte) int {
	if len(v) < chunkHeader+1 {
		return 0
	}
	n, k := binary.Uvarint(v[chunkHeader:])
	if k <= 0 {
		return 0
	}
	return int(n)
}

// Reader consumes one queue in order. Next must be called from one goroutine
// at a time; Ack may be called from any goroutine, in any order: a chunk is
// deleted once every record of it was acknowledged. Records of a chunk that
// was only partly acknowledged when the process stopped are delivered again
// after a restart (at-least-once; uuids let PostHog deduplicate).
type Reader struct {
	b *Buffer
	q *queue

	loadSeq uint64   // next chunk key to load
	cur     [][]byte // undelivered records of the loaded chunk
	curSeq  uint64
	curOff  int // index in its chunk of cur[0]

	mu     sync.Mutex
	states map[uint64]*chunkState
}

type chunkState struct {
	remaining int
	count     int64
	bytes     int64
	// backing is the buffer the chunk's records alias, given back to the
	// buffer's chunk pool once every record is acknowledged: the sinks are
	// done with them by then (Ack follows a successful Deliver).
	backing []byte
	// acked marks the records acknowledged while others of the chunk are
	// not (nil until then), for Trim.
	acked []bool
}

// Lease is a run of records handed to a consumer; Ack it after delivery.
type Lease struct {
	Records [][]byte
	parts   []part
	bytes   int
}

type part struct {
	seq uint64
	off int // index in the chunk of the part's first record
	n   int
}

// Reader returns a reader of a registered queue, starting at its oldest
// record. Use one reader per queue.
func (b *Buffer) Reader(name string) (*Reader, error) {
	b.mu.Lock()
	q, ok := b.queues[name]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("reader: queue %q is not registered", name)
	}
	return &Reader{b: b, q: q, states: map[uint64]*chunkState{}}, nil
}

// Next returns up to maxRecords records (and about maxBytes, but at least
// one record), blocking until one is available or ctx is done. Once it has a
// record it waits up to linger for more to fill the lease.
func (r *Reader) Next(ctx context.Context, maxRecords, maxBytes int, linger time.Duration) (*Lease, error) {
	lease := &Lease{Records: make([][]byte, 0, min(maxRecords, 4096))}
	var lingerC <-chan time.Time
	for {
		r.b.mu.Lock()
		closed := r.b.closed
		dataCh := r.q.dataCh()
		r.b.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if err := r.fill(lease, maxRecords, maxBytes); err != nil {
			return nil, err
		}
		if len(lease.Records) >= maxRecords || lease.bytes >= maxBytes {
			return lease, nil
		}
		if len(lease.Records) > 0 {
			if linger <= 0 {
				return lease, nil
			}
			if lingerC == nil {
				t := time.NewTimer(linger)
				defer t.Stop()
				lingerC = t.C
			}
		}
		select {
		case <-ctx.Done():
			if len(lease.Records) > 0 {
				return lease, nil
			}
			return nil, ctx.Err()
		case <-lingerC:
			return lease, nil
		case <-dataCh:
		}
	}
}

// fill moves records into lease, loading chunks from disk as needed. It
// returns when the lease is full or no committed chunk is left.
func (r *Reader) fill(lease *Lease, maxRecords, maxBytes int) error {
	for len(lease.Records) < maxRecords && (lease.bytes < maxBytes || len(lease.Records) == 0) {
		if len(r.cur) == 0 {
			ok, err := r.load()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			continue
		}
		rec := r.cur[0]
		if len(lease.Records) > 0 && lease.bytes+len(rec) > maxBytes {
			return nil
		}
		r.cur = r.cur[1:]
		lease.Records = append(lease.Records, rec)
		lease.bytes += len(rec)
		if n := len(lease.parts); n > 0 && lease.parts[n-1].seq == r.curSeq {
			lease.parts[n-1].n++
		} else {
			lease.parts = append(lease.parts, part{seq: r.curSeq, off: r.curOff, n: 1})
		}
		r.curOff++
	}
	return nil
}

// load reads the next chunk, from queue.hot when it is there, else from
// disk. A chunk that fails its checksum is moved to dead letters and
// skipped.
func (r *Reader) load() (bool, error) {
	if ok, err := r.loadHot(); ok || err != nil {
		return ok, err
	}
	for {
		var seq uint64
		var val []byte
		err := r.b.db.View(func(tx *bolt.Tx) error {
			qb := tx.Bucket(bucketQueues).Bucket([]byte(r.q.name))
			if qb == nil {
				return nil
			}
			k, v := qb.Cursor().Seek(seqKey(r.loadSeq))
			if k == nil {
				return nil
			}
			seq = keySeq(k)
			val = append(r.b.chunks.get(len(v)), v...) // v lives in the mmap only during the tx
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("read queue %q: %w", r.q.name, err)
		}
		if val == nil {
			return false, nil
		}
		r.loadSeq = seq + 1
		r.dropHot()
		records, backing, err := decodeChunkInto(val, r.b.chunks)
		if err != nil {
			good, data := r.quarantine(seq, val) // val may be a dead letter: not pooled
			if len(good) == 0 {
				continue
			}
			r.begin(seq, good, int64(len(data)), nil)
			return true, nil
		}
		size := len(val)
		if !sameBuffer(backing, val) {
			r.b.chunks.put(val) // decompressed: the records alias backing
		}
		if len(records) == 0 {
			r.b.chunks.put(backing)
			r.submitDelete(deleteOp{q: r.q, seq: seq, bytes: int64(size)})
			continue
		}
		r.begin(seq, records, int64(size), backing)
		return true, nil
	}
}

// loadHot takes the next chunk from queue.hot if it is there.
func (r *Reader) loadHot() (bool, error) {
	r.b.mu.Lock()
	r.dropHotLocked()
	h, ok := r.q.hot[r.loadSeq]
	if ok {
		delete(r.q.hot, r.loadSeq)
	}
	r.b.mu.Unlock()
	if !ok {
		return false, nil
	}
	seq := r.loadSeq
	r.loadSeq++
	records, err := splitBody(h.body, uint64(h.count))
	if err != nil || len(records) == 0 {
		// Framed by this process a moment ago: a bug, not a damaged disk.
		return false, fmt.Errorf("read queue %q: chunk %d as written does not split: %v", r.q.name, seq, err)
	}
	r.begin(seq, records, h.size, h.body)
	return true, nil
}

// begin makes chunk seq (size bytes on disk, its records aliasing backing)
// the one fill takes records from, and tracks it until they are acked.
func (r *Reader) begin(seq uint64, records [][]byte, size int64, backing []byte) {
	r.mu.Lock()
	r.states[seq] = &chunkState{remaining: len(records), count: int64(len(records)), bytes: size, backing: backing}
	r.mu.Unlock()
	r.cur, r.curSeq, r.curOff = records, seq, 0
}

// dropHot gives back the bodies in queue.hot the reader has passed (read
// from disk instead: it read them before they were kept, or was behind).
func (r *Reader) dropHot() {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.dropHotLocked()
}

func (r *Reader) dropHotLocked() {
	for seq, h := range r.q.hot {
		if seq < r.loadSeq {
			delete(r.q.hot, seq)
			r.b.chunks.put(h.body)
		}
	}
}

// quarantine handles a chunk that fails its checksum, loudly, so it never
// blocks the queue: the records that can still be read stay in the queue
// (the chunk is rewritten with only them) and the unreadable pieces go to
// dead letters, in one transaction. It returns the readable records and
// the rewritten chunk (none: the chunk is deleted and the whole of it
// becomes the dead letter).
func (r *Reader) quarantine(seq uint64, val []byte) ([][]byte, []byte) {
	r.b.mu.Lock()
	r.b.corrupt++
	r.b.mu.Unlock()
	good, bad := salvageChunk(val)
	req := &request{}
	var data []byte
	if len(good) == 0 {
		req.deadLetters = []component.DeadLetter{{Component: r.q.name, Reason: "corrupt buffer chunk (checksum mismatch)", Record: val}}
		req.deletes = []deleteOp{{q: r.q, seq: seq, bytes: int64(len(val)), count: int64(chunkCount(val))}}
	} else {
		data = encodeChunk(nil, good, chunkTime(val))
		for _, b := range bad {
			req.deadLetters = append(req.deadLetters, component.DeadLetter{Component: r.q.name, Reason: reasonDamagedRecords, Record: b})
		}
		req.replaces = []replaceOp{{q: r.q, seq: seq, data: data, bytes: int64(len(data) - len(val)), count: int64(len(good) - chunkCount(val))}}
	}
	r.b.log.Error("buffer: corrupt chunk; readable records kept, the rest moved to dead letters", "queue", r.q.name, "seq", seq, "bytes", len(val),
		"readable_records", len(good), "unreadable_pieces", len(bad))
	r.submit(req)
	return good, data
}

// Ack marks the lease's records delivered. Fully delivered chunks are
// deleted in the next group commit (asynchronously: a crash before that
// only causes a redelivery).
func (r *Reader) Ack(l *Lease) {
	var dels []deleteOp
	r.mu.Lock()
	for _, p := range l.parts {
		st := r.states[p.seq]
		if st == nil {
			continue
		}
		st.remaining -= p.n
		if st.remaining > 0 {
			if st.acked == nil {
				st.acked = make([]bool, st.count)
			}
			for i := p.off; i < p.off+p.n && i < len(st.acked); i++ {
				st.acked[i] = true
			}
		}
		if st.remaining <= 0 {
			delete(r.states, p.seq)
			r.b.chunks.put(st.backing)
			dels = append(dels, deleteOp{q: r.q, seq: p.seq, bytes: st.bytes, count: st.count})
		}
	}
	r.mu.Unlock()
	if len(dels) > 0 {
		r.submit(&request{deletes: dels})
	}
}

func (r *Reader) submitDelete(d deleteOp) { r.submit(&request{deletes: []deleteOp{d}}) }

func (r *Reader) submit(req *request) {
	select {
	case r.b.reqs <- req:
	case <-r.b.stop:
	}
}

// Trim rewrites every chunk of which some records were acknowledged and
// others not, so that it holds only the unacknowledged ones, and returns
// how many acknowledged records it removed. Without it the whole chunk
// would be delivered again after a restart. Call it on a clean stop, once
// no delivery of the reader's leases is running; the reader must not be
// used afterwards.
func (r *Reader) Trim() (int, error) {
	r.mu.Lock()
	type trim struct {
		seq   uint64
		acked []bool
	}
	var todo []trim
	for seq, st := range r.states {
		if st.acked != nil && st.remaining > 0 {
			todo = append(todo, trim{seq, st.acked})
		}
	}
	r.mu.Unlock()
	if len(todo) == 0 {
		return 0, nil
	}
	removed := 0
	var dBytes int64
	err := r.b.db.Update(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket([]byte(r.q.name))
		if qb == nil {
			return fmt.Errorf("queue %q missing from buffer file", r.q.name)
		}
		for _, t := range todo {
			v := qb.Get(seqKey(t.seq))
			if v == nil {
				continue
			}
			recs, err := decodeChunk(v)
			if err != nil || len(recs) != len(t.acked) {
				continue // leave a chunk we cannot account for as it is
			}
			keep := make([][]byte, 0, len(recs))
			for i, rec := range recs {
				if !t.acked[i] {
					keep = append(keep, rec)
				}
			}
			nv := encodeChunk(nil, keep, chunkTime(v))
			oldLen := int64(len(v)) // v is invalid after Put
			if err := qb.Put(seqKey(t.seq), nv); err != nil {
				return fmt.Errorf("trim chunk %d of queue %q: %w", t.seq, r.q.name, err)
			}
			removed += len(recs) - len(keep)
			dBytes += int64(len(nv)) - oldLen
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	r.b.mu.Lock()
	r.q.count -= int64(removed)
	r.q.bytes += dBytes
	r.q.signalSpace()
	r.b.mu.Unlock()
	return removed, nil
}
