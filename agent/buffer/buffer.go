// Package buffer is hogtail's durable disk buffer: one bbolt file holding a
// queue per sink, the sources' checkpoints, dead letters and connector
// storage.
//
// Writes go through a single committer goroutine that merges every commit
// request waiting at that moment into one bbolt transaction (group commit):
// under load one fsync covers many producers, and a lone producer pays no
// artificial delay. A source's checkpoint is written in the same transaction
// as the records it produced, so the two always agree after a crash.
package buffer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	bolt "go.etcd.io/bbolt"
)

// Bucket names.
var (
	bucketQueues      = []byte("queues")
	bucketCheckpoints = []byte("checkpoints")
	bucketDeadLetters = []byte("dead_letters")
	bucketKV          = []byte("kv")
)

// Options configure Open.
type Options struct {
	// Sync fsyncs every commit (the default in hogtail's config). Without
	// it a machine crash (not a process crash) can lose the last commits.
	Sync bool
	// Logger receives loud errors (a damaged file set aside, corrupt chunks).
	Logger *slog.Logger
	// OpenTimeout bounds the wait for the file lock held by another process.
	OpenTimeout time.Duration
	// Child runs the damage check and the salvage in a child process (see
	// Open). hogtail re-executes itself; nil checks nothing beforehand.
	Child ChildCommand
	// Waiting, if set, is called every few seconds while a check or a
	// salvage runs (hogtail extends systemd's start timeout with it).
	Waiting func()
	// KeepDamaged makes Open fail with ErrDamaged on a damaged file
	// instead of setting it aside (the offline CLI commands).
	KeepDamaged bool
}

// Buffer is an open disk buffer. It is safe for concurrent use.
type Buffer struct {
	db   *bolt.DB
	path string
	log  *slog.Logger

	reqs    chan *request
	stop    chan struct{}
	stopped chan struct{}

	mu     sync.Mutex
	queues map[string]*queue
	closed bool

	// corrupt counts chunks found damaged and moved to dead letters.
	corrupt uint64
	// dropped counts records refused by drop_newest queues, per queue.
	dropped map[string]uint64
	// writeErr is the error of the last write transaction when it failed
	// (a full disk), nil once one succeeds again.
	writeErr error

	// chunks recycles the large buffers of chunks: framed bodies, sealed
	// chunks, and what readers load and decompress chunks into.
	chunks *chunkPool

	// redo holds deletions whose commit failed (disk full); only the
	// committer goroutine touches it.
	redo []*request
	// sealed is the committer's scratch list of a group's requests.
	sealed []*request
	// unsealed counts the bytes of framed bodies queued for the committer.
	unsealed atomic.Int64
	// writing is set while the committer writes a group (seal, transaction,
	// fsync): see Start.
	writing atomic.Bool

	// journal is the checkpoint copy; only the committer writes to it.
	journal *journal
	// recovery is what Open did with a damaged file, nil if nothing.
	recovery *Recovery
}

// ErrClosed is returned by operations on a closed buffer.
var ErrClosed = errors.New("buffer closed")

