package buffer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
)

func commitCheckpoints(t *testing.T, b *Buffer, source string, cps ...component.Checkpoint) {
	t.Helper()
	if err := b.Commit(context.Background(), &Commit{Source: source, Checkpoints: cps}); err != nil {
		t.Fatal(err)
	}
}

func loadCheckpoints(t *testing.T, b *Buffer, source string) string {
	t.Helper()
	m, err := b.Checkpoints(source).LoadCheckpoints()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(m)
}

// TestCheckpointCopyRestoresLostBuffer: a deleted buffer.db comes back with
// the checkpoints it held, deletions included, from the copy beside it.
func TestCheckpointCopyRestoresLostBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(path string) error
	}{
		{"removed", os.Remove},
		// A 0-byte file (a crash while it was created, a full disk) is a
		// new buffer, also through the checking child, which opens it
		// read-only.
		{"emptied", func(path string) error { return os.Truncate(path, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) { checkpointCopyRestores(t, tc.lose) })
	}
}

func checkpointCopyRestores(t *testing.T, lose func(path string) error) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b, err := Open(path, Options{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Recovered(); ok {
		t.Fatal("a first start reports a recovery")
	}
	commitCheckpoints(t, b, "a", component.Checkpoint{Key: "1.1", Value: []byte("x")}, component.Checkpoint{Key: "1.2", Value: []byte("y")})
	commitCheckpoints(t, b, "b", component.Checkpoint{Key: "k", Value: []byte("v1")})
	commitCheckpoints(t, b, "b", component.Checkpoint{Key: "k", Value: []byte("v2")})
	commitCheckpoints(t, b, "a", component.Checkpoint{Key: "1.2"}) // deleted
	wantA, wantB := loadCheckpoints(t, b, "a"), loadCheckpoints(t, b, "b")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lose(path); err != nil {
		t.Fatal(err)
	}
	b, err = Open(path, Options{Sync: true, Child: testChild})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a, bb := loadCheckpoints(t, b, "a"), loadCheckpoints(t, b, "b"); a != wantA || bb != wantB {
		t.Fatalf("restored a=%s b=%s, want a=%s b=%s", a, bb, wantA, wantB)
	}
	rec, ok := b.Recovered()
	if !ok || rec.Restored != 2 || rec.SetAside != "" {
		t.Fatalf("recovery %+v %v", rec, ok)
	}
}

// TestCheckpointCopyTornTail: an entry cut short by a crash ends the copy;
// the entries before it are used.
func TestCheckpointCopyTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitCheckpoints(t, b, "a", component.Checkpoint{Key: "k", Value: []byte("1")})
	commitCheckpoints(t, b, "a", component.Checkpoint{Key: "k", Value: []byte("2")})
	b.Close()
	j := path + JournalSuffix
	data, err := os.ReadFile(j)
	if err != nil {
		t.Fatal(err)
	}
	// The last entry is "a","k"="2": keep all of it but its last byte.
	if err := os.WriteFile(j, data[:len(data)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	b, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := loadCheckpoints(t, b, "a"); got != "map[k:[49]]" {
		t.Fatalf("restored %s, want k=1", got)
	}
}

// TestCheckpointCopyStaysSmall: the copy is rewritten from the buffer's
// checkpoints once it has grown, and still restores the latest values.
func TestCheckpointCopyStaysSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 200)
	const n = 8000 // about 1.7 MB of entries
	for i := range n {
		copy(val, fmt.Sprintf("%08d", i))
		commitCheckpoints(t, b, "files", component.Checkpoint{Key: fmt.Sprint(i % 3), Value: val})
	}
	b.Close()
	st, err := os.Stat(path + JournalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > journalMinCompact+4096 {
		t.Fatalf("copy is %d bytes after %d commits of 3 keys", st.Size(), n)
	}
	os.Remove(path)
	b, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, _ := b.Checkpoints("files").LoadCheckpoints()
	last := n - 1 - (n-1-1)%3 // the last i with i%3 == 1
	if len(m) != 3 || string(m["1"][:8]) != fmt.Sprintf("%08d", last) {
		t.Fatalf("restored %d keys, key 1 = %.8s", len(m), m["1"])
	}
}

// BenchmarkCheckpointCopy measures what the checkpoint copy adds to a
// commit carrying one file source checkpoint: encoding the entry and one
// write to the copy (no fsync, as between the once-a-second syncs).
// Divide by the lines per batch for the cost per line.
func BenchmarkCheckpointCopy(b *testing.B) {
	j, err := openJournal(filepath.Join(b.TempDir(), "buffer.db"+JournalSuffix), cpState{}, false)
	if err != nil {
		b.Fatal(err)
	}
	defer j.close()
	cp := []byte(`{"path":"/var/log/app/app.log","offset":123456789,"fp":"5d41402abc4b2a76b9719d911017c592","fp_len":256,"seen":1764200000}`)
	group := []*request{{source: "logs", checkpoints: []component.Checkpoint{{Key: "2049.131073", Value: cp}}}}
	for b.Loop() {
		if compact, err := j.record(group); err != nil {
			b.Fatal(err)
		} else if compact {
			if err := j.rewrite(cpState{"logs": {"2049.131073": cp}}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestCheckpointCopyWriteFailure: a copy that cannot be written does not
// fail the commit (the buffer file holds the checkpoint); it is logged
// and the copy is rewritten whole from the buffer.
func TestCheckpointCopyWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buffer.db")
	var logs bytes.Buffer // read once Close has stopped the committer
	b, err := Open(path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	commitCheckpoints(t, b, "a", component.Checkpoint{Key: "k", Value: []byte("1")})
	b.journal.f.Close() // the next append fails, as on an I/O error
	commitCheckpoints(t, b, "a", component.Checkpoint{Key: "k", Value: []byte("2")})
	b.Close()
	if !strings.Contains(logs.String(), "cannot update the checkpoint copy") {
		t.Fatalf("failure not logged:\n%s", logs.String())
	}
	os.Remove(path)
	b, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := loadCheckpoints(t, b, "a"); got != "map[k:[50]]" {
		t.Fatalf("restored %s, want k=2", got)
	}
}
