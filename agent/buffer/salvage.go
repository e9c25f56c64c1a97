package buffer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/klauspost/compress/s2"
	bolt "go.etcd.io/bbolt"
)

// SalvageReport tells what a salvage copied out of a damaged file.
type SalvageReport struct {
	// Records counts the queue records copied, per queue.
	Records map[string]int64 `json:"records"`
	// Checkpoints counts the checkpoint keys copied, over all sources.
	Checkpoints int `json:"checkpoints"`
	// KV counts the connector storage keys copied.
	KV int `json:"kv"`
	// DeadLetters counts the dead letters copied.
	DeadLetters int `json:"dead_letters"`
	// Unreadable counts the pieces of damaged chunks that could not be
	// split into records; each became a dead letter.
	Unreadable int `json:"unreadable"`
	// Orphaned counts the records found in pages the tree no longer
	// reaches; each became a dead letter (see orphanChunks).
	Orphaned int `json:"orphaned"`
	// Damage lists the places where reading stopped.
	Damage []string `json:"damage"`
}

// salvageBatch is how many keys the salvage copies per transaction of the
// new file: if the salvage process dies on a page, what it copied before
// is committed.
const salvageBatch = 1000

// salvage copies everything that can still be read from the damaged bbolt
// file src into a new file dst. It runs in a child process: bbolt may
// crash on a page of src, and recover below only catches what bbolt
// raises in this goroutine (faults included, with SetPanicOnFault).
func salvage(src, dst string) (*SalvageReport, error) {
	debug.SetPanicOnFault(true)
	in, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if isFSError(err) {
			return nil, fmt.Errorf("salvage: open %s: %w", src, err)
		}
		// Both meta pages are gone, so bbolt cannot find the tree; its
		// pages may be intact: read them all.
		return salvagePages(src, dst, err)
	}
	defer in.Close()
	os.Remove(dst)
	out, err := bolt.Open(dst, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("salvage: create %s: %w", dst, err)
	}
	defer out.Close()
	s := &salvager{out: out, rep: &SalvageReport{Records: map[string]int64{}, Damage: []string{}}, seen: map[[32]byte]bool{}, queues: map[string]bool{}}
	if err := s.flush(); err != nil { // the top buckets, even if nothing else can be read
		return nil, err
	}
	err = in.View(func(tx *bolt.Tx) error {
		s.walk(rootBucket{tx}, nil)
		return s.flush()
	})
	if err != nil {
		return nil, fmt.Errorf("salvage: %w", err)
	}
	if len(s.rep.Damage) > 0 {
		chunks, err := orphanChunks(src, in.Info().PageSize, s.seen)
		if err != nil {
			s.rep.Damage = append(s.rep.Damage, "reading unreachable pages: "+err.Error())
		}
		// With a single queue in the file, the records are its own: a
		// replay then needs no --sink.
		owner := ""
		if len(s.queues) == 1 {
			for q := range s.queues {
				owner = q
			}
		}
		if err := s.orphans(chunks, owner); err != nil {
			return nil, err
		}
	}
	return s.rep, nil
}

// orphans stores the records of chunks found outside the tree as dead
// letters of component owner ("" when unknown), and flushes.
func (s *salvager) orphans(chunks [][]byte, owner string) error {
	for _, c := range chunks {
		recs, _ := decodeChunk(c)
		for _, r := range recs {
			s.dls = append(s.dls, component.DeadLetter{Component: owner, Reason: reasonOrphaned, Record: r})
			if len(s.dls) >= salvageBatch {
				if err := s.flush(); err != nil {
					return fmt.Errorf("salvage: %w", err)
				}
			}
		}
		s.rep.Orphaned += len(recs)
	}
	if err := s.flush(); err != nil {
		return fmt.Errorf("salvage: %w", err)
	}
	return nil
}

