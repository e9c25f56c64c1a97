package buffer

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func hotSeqs(b *Buffer, queue string) map[uint64]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[uint64]bool{}
	for seq := range b.queues[queue].hot {
		out[seq] = true
	}
	return out
}

// TestReaderTakesChunksJustWritten: a reader that keeps up takes the chunks
// just written from memory; one that is behind reads the others from disk;
// either way every record arrives once, in order, and nothing waits in
// memory once read.
func TestReaderTakesChunksJustWritten(t *testing.T) {
	b := openQueue(t, "s", 64<<20)
	r, err := b.Reader("s")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	commit := func(i int) {
		t.Helper()
		if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("c"+strconv.Itoa(i), 10)}},
			Source: "src", Checkpoints: []component.Checkpoint{{Key: "f", Value: []byte("x")}}}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			for _, r := range recs("c"+strconv.Itoa(i), 10) {
				out = append(out, string(r))
			}
		}
		return out
	}
	check := func(got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("read %d records, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("record %d = %s, want %s", i, got[i], want[i])
			}
		}
	}

	// Keeping up: the reader is where the writer is.
	commit(0)
	check(readAll(t, r, 10), want(0, 1))
	commit(1)
	if h := hotSeqs(b, "s"); len(h) != 1 {
		t.Fatalf("after a commit %d chunks wait in memory, want 1", len(h))
	}
	check(readAll(t, r, 10), want(1, 2))
	if h := hotSeqs(b, "s"); len(h) != 0 {
		t.Fatalf("read, yet %d chunks still wait in memory", len(h))
	}

	// Behind: only maxHot chunks wait in memory; the rest come from disk.
	for i := 2; i < 8; i++ {
		commit(i)
	}
	if h := hotSeqs(b, "s"); len(h) != maxHot {
		t.Fatalf("%d chunks wait in memory, want at most %d", len(h), maxHot)
	}
	check(readAll(t, r, 60), want(2, 8))
	if h := hotSeqs(b, "s"); len(h) != 0 {
		t.Fatalf("all read, yet %d chunks still wait in memory", len(h))
	}

	// A chunk kept after the reader had read it from disk (the commit and
	// the reader raced) is dropped, not delivered again.
	b.mu.Lock()
	b.queues["s"].hot[1] = hotChunk{body: frameRecords(nil, recs("stale", 10)), count: 10}
	b.mu.Unlock()
	commit(8)
	check(readAll(t, r, 10), want(8, 9))
	if h := hotSeqs(b, "s"); len(h) != 0 {
		t.Fatalf("a chunk the reader passed still waits in memory: %v", h)
	}
	componenttest.Eventually(t, 5*time.Second, "queue s to empty", func() bool { st, _ := b.Stats("s"); return st.Records == 0 && st.Bytes == 0 })
}

// TestStartSealsWhileCommitterWrites: a commit started while the committer
// is inside a transaction (held here by a write transaction of the test) is
// compressed by Start, keeps its body for the reader, and is stored as one
// the committer sealed: the same records on disk and from memory, the
// queue's bytes the chunks' own size, and no framed body left counted as
// waiting.
func TestStartSealsWhileCommitterWrites(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	defer b.Close()
	if err := b.Queue("s", QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first, second := recs(strings.Repeat("first ", 20), 300), recs(strings.Repeat("second ", 20), 300)
	hold, err := b.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	// On an early failure the committer must not stay blocked, or Close
	// would hang; the regular Rollback below makes this one a no-op.
	defer func() {
		if err := hold.Rollback(); err != nil && !errors.Is(err, bolterrors.ErrTxClosed) {
			t.Error(err)
		}
	}()
	p1, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: first}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	componenttest.Eventually(t, 5*time.Second, "the committer to start writing", b.writing.Load)
	p2, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: second}}}, p1)
	if err != nil {
		t.Fatal(err)
	}
	// The committer waits for hold: it has not touched the second request.
	if w := p2.req.writes[0]; w.data == nil || w.body == nil {
		t.Fatalf("started while the committer writes: sealed %v, body kept %v; want both", w.data != nil, w.body != nil)
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(p1.Wait(), p2.Wait()); err != nil {
		t.Fatal(err)
	}

	st, _ := b.Stats("s")
	size := len(encodeChunk(nil, first, 0)) + len(encodeChunk(nil, second, 0))
	if st.Records != int64(len(first)+len(second)) || st.Bytes != int64(size) {
		t.Fatalf("queue holds %d records in %d bytes, want %d in %d", st.Records, st.Bytes, len(first)+len(second), size)
	}
	if n := b.unsealed.Load(); n != 0 {
		t.Fatalf("%d bytes of framed bodies still counted as waiting", n)
	}
	if h := hotSeqs(b, "s"); len(h) != 2 {
		t.Fatalf("%d chunks kept in memory for the reader, want 2", len(h))
	}
	var want []string
	for _, r := range append(first, second...) {
		want = append(want, string(r))
	}
	var stored []string
	if err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketQueues).Bucket([]byte("s")).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			got, err := decodeChunk(v)
			if err != nil {
				return err
			}
			for _, r := range got {
				stored = append(stored, string(r))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored, want) {
		t.Fatal("records stored on disk differ from those committed")
	}
	r, err := b.Reader("s")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r, len(want)); !slices.Equal(got, want) {
		t.Fatal("records read from memory differ from those committed")
	}
}
