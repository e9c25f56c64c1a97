package buffer

// Tools behind the hogtail CLI: replaying and purging dead letters, and
// checking a buffer file. They work on the buffer of a running agent (the
// agent's API calls them) and on a file opened while the agent is stopped
// (bbolt's file lock keeps a second process out).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked reports a buffer file locked by another process.
var ErrLocked = errors.New("buffer file is locked by another process (stop hogtail first: a running agent holds the lock)")

// Replay selects dead letters to put back into queues.
type Replay struct {
	// IDs selects dead letters; empty selects all.
	IDs []uint64
	// Queue is the queue to append to; empty means the queue named by each
	// dead letter's component (the sink that gave up on it).
	Queue string
}

// ReplayResult tells what a replay did.
type ReplayResult struct {
	// Replayed counts records appended, per queue.
	Replayed map[string]int `json:"replayed"`
	// Skipped lists dead letters left in place, with the reason.
	Skipped map[uint64]string `json:"skipped"`
}

// replayChunk is the most records written under one queue key by a replay.
const replayChunk = 1000

// ReplayDeadLetters appends the selected dead letters' records to the end
// of their queue and deletes them from dead letters. A dead letter whose
// queue does not exist in the file (its component was a transform, or the
// sink was removed) or whose record is not JSON (a damaged chunk) is
// skipped and reported.
//
// It works on a buffer a running agent uses: records for a queue
// registered with this Buffer go through the committer like any producer's
// (in one transaction with the deletion of their dead letters, waiting for
// room in a full "block" queue until ctx ends), so the queue's reader sees
// them. Records for queues nobody reads are written directly, also in one
// transaction with their deletion.
func (b *Buffer) ReplayDeadLetters(ctx context.Context, r Replay) (ReplayResult, error) {
	res := ReplayResult{Replayed: map[string]int{}, Skipped: map[uint64]string{}}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return res, ErrClosed
	}
	// all is decided once: want empties as ids are found, and an empty
	// want must not then select every later dead letter.
	all := len(r.IDs) == 0
	want := map[uint64]bool{}
	for _, id := range r.IDs {
		want[id] = true
	}
	live := &Commit{}
	liveCount := map[string]int{}
	err := b.db.Update(func(tx *bolt.Tx) error {
		dlb := tx.Bucket(bucketDeadLetters)
		queues := tx.Bucket(bucketQueues)
		if r.Queue != "" && queues.Bucket([]byte(r.Queue)) == nil {
			return fmt.Errorf("replay: no queue %q in the buffer (queues: %v)", r.Queue, bucketNames(queues))
		}
		recs := map[string][][]byte{}
		var order []string
		var del [][]byte
		c := dlb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			id := keySeq(k)
			if !all && !want[id] {
				continue
			}
			delete(want, id)
			var s storedDeadLetter
			if err := json.Unmarshal(v, &s); err != nil {
				res.Skipped[id] = "undecodable dead letter: " + err.Error()
				continue
			}
			if !json.Valid(s.Record) {
				res.Skipped[id] = "record is not JSON (a damaged buffer chunk); inspect it with list and purge it"
				continue
			}
			q := r.Queue
			if q == "" {
				q = s.Component
			}
			if queues.Bucket([]byte(q)) == nil {
				res.Skipped[id] = fmt.Sprintf("no queue %q in the buffer; choose one with --sink", q)
				continue
			}
			if _, open := b.queues[q]; open {
				live.Appends = append(live.Appends, Append{Queue: q, Records: [][]byte{bytes.Clone(s.Record)}})
				live.DeleteDeadLetters = append(live.DeleteDeadLetters, id)
				liveCount[q]++
				continue
			}
			if _, seen := recs[q]; !seen {
				order = append(order, q)
			}
			recs[q] = append(recs[q], s.Record)
			del = append(del, append([]byte(nil), k...))
		}
		for id := range want {
			res.Skipped[id] = "no such dead letter"
		}
		now := time.Now().UnixMilli()
		for _, q := range order {
			qb := queues.Bucket([]byte(q))
			next := uint64(0)
			if k, _ := qb.Cursor().Last(); k != nil {
				next = keySeq(k) + 1
			}
			all := recs[q]
			for len(all) > 0 {
				n := min(len(all), replayChunk)
				if err := qb.Put(seqKey(next), encodeChunk(nil, all[:n], now)); err != nil {
					return fmt.Errorf("replay into %q: %w", q, err)
				}
				next++
				all = all[n:]
			}
			res.Replayed[q] = len(recs[q])
		}
		for _, k := range del {
			if err := dlb.Delete(k); err != nil {
				return fmt.Errorf("replay: delete dead letter %d: %w", keySeq(k), err)
			}
		}
		return nil
	})
	b.mu.Unlock()
	if err != nil {
		return ReplayResult{Replayed: map[string]int{}, Skipped: map[uint64]string{}}, err
	}
	if len(live.Appends) == 0 {
		return res, nil
	}
	live.Appends = mergeAppends(live.Appends)
	if err := b.Commit(ctx, live); err != nil {
		return res, fmt.Errorf("replay into running queues %v (the other queues were replayed): %w", slices.Sorted(maps.Keys(liveCount)), err)
	}
	for q, n := range liveCount {
		res.Replayed[q] += n
	}
	return res, nil
}