// salvagePages is the salvage of a file bbolt cannot open at all (both
// meta pages damaged): without a tree nothing says which pages are live,
// so every chunk found in the file's pages becomes a dead letter (as the
// chunks of pages a damaged tree no longer reaches do), for the operator
// to replay or purge. Checkpoints come from the checkpoint copy; connector
// storage is lost. The page size is the system's, which bbolt gave the
// file.
func salvagePages(src, dst string, openErr error) (*SalvageReport, error) {
	os.Remove(dst)
	out, err := bolt.Open(dst, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("salvage: create %s: %w", dst, err)
	}
	defer out.Close()
	s := &salvager{out: out, rep: &SalvageReport{Records: map[string]int64{}, Damage: []string{"bbolt cannot open it: " + openErr.Error()}}, seen: map[[32]byte]bool{}, queues: map[string]bool{}}
	if err := s.flush(); err != nil {
		return nil, err
	}
	chunks, err := orphanChunks(src, os.Getpagesize(), s.seen)
	if err != nil {
		s.rep.Damage = append(s.rep.Damage, "reading its pages: "+err.Error())
	}
	if err := s.orphans(chunks, ""); err != nil {
		return nil, err
	}
	return s.rep, nil
}

// bucketLike is what walk needs of a bucket; the root of a transaction is
// one too.
type bucketLike interface {
	Cursor() *bolt.Cursor
	Bucket(name []byte) *bolt.Bucket
}

type rootBucket struct{ tx *bolt.Tx }

func (r rootBucket) Cursor() *bolt.Cursor            { return r.tx.Cursor() }
func (r rootBucket) Bucket(name []byte) *bolt.Bucket { return r.tx.Bucket(name) }

// salvager collects what it reads and writes it to the new file in
// batches.
type salvager struct {
	out *bolt.DB
	rep *SalvageReport
	// pending writes, applied by flush.
	puts []salvagePut
	dls  []component.DeadLetter
	// seen holds the hashes of the queue chunks copied whole, so the scan
	// for orphaned chunks skips their stale copies.
	seen map[[32]byte]bool
	// queues holds the names of the queues found.
	queues map[string]bool
}

type salvagePut struct {
	path [][]byte
	key  []byte
	val  []byte // nil: only create the bucket path+key
	seq  uint64 // the bucket's sequence, for bucket entries
}

func (s *salvager) flush() error {
	puts, dls := s.puts, s.dls
	s.puts, s.dls = nil, nil
	return s.out.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketQueues, bucketCheckpoints, bucketDeadLetters, bucketKV} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		for _, p := range puts {
			var b *bolt.Bucket
			var err error
			for i, name := range p.path {
				if i == 0 {
					b, err = tx.CreateBucketIfNotExists(name)
				} else {
					b, err = b.CreateBucketIfNotExists(name)
				}
				if err != nil {
					return err
				}
			}
			if p.val == nil {
				var nb *bolt.Bucket
				if b == nil {
					nb, err = tx.CreateBucketIfNotExists(p.key)
				} else {
					nb, err = b.CreateBucketIfNotExists(p.key)
				}
				if err == nil && p.seq > nb.Sequence() {
					err = nb.SetSequence(p.seq)
				}
			} else if b != nil {
				err = b.Put(p.key, p.val)
			}
			if err != nil {
				return err
			}
		}
		if len(dls) > 0 {
			// New ids must not overwrite copied dead letters, whatever
			// sequence the damaged bucket header said.
			dlb := tx.Bucket(bucketDeadLetters)
			if k, _ := dlb.Cursor().Last(); k != nil && keySeq(k) > dlb.Sequence() {
				if err := dlb.SetSequence(keySeq(k)); err != nil {
					return err
				}
			}
			return putDeadLetters(tx, dls)
		}
		return nil
	})
}

func (s *salvager) add(p salvagePut) {
	s.puts = append(s.puts, p)
	if len(s.puts) >= salvageBatch {
		if err := s.flush(); err != nil {
			s.rep.Damage = append(s.rep.Damage, "writing the salvaged copy: "+err.Error())
		}
	}
}