// Open opens (or creates) the buffer file at path.
//
// With opts.Child set, the file is first checked in a child process: a
// file that makes bbolt fail or crash is damaged. A damaged file is
// salvaged (everything still readable is copied into a new file, damaged
// chunks record by record), renamed to path.corrupt-<UTC time>, and the
// salvaged copy takes its place; the agent keeps running, says so loudly,
// and Recovered reports it. Without a child, a file bbolt rejects on open
// is set aside without salvage, and damage deeper in the file can crash
// the process.
//
// A file that cannot be accessed (permissions, read-only file system, not
// a regular file) or that another process holds locked is not damage: Open
// returns an error and leaves it alone.
//
// A file that is new (it did not exist, or was set aside) gets the
// checkpoints it lacks from the checkpoint copy (path + JournalSuffix), so
// sources resume where they were instead of reading everything again.
func Open(path string, opts Options) (*Buffer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OpenTimeout == 0 {
		opts.OpenTimeout = 5 * time.Second
	}
	bo := &bolt.Options{
		Timeout:        opts.OpenTimeout,
		NoSync:         !opts.Sync,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	}
	state, err := prepare(path, opts)
	if err != nil {
		return nil, err
	}
	db, err := openBolt(path, bo, opts, &state)
	if err != nil {
		return nil, err
	}
	if state.fresh {
		// The new file's directory entry must survive a power loss too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			db.Close()
			return nil, fmt.Errorf("buffer %s: fsync its directory: %w", path, err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketQueues, bucketCheckpoints, bucketDeadLetters, bucketKV} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init buffer %s: %w", path, err)
	}
	jr, err := startJournal(db, path, opts, &state)
	if err != nil {
		db.Close()
		return nil, err
	}
	if state.recovery != nil {
		logRecovery(opts.Logger, path, state.recovery)
	}
	b := &Buffer{
		journal:  jr,
		recovery: state.recovery,
		db:       db,
		path:     path,
		chunks:   newChunkPool(),
		log:      opts.Logger,
		reqs:     make(chan *request, 256),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		queues:   map[string]*queue{},
		dropped:  map[string]uint64{},
	}
	go b.committer()
	return b, nil
}

// Path returns the file path of the buffer.
func (b *Buffer) Path() string { return b.path }

// DB exposes the bbolt handle for inspection tools.
func (b *Buffer) DB() *bolt.DB { return b.db }

// Close stops the committer after the pending requests and closes the file.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, q := range b.queues {
		q.wakeAll()
	}
	b.mu.Unlock()
	close(b.stop)
	<-b.stopped
	return errors.Join(b.journal.close(), b.db.Close())
}

// Recovered reports what Open did with a damaged buffer file: set aside,
// salvaged, checkpoints restored from the copy. ok is false when the file
// was opened as it was.
func (b *Buffer) Recovered() (Recovery, bool) {
	if b.recovery == nil {
		return Recovery{}, false
	}
	return *b.recovery, true
}

// QueueConfig limits a queue.
type QueueConfig struct {
	// MaxSize is the most bytes the queue may hold; 0 is unlimited.
	MaxSize int64
	// WhenFull is component.WhenFullBlock or component.WhenFullDropNewest.
	WhenFull string
}

// Queue registers (or reconfigures) the queue name and returns its state,
// recomputing its size from disk the first time.
func (b *Buffer) Queue(name string, cfg QueueConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if q, ok := b.queues[name]; ok {
		q.cfg = cfg
		q.wakeAll()
		return nil
	}
	q := newQueue(name, cfg)
	err := b.db.Update(func(tx *bolt.Tx) error {
		qb, err := tx.Bucket(bucketQueues).CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		c := qb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			q.bytes += int64(len(v))
			q.count += int64(chunkCount(v))
			q.chunks++
			q.nextSeq = keySeq(k) + 1
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open queue %q: %w", name, err)
	}
	b.queues[name] = q
	return nil
}

// Queues returns the names of the queues stored in the file, registered or
// not (a removed sink's queue stays until dropped, see DropQueue).
func (b *Buffer) Queues() ([]string, error) {
	var names []string
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueues).ForEachBucket(func(k []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	return names, err
}

// DropQueue deletes the queue name and every record in it, and returns
// what it held. It is for the queue of a sink removed from the config
// (such a queue stays in the file until it is dropped or the sink comes
// back), so it refuses a queue registered by Queue in this process: a
// sink reads it.
func (b *Buffer) DropQueue(name string) (QueueStats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := QueueStats{Name: name}
	if b.closed {
		return st, ErrClosed
	}
	if _, ok := b.queues[name]; ok {
		return st, fmt.Errorf("queue %q is read by a sink", name)
	}
	err := b.db.Update(func(tx *bolt.Tx) error {
		queues := tx.Bucket(bucketQueues)
		qb := queues.Bucket([]byte(name))
		if qb == nil {
			return fmt.Errorf("no queue %q in the buffer", name)
		}
		c := qb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			st.Bytes += int64(len(v))
			st.Records += int64(chunkCount(v))
			st.Chunks++
		}
		return queues.DeleteBucket([]byte(name))
	})
	return st, err
}

// QueueStats describes one queue.
type QueueStats struct {
	Name    string
	Records int64
	Bytes   int64
	Chunks  int64
	// Dropped counts records refused by a full drop_newest queue.
	Dropped uint64
}

// Stats returns the in-memory statistics of a registered queue.
func (b *Buffer) Stats(name string) (QueueStats, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[name]
	if !ok {
		return QueueStats{}, false
	}
	return QueueStats{Name: name, Records: q.count, Bytes: q.bytes, Chunks: q.chunks, Dropped: b.dropped[name]}, true
}

// OldestTime returns the commit time of the oldest chunk of a queue.
func (b *Buffer) OldestTime(name string) (time.Time, bool) {
	var ms int64
	b.db.View(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket([]byte(name))
		if qb == nil {
			return nil
		}
		if k, v := qb.Cursor().First(); k != nil {
			ms = chunkTime(v)
		}
		return nil
	})
	if ms == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Corrupt returns how many damaged chunks were moved to dead letters.
func (b *Buffer) Corrupt() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.corrupt
}