// mergeAppends groups one-record appends by queue, in order of first
// appearance, and cuts them into runs of at most replayChunk records.
func mergeAppends(in []Append) []Append {
	byQ := map[string][][]byte{}
	var order []string
	for _, a := range in {
		if _, ok := byQ[a.Queue]; !ok {
			order = append(order, a.Queue)
		}
		byQ[a.Queue] = append(byQ[a.Queue], a.Records...)
	}
	var out []Append
	for _, q := range order {
		recs := byQ[q]
		for len(recs) > 0 {
			n := min(len(recs), replayChunk)
			out = append(out, Append{Queue: q, Records: recs[:n]})
			recs = recs[n:]
		}
	}
	return out
}

// PurgeDeadLetters deletes the dead letters with the given ids, or all of
// them when ids is empty, and returns how many were deleted.
func (b *Buffer) PurgeDeadLetters(ids []uint64) (int, error) {
	n := 0
	err := b.db.Update(func(tx *bolt.Tx) error {
		dlb := tx.Bucket(bucketDeadLetters)
		if len(ids) == 0 {
			// Key by key, not by recreating the bucket: its sequence must
			// keep growing so an id never names two records.
			c := dlb.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		}
		for _, id := range ids {
			if dlb.Get(seqKey(id)) == nil {
				continue
			}
			if err := dlb.Delete(seqKey(id)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func bucketNames(b *bolt.Bucket) []string {
	var out []string
	b.ForEachBucket(func(k []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// Report is the outcome of Check.
type Report struct {
	Path string `json:"path"`
	// FileBytes is the size of the file.
	FileBytes int64         `json:"file_bytes"`
	Queues    []QueueReport `json:"queues"`
	// DeadLetters counts stored dead letters.
	DeadLetters int `json:"dead_letters"`
	// Checkpoints maps each source's namespace to its number of keys.
	Checkpoints map[string]int `json:"checkpoints"`
	// KV maps each connector storage namespace to its number of keys.
	KV map[string]int `json:"kv"`
	// Damage lists every problem found; empty means healthy.
	Damage []string `json:"damage"`
}

// QueueReport describes one queue on disk.
type QueueReport struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	Chunks  int64  `json:"chunks"`
	// Corrupt lists the keys of chunks that fail their checksum or framing.
	Corrupt []uint64 `json:"corrupt,omitempty"`
}

// Check opens the buffer file at path read-only and reports its contents
// and any damage: bbolt's page-level consistency check, chunks that cannot
// be decoded, and dead letters that cannot be read. It never modifies the
// file. A file locked by a running agent gives ErrLocked after timeout.
func Check(path string, timeout time.Duration) (*Report, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("buffer %s: %w", path, err)
	}
	db, err := openReadOnly(path, timeout)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rep := newReport(path, st.Size())
	if err := db.View(func(tx *bolt.Tx) error { checkTx(tx, rep); return nil }); err != nil {
		return nil, fmt.Errorf("check %s: %w", path, err)
	}
	sortReport(rep)
	return rep, nil
}

// Check reports the contents and any damage of the open buffer, as the
// function Check does for a file, from one read transaction: a running
// agent keeps writing meanwhile.
func (b *Buffer) Check() (*Report, error) {
	rep := newReport(b.path, 0)
	err := b.db.View(func(tx *bolt.Tx) error {
		rep.FileBytes = tx.Size()
		checkTx(tx, rep)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", b.path, err)
	}
	sortReport(rep)
	return rep, nil
}

func newReport(path string, size int64) *Report {
	return &Report{Path: path, FileBytes: size, Checkpoints: map[string]int{}, KV: map[string]int{}, Queues: []QueueReport{}, Damage: []string{}}
}

func sortReport(rep *Report) {
	sort.Slice(rep.Queues, func(i, j int) bool { return rep.Queues[i].Name < rep.Queues[j].Name })
}

func checkTx(tx *bolt.Tx, rep *Report) {
	if d := truncation(tx, rep.Path); d != "" {
		rep.Damage = append(rep.Damage, d)
	}
	for cerr := range tx.Check() {
		rep.Damage = append(rep.Damage, "bbolt: "+cerr.Error())
	}
	for _, name := range [][]byte{bucketQueues, bucketCheckpoints, bucketDeadLetters, bucketKV} {
		if tx.Bucket(name) == nil {
			rep.Damage = append(rep.Damage, fmt.Sprintf("bucket %q is missing (not a hogtail buffer, or never opened by hogtail)", name))
		}
	}
	if qs := tx.Bucket(bucketQueues); qs != nil {
		qs.ForEachBucket(func(name []byte) error {
			qr := QueueReport{Name: string(name)}
			qs.Bucket(name).ForEach(func(k, v []byte) error {
				qr.Chunks++
				qr.Bytes += int64(len(v))
				recs, err := decodeChunk(v)
				if err != nil {
					good, bad := salvageChunk(v)
					qr.Corrupt = append(qr.Corrupt, keySeq(k))
					qr.Records += int64(len(good))
					rep.Damage = append(rep.Damage, fmt.Sprintf("queue %q: chunk %d (%d bytes) fails its checksum: %d records readable, %d unreadable pieces; "+
						"the agent keeps the readable records and moves the rest to dead letters when it reaches it", name, keySeq(k), len(v), len(good), len(bad)))
					return nil
				}
				qr.Records += int64(len(recs))
				return nil
			})
			rep.Queues = append(rep.Queues, qr)
			return nil
		})
	}
	if dlb := tx.Bucket(bucketDeadLetters); dlb != nil {
		dlb.ForEach(func(k, v []byte) error {
			rep.DeadLetters++
			var s storedDeadLetter
			if json.Unmarshal(v, &s) != nil {
				rep.Damage = append(rep.Damage, fmt.Sprintf("dead letter %d cannot be decoded", keySeq(k)))
			}
			return nil
		})
	}
	countNested(tx.Bucket(bucketCheckpoints), rep.Checkpoints)
	countNested(tx.Bucket(bucketKV), rep.KV)
}

func countNested(b *bolt.Bucket, out map[string]int) {
	if b == nil {
		return
	}
	b.ForEachBucket(func(name []byte) error {
		out[string(name)] = b.Bucket(name).Stats().KeyN
		return nil
	})
}

// Probe checks that path is a bbolt file that no other process holds,
// without changing it: the CLI calls it before Open, which would set a
// damaged file aside.
func Probe(path string, timeout time.Duration) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("buffer %s: %w", path, err)
	}
	db, err := openReadOnly(path, timeout)
	if err != nil {
		return err
	}
	return db.Close()
}

func openReadOnly(path string, timeout time.Duration) (*bolt.DB, error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("buffer %s cannot be opened: %w", path, err)
	}
	return db, nil
}