// try runs f, turning a panic (a damaged page) into an error.
func try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}

// walk copies bucket b, at path, into the new file. Where a page cannot be
// read it records the damage and looks for the first readable key after
// it (see skip), so one bad page costs the keys it held, not the rest.
func (s *salvager) walk(b bucketLike, path [][]byte) {
	where := pathString(path)
	var c *bolt.Cursor
	var k, v []byte
	err := try(func() { c = b.Cursor(); k, v = c.First() })
	for {
		if err != nil {
			s.rep.Damage = append(s.rep.Damage, fmt.Sprintf("%s: %v", where, err))
			if c == nil {
				return
			}
			var last []byte
			if k != nil {
				last = k
			}
			k, v, err = skip(c, last)
			if err != nil || k == nil {
				return
			}
		}
		if k == nil {
			return
		}
		key := bytes.Clone(k)
		if v == nil {
			s.bucket(b, path, key)
		} else {
			s.value(path, key, v)
		}
		err = try(func() { k, v = c.Next() })
		if err != nil {
			k = key
		}
	}
}

// bucket copies the nested bucket key of b.
func (s *salvager) bucket(b bucketLike, path [][]byte, key []byte) {
	if len(path) == 1 && bytes.Equal(path[0], bucketQueues) {
		s.queues[string(key)] = true
	}
	var nb *bolt.Bucket
	var seq uint64
	if err := try(func() {
		if nb = b.Bucket(key); nb != nil {
			seq = nb.Sequence()
		}
	}); err == nil && nb == nil {
		s.value(path, key, []byte{}) // an empty value, not a bucket
		return
	} else if err != nil {
		s.rep.Damage = append(s.rep.Damage, fmt.Sprintf("%s: bucket %q: %v", pathString(path), key, err))
		return
	}
	s.add(salvagePut{path: path, key: key, seq: seq})
	s.walk(nb, append(append([][]byte(nil), path...), key))
}

// value copies one key; queue chunks are checked and split as the reader
// would, so a damaged chunk keeps its readable records.
func (s *salvager) value(path [][]byte, key, v []byte) {
	val := bytes.Clone(v)
	top := ""
	if len(path) > 0 {
		top = string(path[0])
	}
	switch {
	case top == string(bucketQueues) && len(path) == 2:
		queue := string(path[1])
		if recs, err := decodeChunk(val); err == nil {
			s.seen[sha256.Sum256(val)] = true
			s.rep.Records[queue] += int64(len(recs))
			s.add(salvagePut{path: path, key: key, val: val})
			return
		}
		good, bad := salvageChunk(val)
		s.rep.Records[queue] += int64(len(good))
		s.rep.Unreadable += len(bad)
		if len(good) > 0 {
			s.add(salvagePut{path: path, key: key, val: encodeChunk(nil, good, chunkTime(val))})
		}
		for _, b := range bad {
			s.dls = append(s.dls, component.DeadLetter{Component: queue, Reason: reasonDamagedRecords, Record: b})
		}
		return
	case top == string(bucketDeadLetters) && len(path) == 1:
		s.rep.DeadLetters++
	case top == string(bucketCheckpoints):
		s.rep.Checkpoints++
	case top == string(bucketKV):
		s.rep.KV++
	}
	s.add(salvagePut{path: path, key: key, val: val})
}

// skip finds the first key after last that a cursor can reach: it
// bisects over the first eight bytes of the keys (all of a queue's key),
// between last and the end of the bucket, for the smallest key a Seek can
// read past. Keys sharing their first eight bytes with the damaged range
// are lost with it.
func skip(c *bolt.Cursor, last []byte) (k, v []byte, err error) {
	lo := prefix64(last)
	if last == nil {
		lo = 0
	} else if lo == ^uint64(0) {
		return nil, nil, nil
	}
	hi := ^uint64(0)
	if try(func() { k, v = c.Seek(key64(hi)) }) != nil {
		// Even the end is unreadable: try from the last key down.
		if try(func() { k, v = c.Last() }) != nil || k == nil {
			return nil, nil, fmt.Errorf("no readable key after %q", last)
		}
		hi = prefix64(k)
	}
	ok := func(x uint64) bool {
		var kk []byte
		err := try(func() { kk, _ = c.Seek(key64(x)) })
		return err == nil && (kk == nil || bytes.Compare(kk, last) > 0)
	}
	if !ok(hi) {
		return nil, nil, nil
	}
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	err = try(func() { k, v = c.Seek(key64(hi)) })
	return k, v, err
}