// Append is a run of records for one queue.
type Append struct {
	Queue   string
	Records [][]byte
}

// Commit is everything one producer writes atomically.
type Commit struct {
	Appends []Append
	// Source owns Checkpoints (its namespace in the checkpoints bucket).
	Source      string
	Checkpoints []component.Checkpoint
	DeadLetters []component.DeadLetter
	// DeleteDeadLetters names stored dead letters deleted in the same
	// transaction (a replay into a live queue). If one of them is gone by
	// then, nothing of the commit is written and it fails with
	// ErrDeadLetterGone, so a record is never both replayed and kept, nor
	// replayed twice.
	DeleteDeadLetters []uint64
}

// ErrDeadLetterGone fails a commit whose DeleteDeadLetters names a dead
// letter that no longer exists (replayed or purged meanwhile).
var ErrDeadLetterGone = errors.New("dead letter no longer exists (replayed or purged meanwhile)")

// chunkWrite is one chunk of a request. Start frames the records into
// body; the committer seals (compresses) it into data just before writing,
// so compression runs beside the producer rather than on its path, unless
// the committer is busy writing (then Start seals, see there). Until
// sealed the queue accounts size as the largest the chunk can seal to, and
// the exact size from then on.
type chunkWrite struct {
	q         *queue
	body      []byte // framed records, until sealed
	data      []byte // the sealed chunk, from the chunk pool
	size      int64  // bytes accounted in q
	count     int
	unixMilli int64
	seq       uint64 // assigned by write
}

type request struct {
	writes      []chunkWrite
	source      string
	checkpoints []component.Checkpoint
	deadLetters []component.DeadLetter
	dlDeletes   []uint64
	deletes     []deleteOp
	replaces    []replaceOp
	// ping asks only for an answer from the committer (see Ping).
	ping bool
	// after, when set, is an earlier request of the same producer: if it
	// failed, this one is not written (see Start).
	after *request
	err   error
	done  chan struct{} // nil: nobody waits (acks)
}

// replaceOp rewrites a damaged chunk with the records salvaged from it;
// bytes and count are the changes to the queue's accounting.
type replaceOp struct {
	q            *queue
	seq          uint64
	data         []byte
	bytes, count int64
	applied      bool
}

type deleteOp struct {
	q     *queue
	seq   uint64
	bytes int64
	count int64
	// applied is set when the chunk was still there and got deleted, so
	// the queue's accounting moves only once per chunk.
	applied bool
}

