package buffer

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
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
			waitFor(t, func() bool { st, _ := b.Stats("s"); return st.Records == 0 })
		})
	}
}
