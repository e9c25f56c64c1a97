package buffer

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// openQueue opens a fresh buffer (closed by the test's cleanup) with one
// blocking queue of maxSize bytes.
func openQueue(t *testing.T, name string, maxSize int64) *Buffer {
	t.Helper()
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	t.Cleanup(func() { b.Close() })
	if err := b.Queue(name, QueueConfig{MaxSize: maxSize, WhenFull: component.WhenFullBlock}); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStartKeepsOrder starts many commits without waiting in between: they
// are written in the order they were started, with the last checkpoint.
func TestStartKeepsOrder(t *testing.T) {
	b := openQueue(t, "s", 64<<20)
	ctx := context.Background()
	const commits, per = 50, 20
	var prev *Pending
	var pending []*Pending
	for i := 0; i < commits; i++ {
		p, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("c"+strconv.Itoa(i), per)}},
			Source: "src", Checkpoints: []component.Checkpoint{{Key: "f", Value: []byte(strconv.Itoa(i))}}}, prev)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
		prev = p
	}
	for i, p := range pending {
		if err := p.Wait(); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	r, err := b.Reader("s")
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r, commits*per)
	for i := 0; i < commits; i++ {
		for j := 0; j < per; j++ {
			want := `{"c` + strconv.Itoa(i) + `":` + strconv.Itoa(j) + `}`
			if g := got[i*per+j]; g != want {
				t.Fatalf("record %d = %s, want %s", i*per+j, g, want)
			}
		}
	}
	cps, err := b.Checkpoints("src").LoadCheckpoints()
	if err != nil || string(cps["f"]) != strconv.Itoa(commits-1) {
		t.Fatalf("checkpoint = %q, %v", cps["f"], err)
	}
}

// TestStartAfterFailedIsNotWritten: a commit chained after one that failed
// is not written, so its checkpoint cannot skip the lost records; a commit
// that is not chained is unaffected.
func TestStartAfterFailedIsNotWritten(t *testing.T) {
	b := openQueue(t, "s", 64<<20)
	ctx := context.Background()
	for _, waitFirst := range []bool{false, true} {
		t.Run("waitFirst="+strconv.FormatBool(waitFirst), func(t *testing.T) {
			// bbolt refuses an empty key: this commit's transaction fails.
			bad, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("bad", 3)}},
				Source: "src", Checkpoints: []component.Checkpoint{{Key: "", Value: []byte("x")}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var badErr error
			if waitFirst {
				badErr = bad.Wait()
			}
			chained, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("chained", 3)}},
				Source: "src", Checkpoints: []component.Checkpoint{{Key: "f", Value: []byte("chained")}}}, bad)
			if err != nil {
				t.Fatal(err)
			}
			free, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("free", 2)}}, Source: "other"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !waitFirst {
				badErr = bad.Wait()
			}
			if badErr == nil {
				t.Fatal("the commit with an empty checkpoint key was written")
			}
			if err := chained.Wait(); !errors.Is(err, ErrEarlierFailed) {
				t.Fatalf("chained commit: %v, want ErrEarlierFailed", err)
			}
			if err := free.Wait(); err != nil {
				t.Fatalf("unchained commit: %v", err)
			}
			cps, _ := b.Checkpoints("src").LoadCheckpoints()
			if _, ok := cps["f"]; ok {
				t.Fatalf("checkpoint of the chained commit was stored: %q", cps["f"])
			}
			st, _ := b.Stats("s")
			if st.Records != 2 {
				t.Fatalf("queue holds %d records, want only the 2 of the unchained commit", st.Records)
			}
			r, _ := b.Reader("s")
			got := readAll(t, r, 2)
			if got[0] != `{"free":0}` {
				t.Fatalf("records: %v", got)
			}
			componenttest.Eventually(t, 5*time.Second, "queue s to empty", func() bool { st, _ := b.Stats("s"); return st.Records == 0 })
		})
	}
}

// TestQueuedBytesMatchStoredChunks: a commit reserves room by the largest
// its chunk can be and is accounted at its compressed size once written;
// the queue's byte count then matches what a reopened buffer finds on
// disk, failed commits included (they give their reservation back).
func TestQueuedBytesMatchStoredChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	if err := b.Queue("s", QueueConfig{MaxSize: 64 << 20, WhenFull: component.WhenFullBlock}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var pending []*Pending
	var framed int64
	for i := 0; i < 40; i++ {
		key := "f"
		if i%7 == 3 {
			key = "" // bbolt refuses an empty key: this commit fails
		}
		rs := recs("c"+strconv.Itoa(i), 200)
		framed += int64(bodySize(rs))
		p, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: rs}},
			Source: "src", Checkpoints: []component.Checkpoint{{Key: key, Value: []byte("x")}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	failed := 0
	for _, p := range pending {
		if p.Wait() != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no commit failed: the test tests nothing")
	}
	st, _ := b.Stats("s")
	if st.Bytes <= 0 || st.Bytes >= framed/2 {
		t.Fatalf("queue accounts %d bytes for %d framed: not the compressed size", st.Bytes, framed)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := open(t, path)
	defer b2.Close()
	if err := b2.Queue("s", QueueConfig{MaxSize: 64 << 20, WhenFull: component.WhenFullBlock}); err != nil {
		t.Fatal(err)
	}
	st2, _ := b2.Stats("s")
	if st2.Bytes != st.Bytes || st2.Records != st.Records {
		t.Fatalf("accounted %d bytes / %d records, reopened buffer finds %d / %d", st.Bytes, st.Records, st2.Bytes, st2.Records)
	}
}

// TestStartSealsWhenCommitterIsBehind: commits are compressed by the
// committer, or by Start itself once maxUnsealed bytes of framed records
// wait for it; either way every record is stored and read back, and the
// count of waiting bytes returns to where it was.
func TestStartSealsWhenCommitterIsBehind(t *testing.T) {
	for _, behind := range []bool{false, true} {
		t.Run("behind="+strconv.FormatBool(behind), func(t *testing.T) {
			b := openQueue(t, "s", 64<<20)
			var base int64
			if behind {
				base = maxUnsealed
				b.unsealed.Store(base)
			}
			ctx := context.Background()
			var prev *Pending
			for i := 0; i < 20; i++ {
				p, err := b.Start(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("c"+strconv.Itoa(i), 50)}}, Source: "src"}, prev)
				if err != nil {
					t.Fatal(err)
				}
				prev = p
			}
			if err := prev.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := b.unsealed.Load(); got != base {
				t.Fatalf("%d bytes still counted as waiting for the committer, want %d", got, base)
			}
			r, err := b.Reader("s")
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, r, 1000)
			for i := 0; i < 20; i++ {
				for j, want := range recs("c"+strconv.Itoa(i), 50) {
					if got[i*50+j] != string(want) {
						t.Fatalf("record %d = %s, want %s", i*50+j, got[i*50+j], want)
					}
				}
			}
		})
	}
}
