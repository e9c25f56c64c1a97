package buffer

// The checkpoint copy: every checkpoint the buffer commits is also
// appended, after its transaction, to a small journal beside buffer.db.
// When buffer.db is lost (deleted, or set aside with its checkpoints
// unreadable), the sources resume from the copy instead of from the start
// of every file, which would send every line again under new uuids and
// timestamps that PostHog cannot deduplicate.
//
// Entry: crc32c (4 bytes, LE, of the payload) | payload length (4 bytes,
// LE) | payload: uvarint len, source | uvarint len, key | op (0 delete,
// 1 put) | for a put: uvarint len, value. A torn last entry (a crash while
// appending) fails its checksum and ends the journal.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// JournalSuffix names the checkpoint copy of a buffer file: path+suffix.
const JournalSuffix = ".checkpoints"

// journalMinCompact is the journal size under which it is never rewritten.
const journalMinCompact = 1 << 20

// journalRetry is how long a checkpoint copy that cannot be written waits
// before it is tried again.
const journalRetry = 10 * time.Second

// journalSyncEvery is how often the journal is fsynced (when the buffer
// syncs): after a power loss the copy is about this far behind at most.
const journalSyncEvery = time.Second

// journal appends checkpoint changes. Only the committer goroutine writes
// to it after Open; a goroutine of its own fsyncs it (see syncLoop).
type journal struct {
	path string
	// mu guards f against the syncer while rewrite replaces it.
	mu   sync.Mutex
	f    *os.File
	size int64
	// base is the size of the last snapshot; the journal is rewritten
	// when it grows past a few times that.
	base  int64
	dirty atomic.Bool
	buf   []byte
	// failed is set once a write failed, so it is logged once; the next
	// compaction starts a new file, tried again no sooner than retryAt.
	failed  bool
	retryAt time.Time
	stop    chan struct{}
	done    chan struct{}
}

// cpState is every source's checkpoints.
type cpState map[string]map[string][]byte

func appendJournalEntry(dst []byte, source, key string, val []byte) []byte {
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, uint64(len(source)))
	dst = append(dst, source...)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	if val == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = binary.AppendUvarint(dst, uint64(len(val)))
		dst = append(dst, val...)
	}
	payload := dst[at+8:]
	binary.LittleEndian.PutUint32(dst[at:], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(dst[at+4:], uint32(len(payload)))
	return dst
}

// maxJournalEntry bounds an entry read back, so a damaged length cannot
// make the reader allocate much.
const maxJournalEntry = 1 << 20

// readJournal replays the journal at path into a state. It stops at the
// first entry that fails its checksum or framing (a torn tail) and says so
// in torn. A missing journal is an empty state.
func readJournal(path string) (st cpState, torn bool, err error) {
	st = cpState{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return st, false, nil
			}
			return st, true, nil
		}
		n := binary.LittleEndian.Uint32(hdr[4:])
		if n > maxJournalEntry {
			return st, true, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return st, true, nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[:]) {
			return st, true, nil
		}
		if !st.apply(payload) {
			return st, true, nil
		}
	}
}

// apply applies one entry's payload; false if it does not parse.
func (st cpState) apply(p []byte) bool {
	field := func() ([]byte, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, false
		}
		f := p[k : k+int(l)]
		p = p[k+int(l):]
		return f, true
	}
	src, ok := field()
	if !ok {
		return false
	}
	key, ok := field()
	if !ok || len(p) == 0 {
		return false
	}
	op := p[0]
	p = p[1:]
	switch op {
	case 0:
		delete(st[string(src)], string(key))
		return len(p) == 0
	case 1:
		val, ok := field()
		if !ok || len(p) != 0 {
			return false
		}
		m := st[string(src)]
		if m == nil {
			m = map[string][]byte{}
			st[string(src)] = m
		}
		m[string(key)] = val
		return true
	}
	return false
}

// snapshotCheckpoints reads every checkpoint of the buffer.
func snapshotCheckpoints(tx *bolt.Tx) cpState {
	st := cpState{}
	cb := tx.Bucket(bucketCheckpoints)
	if cb == nil {
		return st
	}
	cb.ForEachBucket(func(src []byte) error {
		m := map[string][]byte{}
		cb.Bucket(src).ForEach(func(k, v []byte) error {
			if v != nil {
				m[string(k)] = append([]byte(nil), v...)
			}
			return nil
		})
		st[string(src)] = m
		return nil
	})
	return st
}

// openJournal writes a snapshot of st as the new journal at path and opens
// it for appending. With sync, a goroutine fsyncs it once a second while
// it has unsynced entries.
func openJournal(path string, st cpState, sync bool) (*journal, error) {
	j := &journal{path: path}
	if err := j.rewrite(st); err != nil {
		return nil, err
	}
	if sync {
		j.stop, j.done = make(chan struct{}), make(chan struct{})
		go j.syncLoop()
	}
	return j, nil
}