// Commit writes c in one transaction and returns after it is durable. While
// a "block" queue has no room it waits, until ctx is done: then it returns an
// error wrapping component.ErrFull and nothing is written. Records for a
// full "drop_newest" queue are dropped and counted; the rest is written.
// Once the request is handed to the committer, Commit waits for the outcome
// whatever ctx says, so a nil error always means stored and an error always
// means not stored.
func (b *Buffer) Commit(ctx context.Context, c *Commit) error {
	p, err := b.Start(ctx, c, nil)
	if err != nil {
		return err
	}
	return p.Wait()
}

// ErrEarlierFailed is the outcome of a commit started after one that
// failed: it is not written either, so a checkpoint never moves past
// records that were not stored.
var ErrEarlierFailed = errors.New("an earlier commit of the same producer failed")

// Pending is a commit handed to the committer by Start.
type Pending struct {
	b   *Buffer
	req *request
}

// Start is the first half of Commit: it prepares c (frames its records,
// waits for room as Commit does) and queues it, without waiting for the
// write. c's records are no longer referenced when Start returns.
// Commits started one after another are written in that order. A commit
// started with after (a Pending of the same producer, or nil) is not
// written if after fails: its Wait returns ErrEarlierFailed. This lets a
// producer prepare its next batch while the previous one is being written.
func (b *Buffer) Start(ctx context.Context, c *Commit, after *Pending) (*Pending, error) {
	writes := make([]chunkWrite, 0, len(c.Appends))
	now := time.Now().UnixMilli()
	for _, a := range c.Appends {
		if len(a.Records) == 0 {
			continue
		}
		body := frameRecords(b.chunks, a.Records)
		w := chunkWrite{body: body, size: sealedBound(len(body)), count: len(a.Records), unixMilli: now}
		switch {
		case b.unsealed.Add(int64(len(body))) > maxUnsealed:
			// The committer is behind (many busy producers): compress
			// here, beside the others, rather than pile up framed bodies.
			b.unsealed.Add(-int64(len(body)))
			w.data = sealChunkSized(b.chunks, body, w.count, now)
			b.chunks.put(body)
			w.body, w.size = nil, int64(len(w.data))
		case b.writing.Load():
			// The committer is inside a transaction, which this request
			// waits for anyway: compress here, beside its write and
			// fsync, rather than after them on the committer's path (a
			// busy producer's commits are then paced by the fsync alone).
			// The body stays, for the queue's reader (queue.hot).
			w.data = sealChunkSized(b.chunks, body, w.count, now)
			w.size = int64(len(w.data))
		}
		writes = append(writes, w)
	}
	if err := b.reserve(ctx, c.Appends, writes); err != nil {
		b.dropBodies(writes)
		return nil, err
	}
	req := &request{writes: writes, source: c.Source, checkpoints: c.Checkpoints, deadLetters: c.DeadLetters, dlDeletes: c.DeleteDeadLetters, done: make(chan struct{})}
	if after != nil {
		req.after = after.req
	}
	if len(req.writes) == 0 && len(req.checkpoints) == 0 && len(req.deadLetters) == 0 && len(req.dlDeletes) == 0 {
		return &Pending{}, nil
	}
	select {
	case b.reqs <- req:
	case <-b.stop:
		b.unreserve(req.writes)
		b.dropBodies(req.writes)
		return nil, ErrClosed
	}
	return &Pending{b: b, req: req}, nil
}

// keepSealed is how many chunks of a group seal writes from the buffer
// they were compressed into (see seal).
const keepSealed = 2

// maxUnsealed bounds the framed bodies waiting for the committer to
// compress them (see Start).
const maxUnsealed = 4 << 20

// dropBodies gives back the framed bodies of writes that will not reach
// the committer.
func (b *Buffer) dropBodies(writes []chunkWrite) {
	for i := range writes {
		if w := &writes[i]; w.body != nil {
			b.unsealed.Add(-int64(len(w.body)))
			b.chunks.put(w.body)
			w.body = nil
		}
	}
}

