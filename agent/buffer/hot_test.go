package buffer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
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
