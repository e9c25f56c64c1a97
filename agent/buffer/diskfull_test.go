package buffer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// TestDiskFull fills a small tmpfs until commits fail with ENOSPC: the
// failure is an error (no crash), every commit acknowledged before it is
// still there after reopening (no corruption), and commits succeed again
// once space returns. It needs root to mount a tmpfs and is skipped
// otherwise.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	// Ballast stands for the other files of a full disk; deleting it is
	// "space returns".
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mnt, "buf.db")
	b, err := Open(path, Options{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			b.Close()
		}
	})
	qc := QueueConfig{MaxSize: 1 << 30, WhenFull: component.WhenFullBlock}
	b.Queue("q", qc)
	ctx := context.Background()
	batch := make([][]byte, 20)
	for i := range batch {
		batch[i] = randomBytes(1000) // distinct and incompressible: the disk must fill
	}
	committed := 0
	var fullErr error
	for i := 0; i < 1000; i++ {
		err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "q", Records: batch}}})
		if err != nil {
			fullErr = err
			break
		}
		committed += len(batch)
	}
	if fullErr == nil {
		t.Fatal("the disk never filled")
	}
	if !strings.Contains(fullErr.Error(), "no space left") {
		t.Fatalf("commit error = %v, want ENOSPC", fullErr)
	}
	// Still failing while the disk is full, and still not crashing.
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "q", Records: batch}}}); err == nil {
		t.Fatal("commit succeeded on a full disk")
	}
	if err := b.WriteError(); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("WriteError on a full disk = %v", err)
	}
	if err := b.Ping(ctx); err != nil { // full, not wedged
		t.Fatalf("ping on a full disk: %v", err)
	}
	if st, _ := b.Stats("q"); st.Records != int64(committed) {
		t.Fatalf("stats count %d records, %d were committed", st.Records, committed)
	}
	// Delivering while the disk is full: the deletions cannot be written
	// yet, and must not be forgotten.
	r, _ := b.Reader("q")
	l, err := r.Next(ctx, 40, 1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.Ack(l)
	time.Sleep(3 * deleteDelay) // past the deletion's delay on purpose: it fails on the full disk

	// Space returns: commits work again, and the deletions land.
	os.Remove(ballast)
	componenttest.Eventually(t, 5*time.Second, "the records not yet read to remain", func() bool { st, _ := b.Stats("q"); return st.Records == int64(committed-len(l.Records)) })
	committed -= len(l.Records)
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "q", Records: batch}}}); err != nil {
		t.Fatalf("commit after space returned: %v", err)
	}
	if err := b.WriteError(); err != nil {
		t.Fatalf("WriteError once space returned = %v", err)
	}
	committed += len(batch)
	closed = true
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = open(t, path)
	defer b.Close()
	b.Queue("q", qc)
	if st, _ := b.Stats("q"); st.Records != int64(committed) {
		t.Fatalf("after reopen: %d records, want %d", st.Records, committed)
	}
	r, _ = b.Reader("q")
	if got := readAll(t, r, committed); len(got) != committed {
		t.Fatalf("read %d records, want %d", len(got), committed)
	}
}