// Wait returns once the commit is written (nil) or failed (then nothing of
// it is stored). Call it exactly once.
func (p *Pending) Wait() error {
	if p.req == nil {
		return nil
	}
	<-p.req.done
	err := p.req.err
	if err != nil {
		p.b.unreserve(p.req.writes)
	}
	return err
}

// reserve waits for room in every block queue and fills in writes[i].q. It
// drops the writes of full drop_newest queues (their q stays nil).
func (b *Buffer) reserve(ctx context.Context, appends []Append, writes []chunkWrite) error {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		var wait <-chan struct{}
		var fullQueue string
		w := 0
		for _, a := range appends {
			if len(a.Records) == 0 {
				continue
			}
			q, ok := b.queues[a.Queue]
			if !ok {
				b.mu.Unlock()
				return fmt.Errorf("commit: queue %q is not registered", a.Queue)
			}
			writes[w].q = q
			size := writes[w].size
			// An empty queue always takes a commit, however large, so a single
			// oversize commit cannot block forever.
			if q.cfg.MaxSize > 0 && q.bytes > 0 && q.bytes+size > q.cfg.MaxSize && q.cfg.WhenFull != component.WhenFullDropNewest {
				wait = q.spaceCh()
				fullQueue = q.name
			}
			w++
		}
		if wait == nil {
			for i := range writes {
				q := writes[i].q
				size := writes[i].size
				if q.cfg.MaxSize > 0 && q.bytes > 0 && q.bytes+size > q.cfg.MaxSize {
					// drop_newest
					b.dropped[q.name] += uint64(writes[i].count)
					writes[i].q = nil
					continue
				}
				q.bytes += size
			}
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("queue %q: %w (%v)", fullQueue, component.ErrFull, ctx.Err())
		case <-wait:
		}
	}
}

func (b *Buffer) unreserve(writes []chunkWrite) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range writes {
		// Only q and size: the committer may still be clearing data.
		if w := &writes[i]; w.q != nil {
			w.q.bytes -= w.size
			w.q.signalSpace()
		}
	}
}

// maxGroup bounds how many requests one transaction merges.
const maxGroup = 512

// deleteDelay is how long deletions of delivered records may wait for a
// producer's commit to ride along with. Each bbolt commit costs two fsyncs;
// merging the deletions into the next append commit halves them under load.
// Deleting late is safe: the space comes back a little later, and a crash
// in between only redelivers records (PostHog deduplicates by uuid).
const deleteDelay = 50 * time.Millisecond

func (b *Buffer) committer() {
	defer close(b.stopped)
	group := make([]*request, 0, maxGroup)
	var deferred []*request // delete-only requests waiting for company
	var timer *time.Timer
	var timerC <-chan time.Time
	flushDeferred := func() {
		timerC = nil
		if len(deferred) > 0 {
			b.commit(deferred)
			deferred = nil
		}
		if len(b.redo) > 0 { // still failing: try again later
			deferred = append(deferred, b.redo...)
			b.redo = b.redo[:0]
			timer = resetTimer(timer, time.Second)
			timerC = timer.C
		}
	}
	for {
		var first *request
		select {
		case first = <-b.reqs:
		case <-timerC:
			flushDeferred()
			continue
		case <-b.stop:
			flushDeferred()
			// Drain what is already queued so no waiter hangs.
			for {
				select {
				case r := <-b.reqs:
					if answerPings([]*request{r}) != nil {
						b.commit([]*request{r})
					}
				default:
					return
				}
			}
		}
		group = append(group[:0], first)
	fill:
		for len(group) < maxGroup {
			select {
			case r := <-b.reqs:
				group = append(group, r)
			default:
				break fill
			}
		}
		if group = answerPings(group); len(group) == 0 {
			continue
		}
		if deleteOnly(group) {
			deferred = append(deferred, group...)
			if timerC == nil {
				timer = resetTimer(timer, deleteDelay)
				timerC = timer.C
			}
			continue
		}
		if len(deferred) > 0 {
			group = append(group, deferred...)
			deferred = deferred[:0]
			timerC = nil
		}
		b.commit(group)
		if len(b.redo) > 0 {
			b.log.Warn("buffer: deleting delivered records failed; retrying", "error", b.redo[0].err)
			for _, r := range b.redo {
				r.err = nil
			}
			deferred = append(deferred, b.redo...)
			b.redo = b.redo[:0]
			if timerC == nil {
				timer = resetTimer(timer, time.Second)
				timerC = timer.C
			}
		}
	}
}

