package buffer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string) *Buffer {
	t.Helper()
	b, err := Open(path, Options{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func recs(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf(`{"%s":%d}`, prefix, i))
	}
	return out
}

func readAll(t *testing.T, r *Reader, want int) []string {
	t.Helper()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(got) < want {
		l, err := r.Next(ctx, 7, 1<<20, 0)
		if err != nil {
			t.Fatalf("after %d records: %v", len(got), err)
		}
		for _, rec := range l.Records {
			got = append(got, string(rec))
		}
		r.Ack(l)
	}
	return got
}

func TestCommitReadAckReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	qc := QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock}
	if err := b.Queue("s", qc); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("c"+strconv.Itoa(i), 10)}},
			Source: "src", Checkpoints: []component.Checkpoint{{Key: "f", Value: []byte(strconv.Itoa(i))}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := b.Reader("s")
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r, 14) // consumes chunk 0 fully, chunk 1 partly
	if got[0] != `{"c0":0}` || got[13] != `{"c1":3}` {
		t.Fatalf("order: %v", got)
	}
	// Let the async delete land, then close.
	componenttest.Eventually(t, 5*time.Second, "20 records in queue s", func() bool { st, _ := b.Stats("s"); return st.Records == 20 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = open(t, path)
	defer b.Close()
	if err := b.Queue("s", qc); err != nil {
		t.Fatal(err)
	}
	st, _ := b.Stats("s")
	if st.Records != 20 || st.Chunks != 2 {
		t.Fatalf("after reopen: %+v, want 20 records in 2 chunks", st)
	}
	cps, err := b.Checkpoints("src").LoadCheckpoints()
	if err != nil || string(cps["f"]) != "2" {
		t.Fatalf("checkpoint = %q, %v", cps["f"], err)
	}
	r, _ = b.Reader("s")
	got = readAll(t, r, 20)
	// The partly delivered chunk 1 is delivered again whole (at-least-once).
	if got[0] != `{"c1":0}` || got[19] != `{"c2":9}` {
		t.Fatalf("after reopen: first %s last %s", got[0], got[19])
	}
}

func TestWhenFull(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	defer b.Close()
	big := [][]byte{randomBytes(600)} // incompressible, so its size on disk is known
	if err := b.Queue("block", QueueConfig{MaxSize: 1000, WhenFull: component.WhenFullBlock}); err != nil {
		t.Fatal(err)
	}
	if err := b.Queue("drop", QueueConfig{MaxSize: 1000, WhenFull: component.WhenFullDropNewest}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "block", Records: big}, {Queue: "drop", Records: big}}}); err != nil {
		t.Fatal(err)
	}
	// drop_newest: the second commit is dropped and counted, not an error.
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "drop", Records: big}}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Stats("drop"); st.Records != 1 || st.Dropped != 1 {
		t.Fatalf("drop queue: %+v", st)
	}
	// block: waits, then ErrFull with nothing stored, and the checkpoint
	// of that commit is not written either.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := b.Commit(short, &Commit{Appends: []Append{{Queue: "block", Records: big}}, Source: "s",
		Checkpoints: []component.Checkpoint{{Key: "k", Value: []byte("x")}}})
	if !errors.Is(err, component.ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if cps, _ := b.Checkpoints("s").LoadCheckpoints(); len(cps) != 0 {
		t.Fatalf("checkpoint written despite ErrFull: %v", cps)
	}
	// A blocked producer resumes as soon as the consumer frees space.
	done := make(chan error, 1)
	go func() { done <- b.Commit(ctx, &Commit{Appends: []Append{{Queue: "block", Records: big}}}) }()
	time.Sleep(20 * time.Millisecond) // a commit that does not block is seen by waiting
	select {
	case err := <-done:
		t.Fatalf("commit did not block: %v", err)
	default:
	}
	r, _ := b.Reader("block")
	l, err := r.Next(ctx, 10, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Ack(l)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentProducersGroupCommit(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	defer b.Close()
	if err := b.Queue("q", QueueConfig{MaxSize: 1 << 30, WhenFull: component.WhenFullBlock}); err != nil {
		t.Fatal(err)
	}
	const producers, commits, per = 8, 50, 10
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < commits; c++ {
				if err := b.Commit(context.Background(), &Commit{Appends: []Append{{Queue: "q", Records: recs(fmt.Sprintf("p%dc%d", p, c), per)}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	r, _ := b.Reader("q")
	got := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < producers*commits*per {
		l, err := r.Next(ctx, 100, 1<<20, 0)
		if err != nil {
			t.Fatalf("got %d: %v", len(got), err)
		}
		for _, rec := range l.Records {
			if got[string(rec)] {
				t.Fatalf("duplicate %s", rec)
			}
			got[string(rec)] = true
		}
		r.Ack(l)
	}
	wg.Wait()
}

func TestCorruptChunkGoesToDeadLetters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	qc := QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock}
	b.Queue("q", qc)
	for i := 0; i < 3; i++ {
		if err := b.Commit(context.Background(), &Commit{Appends: []Append{{Queue: "q", Records: recs("c"+strconv.Itoa(i), 2)}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Damage the middle chunk on disk.
	err := b.DB().Update(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket([]byte("q"))
		v := append([]byte(nil), qb.Get(seqKey(1))...)
		v[len(v)-1] ^= 0xff
		return qb.Put(seqKey(1), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = open(t, path)
	defer b.Close()
	b.Queue("q", qc)
	r, _ := b.Reader("q")
	got := readAll(t, r, 4)
	// The damaged chunk's first record is intact and delivered; its
	// second becomes the dead letter.
	want := []string{`{"c0":0}`, `{"c0":1}`, `{"c1":0}`, `{"c2":0}`, `{"c2":1}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if b.Corrupt() != 1 {
		t.Fatalf("corrupt = %d", b.Corrupt())
	}
	componenttest.Eventually(t, 5*time.Second, "one dead letter", func() bool {
		n := 0
		b.DeadLetters(func(dl DeadLetter) bool { n++; return true })
		return n == 1
	})
}

func TestDamagedFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "buf.db")
	if err := os.WriteFile(path, []byte("this is not a bbolt file, just garbage of some length................."), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, Options{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 1 {
		t.Fatalf("damaged file not set aside: %v", matches)
	}
	if err := b.Queue("q", QueueConfig{MaxSize: 100, WhenFull: component.WhenFullBlock}); err != nil {
		t.Fatal(err)
	}
}

func TestKV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	s := b.KV("conn")
	if err := s.Set("a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = open(t, path)
	defer b.Close()
	s = b.KV("conn")
	v, ok, err := s.Get("a")
	if err != nil || !ok || string(v) != "1" {
		t.Fatalf("get = %q %v %v", v, ok, err)
	}
	if _, ok, _ := b.KV("other").Get("a"); ok {
		t.Fatal("namespaces leak")
	}
	s.Delete("a")
	if _, ok, _ := s.Get("a"); ok {
		t.Fatal("delete failed")
	}
}

// TestSecondReaderDoesNotDoubleCount: a sink replaced by a reload reads
// its queue with a new reader and may deliver and ack chunks the old
// reader acked already; the queue's accounting must count each chunk once.
func TestSecondReaderDoesNotDoubleCount(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	defer b.Close()
	b.Queue("q", QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "q", Records: recs("c", 5)}}}); err != nil {
			t.Fatal(err)
		}
	}
	r1, _ := b.Reader("q")
	r2, _ := b.Reader("q")
	readAll(t, r1, 15)
	readAll(t, r2, 15)
	componenttest.Eventually(t, 5*time.Second, "queue q to empty", func() bool { st, _ := b.Stats("q"); return st.Records == 0 && st.Bytes == 0 })
	time.Sleep(2 * deleteDelay) // past the deletion's delay on purpose: no chunk may be left behind
	if st, _ := b.Stats("q"); st.Records != 0 || st.Bytes != 0 || st.Chunks != 0 {
		t.Fatalf("stats after double delivery: %+v", st)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestTrimPartlyAcknowledgedChunk acknowledges part of a chunk, leaves a
// lease unacknowledged (a delivery cut short) and trims: after a restart
// exactly the unacknowledged records are read again.
func TestTrimPartlyAcknowledgedChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	qc := QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock}
	b.Queue("s", qc)
	ctx := context.Background()
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("r", 10)}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("z", 2)}}}); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Reader("s")
	first, err := r.Next(ctx, 3, 1<<20, 0) // r0..r2: delivered
	if err != nil {
		t.Fatal(err)
	}
	cut, err := r.Next(ctx, 2, 1<<20, 0) // r3, r4: cut short
	if err != nil {
		t.Fatal(err)
	}
	third, err := r.Next(ctx, 2, 1<<20, 0) // r5, r6: delivered
	if err != nil {
		t.Fatal(err)
	}
	r.Ack(first)
	r.Ack(third)
	_ = cut
	n, err := r.Trim()
	if err != nil || n != 5 {
		t.Fatalf("trim removed %d, %v; want 5", n, err)
	}
	if st, _ := b.Stats("s"); st.Records != 7 {
		t.Fatalf("queue accounts %d records after trim, want 7", st.Records)
	}
	b.Close()

	b = open(t, path)
	defer b.Close()
	b.Queue("s", qc)
	r, _ = b.Reader("s")
	got := readAll(t, r, 7)
	want := []string{`{"r":3}`, `{"r":4}`, `{"r":7}`, `{"r":8}`, `{"r":9}`, `{"z":0}`, `{"z":1}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart read %v, want %v", got, want)
	}
}