func key64(x uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], x)
	return k[:]
}

// prefix64 reads the first eight bytes of k (zero-padded) as a number.
func prefix64(k []byte) uint64 {
	var p [8]byte
	copy(p[:], k)
	return binary.BigEndian.Uint64(p[:])
}

func pathString(path [][]byte) string {
	if len(path) == 0 {
		return "root"
	}
	s := ""
	for i, p := range path {
		if i > 0 {
			s += "/"
		}
		s += string(p)
	}
	return s
}

// reasonDamagedRecords is the dead-letter reason of the unreadable part of a
// damaged chunk.
const reasonDamagedRecords = "unreadable part of a damaged buffer chunk"

// salvageChunk splits a chunk that fails its checksum into the records that
// can still be read and the bytes that cannot. Without per-record checksums
// a record is taken as readable when its framing holds and it is a valid
// JSON object (what every queue stores); the framing of a raw body lets the
// records before and after a damaged one be read, while an S2 body that no
// longer decompresses is unreadable as a whole.
func salvageChunk(data []byte) (good, bad [][]byte) {
	if len(data) < chunkHeader+2 {
		return nil, [][]byte{data}
	}
	p := data[chunkHeader:]
	// The count is not trusted (it may be what is damaged): the framing
	// decides.
	_, k := binary.Uvarint(p)
	if k <= 0 || k >= len(p) {
		return nil, [][]byte{data}
	}
	flags := p[k]
	body := p[k+1:]
	switch flags {
	case flagRaw:
	case flagS2:
		raw, err := s2.Decode(nil, body)
		if err != nil {
			return nil, [][]byte{data}
		}
		body = raw
	default:
		return nil, [][]byte{data}
	}
	var junk []byte
	flushJunk := func() {
		if len(junk) > 0 {
			bad = append(bad, junk)
			junk = nil
		}
	}
	for len(body) > 0 {
		rec, rest, ok := nextRecord(body)
		if ok {
			flushJunk()
			good = append(good, bytes.Clone(rec))
			body = rest
			continue
		}
		// Lost in the framing: the records after the damage start at the
		// first offset from which the rest of the body frames exactly.
		at := resync(body)
		junk = append(junk, body[:at]...)
		body = body[at:]
	}
	flushJunk()
	return good, bad
}

// nextRecord reads one framed record that is a JSON object (every queue
// stores events and webhook requests as objects; a bare number or string
// is too easily made by chance out of damaged bytes).
func nextRecord(p []byte) (rec, rest []byte, ok bool) {
	l, k := binary.Uvarint(p)
	if k <= 0 || l > uint64(len(p)-k) {
		return nil, nil, false
	}
	rec = p[k : k+int(l)]
	if len(rec) < 2 || rec[0] != '{' || !json.Valid(rec) {
		return nil, nil, false
	}
	return rec, p[k+int(l):], true
}

// resyncRecords is how many valid records in a row mark the framing as
// found again (fewer when they reach the end of the body).
const resyncRecords = 3

// resync returns the first offset after 0 from which p splits into
// resyncRecords valid records, or into valid records to its end (len(p) if
// there is none).
func resync(p []byte) int {
	for at := 1; at < len(p); at++ {
		q := p[at:]
		for n := 1; ; n++ {
			_, rest, ok := nextRecord(q)
			if !ok {
				break
			}
			if len(rest) == 0 || n == resyncRecords {
				return at
			}
			q = rest
		}
	}
	return len(p)
}