// answerPings answers the pings of group and returns the other requests,
// compacted in place.
func answerPings(group []*request) []*request {
	n := 0
	for _, r := range group {
		if r.ping {
			close(r.done)
			continue
		}
		group[n] = r
		n++
	}
	return group[:n]
}

// Ping returns nil once the committer, which writes every commit, has
// taken a request: the buffer is not wedged. It fails when ctx ends first
// (a commit that hangs, as on a stuck disk) or the buffer is closed.
func (b *Buffer) Ping(ctx context.Context) error {
	req := &request{ping: true, done: make(chan struct{})}
	select {
	case b.reqs <- req:
	case <-b.stop:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("buffer: the committer takes no request: %w", ctx.Err())
	}
	select {
	case <-req.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("buffer: the committer does not answer: %w", ctx.Err())
	}
}

// WriteError returns the error of the last write when it failed (a full
// disk, an I/O error), nil once a write succeeds again.
func (b *Buffer) WriteError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writeErr
}

func resetTimer(t *time.Timer, d time.Duration) *time.Timer {
	if t == nil {
		return time.NewTimer(d)
	}
	t.Reset(d)
	return t
}

// deleteOnly reports whether nobody waits on the group: only deletions of
// delivered records.
func deleteOnly(group []*request) bool {
	for _, r := range group {
		if r.done != nil || len(r.writes) > 0 || len(r.checkpoints) > 0 || len(r.deadLetters) > 0 || len(r.dlDeletes) > 0 {
			return false
		}
	}
	return true
}

// commit seals the group's chunks, applies the group and gives the sealed
// chunks back to the pool (bbolt copied them into its pages), with the
// framed bodies that were not kept for the queue's reader (keepHot).
func (b *Buffer) commit(group []*request) {
	b.writing.Store(true)
	defer b.writing.Store(false)
	b.seal(group)
	all := append(b.sealed[:0], group...) // apply compacts group in place
	b.apply(group)
	for _, r := range all {
		for i := range r.writes {
			w := &r.writes[i]
			b.chunks.put(w.data)
			b.chunks.put(w.body)
			w.data, w.body = nil, nil
		}
	}
	clear(all)
	b.sealed = all
}