// syncLoop fsyncs the journal off the committer's path: the committer
// never waits for the copy's disk.
func (j *journal) syncLoop() {
	defer close(j.done)
	t := time.NewTicker(journalSyncEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			if j.dirty.Swap(false) {
				j.mu.Lock()
				j.f.Sync() // a failure shows in the next write, or at close
				j.mu.Unlock()
			}
		}
	}
}

// rewrite replaces the journal with a snapshot: written to a temporary
// file, fsynced, renamed over the journal, and the directory fsynced, so
// a crash leaves the old journal or the new one.
func (j *journal) rewrite(st cpState) error {
	var buf []byte
	for src, m := range st {
		for k, v := range m {
			buf = appendJournalEntry(buf, src, k, v)
		}
	}
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("checkpoint copy: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("checkpoint copy: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("checkpoint copy: %w", err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("checkpoint copy: %w", err)
	}
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint copy: %w", err)
	}
	j.mu.Lock()
	if j.f != nil {
		j.f.Close()
	}
	// f was opened for writing at offset 0 and wrote buf: appends go on
	// from its end.
	j.f = f
	j.mu.Unlock()
	j.size, j.base, j.failed = int64(len(buf)), int64(len(buf)), false
	j.dirty.Store(false)
	return nil
}

// record appends the checkpoints of a committed group. It reports whether
// the journal should be rewritten (it grew, or a write failed).
func (j *journal) record(group []*request) (compact bool, err error) {
	j.buf = j.buf[:0]
	for _, r := range group {
		for _, cp := range r.checkpoints {
			j.buf = appendJournalEntry(j.buf, r.source, cp.Key, cp.Value)
		}
	}
	if len(j.buf) == 0 {
		return false, nil
	}
	if j.failed {
		return time.Now().After(j.retryAt), nil
	}
	n, err := j.f.Write(j.buf)
	j.size += int64(n)
	if err != nil {
		j.failed = true
		return true, fmt.Errorf("checkpoint copy %s: %w", j.path, err)
	}
	j.dirty.Store(true)
	return j.size > max(journalMinCompact, 4*j.base), nil
}

func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	if j.stop != nil {
		close(j.stop)
		<-j.done
	}
	var err error
	if j.dirty.Load() {
		err = j.f.Sync()
	}
	return errors.Join(err, j.f.Close())
}

// syncDir fsyncs a directory, so that a file created or renamed in it
// survives a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// startJournal opens the checkpoint copy of the buffer at path. A fresh
// buffer first gets the checkpoints it lacks from it.
func startJournal(db *bolt.DB, path string, opts Options, state *fileState) (*journal, error) {
	jpath := path + JournalSuffix
	if state.fresh {
		st, torn, err := readJournal(jpath)
		if err != nil {
			return nil, fmt.Errorf("read the checkpoint copy %s: %w", jpath, err)
		}
		if torn {
			opts.Logger.Warn("buffer: the checkpoint copy ends with a damaged entry (a crash while writing it); using what precedes it", "path", jpath)
		}
		n, err := restoreCheckpoints(db, st)
		if err != nil {
			return nil, fmt.Errorf("restore checkpoints from %s: %w", jpath, err)
		}
		if n > 0 {
			if state.recovery == nil {
				state.recovery = &Recovery{}
				opts.Logger.Warn("buffer: the buffer file was missing; sources resume from the checkpoint copy", "path", path, "copy", jpath, "checkpoints", n)
			}
			state.recovery.Restored = n
		}
	}
	var snap cpState
	if err := db.View(func(tx *bolt.Tx) error { snap = snapshotCheckpoints(tx); return nil }); err != nil {
		return nil, err
	}
	return openJournal(jpath, snap, opts.Sync)
}

// journalGroup appends a committed group's checkpoints to the copy, and
// rewrites the copy when it has grown. A failure is logged, not returned:
// the buffer file holds the checkpoints; the copy is only needed if it is
// lost.
func (b *Buffer) journalGroup(group []*request) {
	compact, err := b.journal.record(group)
	if err != nil {
		b.log.Warn("buffer: cannot update the checkpoint copy; retrying with a new copy", "error", err)
	}
	if !compact {
		return
	}
	var snap cpState
	b.db.View(func(tx *bolt.Tx) error { snap = snapshotCheckpoints(tx); return nil })
	if err := b.journal.rewrite(snap); err != nil {
		// Not at every commit: a rewrite fsyncs.
		b.journal.failed, b.journal.retryAt = true, time.Now().Add(journalRetry)
		b.log.Warn("buffer: cannot rewrite the checkpoint copy; trying again later", "error", err, "retry_in", journalRetry)
	}
}