// seal compresses the chunks Start framed and brings the queues' accounting
// from the bound reserved to the chunks' size.
//
// A whole group stays in memory until its transaction is over, and a group
// is large when many producers are busy (a rotation: ten files at once).
// So only the first keepSealed chunks are written from the pooled buffer
// they were compressed into (sized for the worst case, three times what
// log lines need); the others are copied to a buffer of their size. Only
// the first maxHot bodies of a queue are kept for queue.hot.
func (b *Buffer) seal(group []*request) {
	var adjust bool
	kept := 0
	var hotLeft map[*queue]int
	for _, r := range group {
		for i := range r.writes {
			w := &r.writes[i]
			if w.body == nil {
				continue // sealed by Start, body dropped
			}
			b.unsealed.Add(-int64(len(w.body)))
			if w.q == nil { // dropped (drop_newest)
				b.chunks.put(w.body)
				w.body = nil
				continue
			}
			if w.data == nil { // else sealed by Start
				if kept++; kept <= keepSealed {
					w.data = sealChunk(b.chunks, w.body, w.count, w.unixMilli)
				} else {
					w.data = sealChunkSized(b.chunks, w.body, w.count, w.unixMilli)
				}
				adjust = true
			}
			if hotLeft == nil {
				hotLeft = map[*queue]int{}
			}
			if hotLeft[w.q] >= maxHot {
				b.chunks.put(w.body)
				w.body = nil
			}
			hotLeft[w.q]++
		}
	}
	if !adjust {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range group {
		for i := range r.writes {
			w := &r.writes[i]
			if w.q == nil || w.data == nil || w.size == int64(len(w.data)) {
				continue
			}
			w.q.bytes += int64(len(w.data)) - w.size
			w.size = int64(len(w.data))
			w.q.signalSpace()
		}
	}
}

// apply commits a group of requests in one transaction. If the transaction
// fails (disk full, I/O error), each request is retried alone so one bad
// request cannot fail the others, and the failures are reported to their
// producers, which keep their data and retry: nothing is half-written.
func (b *Buffer) apply(group []*request) {
	if group = failOrphans(group); len(group) == 0 {
		return
	}
	err := b.write(group)
	if err != nil && len(group) > 1 {
		for _, r := range group {
			b.apply([]*request{r})
		}
		return
	}
	b.mu.Lock()
	if !errors.Is(err, ErrDeadLetterGone) { // that one is the request's fault, not the disk's
		b.writeErr = err
	}
	for _, r := range group {
		r.err = err
		r.after = nil // decided: do not keep the chain of predecessors alive
		if err != nil {
			continue
		}
		for i := range r.writes {
			w := &r.writes[i]
			if w.q == nil {
				continue
			}
			w.q.count += int64(w.count)
			w.q.chunks++
			w.q.keepHot(w)
			w.q.signalData()
		}
		for _, d := range r.deletes {
			if !d.applied {
				continue
			}
			d.q.bytes -= d.bytes
			d.q.count -= d.count
			d.q.chunks--
			d.q.signalSpace()
		}
		for _, p := range r.replaces {
			if p.applied {
				p.q.bytes += p.bytes
				p.q.count += p.count
				p.q.signalSpace()
			}
		}
	}
	b.mu.Unlock()
	for _, r := range group {
		if r.done != nil {
			close(r.done)
		} else if r.err != nil {
			// Nobody waits on a deletion: keep it and try again (the
			// committer merges it into a later commit), so the queue's
			// accounting catches up once the disk has room again.
			b.redo = append(b.redo, r)
		}
	}
}

// failOrphans fails the requests whose predecessor (after) failed and
// returns the others, compacted in place. The predecessor was queued
// first, so it is decided by now, or it is in the same group and shares its
// outcome (or, retried alone by apply, is decided first).
func failOrphans(group []*request) []*request {
	n := 0
	for _, r := range group {
		if r.after != nil && r.after.err != nil {
			r.after, r.err = nil, ErrEarlierFailed
			close(r.done)
			continue
		}
		group[n] = r
		n++
	}
	return group[:n]
}

func (b *Buffer) write(group []*request) error {
	// Sequence numbers are assigned inside the transaction and published
	// only if it commits.
	next := map[*queue]uint64{}
	err := b.db.Update(func(tx *bolt.Tx) error {
		queues := tx.Bucket(bucketQueues)
		for _, r := range group {
			for i := range r.writes {
				w := &r.writes[i]
				if w.q == nil {
					continue
				}
				qb := queues.Bucket([]byte(w.q.name))
				if qb == nil {
					return fmt.Errorf("queue %q missing from buffer file", w.q.name)
				}
				seq, ok := next[w.q]
				if !ok {
					seq = w.q.nextSeq
				}
				if err := qb.Put(seqKey(seq), w.data); err != nil {
					return fmt.Errorf("queue %q: %w", w.q.name, err)
				}
				w.seq = seq
				next[w.q] = seq + 1
			}
			for i := range r.deletes {
				d := &r.deletes[i]
				d.applied = false
				qb := queues.Bucket([]byte(d.q.name))
				if qb == nil || qb.Get(seqKey(d.seq)) == nil {
					// Already deleted: a second reader of the queue (a sink
					// replaced by a reload) delivered the chunk again.
					continue
				}
				if err := qb.Delete(seqKey(d.seq)); err != nil {
					return err
				}
				d.applied = true
			}
			for i := range r.replaces {
				p := &r.replaces[i]
				p.applied = false
				qb := queues.Bucket([]byte(p.q.name))
				if qb == nil || qb.Get(seqKey(p.seq)) == nil {
					continue
				}
				if err := qb.Put(seqKey(p.seq), p.data); err != nil {
					return err
				}
				p.applied = true
			}
			if len(r.checkpoints) > 0 {
				cb, err := tx.Bucket(bucketCheckpoints).CreateBucketIfNotExists([]byte(r.source))
				if err != nil {
					return fmt.Errorf("checkpoints of %q: %w", r.source, err)
				}
				for _, cp := range r.checkpoints {
					if cp.Value == nil {
						err = cb.Delete([]byte(cp.Key))
					} else {
						err = cb.Put([]byte(cp.Key), cp.Value)
					}
					if err != nil {
						return fmt.Errorf("checkpoint %q of %q: %w", cp.Key, r.source, err)
					}
				}
			}
			if len(r.deadLetters) > 0 {
				if err := putDeadLetters(tx, r.deadLetters); err != nil {
					return err
				}
			}
			if len(r.dlDeletes) > 0 {
				dlb := tx.Bucket(bucketDeadLetters)
				for _, id := range r.dlDeletes {
					if dlb.Get(seqKey(id)) == nil {
						return fmt.Errorf("dead letter %d: %w", id, ErrDeadLetterGone)
					}
					if err := dlb.Delete(seqKey(id)); err != nil {
						return fmt.Errorf("dead letter %d: %w", id, err)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for q, seq := range next {
		q.nextSeq = seq
	}
	b.journalGroup(group)
	return nil
}

// Checkpoints returns the loader of a source's checkpoints.
func (b *Buffer) Checkpoints(source string) component.CheckpointLoader {
	return checkpointLoader{b: b, source: source}
}

type checkpointLoader struct {
	b      *Buffer
	source string
}

func (c checkpointLoader) LoadCheckpoints() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := c.b.db.View(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCheckpoints).Bucket([]byte(c.source))
		if cb == nil {
			return nil
		}
		return cb.ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load checkpoints of %q: %w", c.source, err)
	}
	return out, nil
}

// KV returns a persistent key/value namespace (connector meta.storage).
func (b *Buffer) KV(namespace string) component.KV {
	return kv{b: b, ns: []byte(namespace)}
}

type kv struct {
	b  *Buffer
	ns []byte
}

func (s kv) Get(key string) ([]byte, bool, error) {
	var out []byte
	var found bool
	err := s.b.db.View(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bucketKV).Bucket(s.ns)
		if nb == nil {
			return nil
		}
		if v := nb.Get([]byte(key)); v != nil {
			out, found = append([]byte(nil), v...), true
		}
		return nil
	})
	return out, found, err
}

func (s kv) Set(key string, value []byte) error {
	return s.b.db.Update(func(tx *bolt.Tx) error {
		nb, err := tx.Bucket(bucketKV).CreateBucketIfNotExists(s.ns)
		if err != nil {
			return err
		}
		return nb.Put([]byte(key), value)
	})
}

func (s kv) Delete(key string) error {
	return s.b.db.Update(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bucketKV).Bucket(s.ns)
		if nb == nil {
			return nil
		}
		return nb.Delete([]byte(key))
	})
}
