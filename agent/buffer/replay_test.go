package buffer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	bolt "go.etcd.io/bbolt"
)

func deadLetterIDs(t *testing.T, b *Buffer) map[uint64]DeadLetter {
	t.Helper()
	out := map[uint64]DeadLetter{}
	if err := b.DeadLetters(func(dl DeadLetter) bool { out[dl.ID] = dl; return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReplayDeadLetters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	qc := QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock}
	b.Queue("s", qc)
	if err := b.Commit(context.Background(), &Commit{Appends: []Append{{Queue: "s", Records: recs("old", 2)}}}); err != nil {
		t.Fatal(err)
	}
	err := b.AddDeadLetters([]component.DeadLetter{
		{Component: "s", Reason: "HTTP 400", Record: []byte(`{"a":1}`)},
		{Component: "chain", Reason: "no webhook sink", Record: []byte(`{"w":1}`)},
		{Component: "s", Reason: "corrupt buffer chunk", Record: []byte("\x00\x01garbage")},
		{Component: "s", Reason: "HTTP 400", Record: []byte(`{"a":2}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = open(t, path)
	res, err := b.ReplayDeadLetters(context.Background(), Replay{IDs: []uint64{1, 2, 3, 4, 99}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed["s"] != 2 || len(res.Replayed) != 1 {
		t.Fatalf("replayed %v", res.Replayed)
	}
	if len(res.Skipped) != 3 || !strings.Contains(res.Skipped[2], "--sink") || !strings.Contains(res.Skipped[3], "not JSON") || res.Skipped[99] != "no such dead letter" {
		t.Fatalf("skipped %v", res.Skipped)
	}
	left := deadLetterIDs(t, b)
	if len(left) != 2 || left[2].Component != "chain" || left[3].Component != "s" {
		t.Fatalf("left %v", left)
	}
	if _, err := b.ReplayDeadLetters(context.Background(), Replay{Queue: "nope"}); err == nil || !strings.Contains(err.Error(), `no queue "nope"`) {
		t.Fatalf("unknown queue: %v", err)
	}
	// --sink: the transform's dead letter into queue s.
	res, err = b.ReplayDeadLetters(context.Background(), Replay{IDs: []uint64{2}, Queue: "s"})
	if err != nil || res.Replayed["s"] != 1 {
		t.Fatalf("replay to s: %v %v", res, err)
	}
	b.Close()

	b = open(t, path)
	defer b.Close()
	b.Queue("s", qc)
	st, _ := b.Stats("s")
	if st.Records != 5 {
		t.Fatalf("queue holds %d records, want 5", st.Records)
	}
	r, _ := b.Reader("s")
	got := readAll(t, r, 5)
	want := []string{`{"old":0}`, `{"old":1}`, `{"a":1}`, `{"a":2}`, `{"w":1}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queue after replay %v, want %v", got, want)
	}
	// New commits land after the replayed chunks.
	if err := b.Commit(context.Background(), &Commit{Appends: []Append{{Queue: "s", Records: recs("new", 1)}}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r, 1); got[0] != `{"new":0}` {
		t.Fatalf("after replay: %v", got)
	}
}

// TestReplayOnlyRequestedIDs replays one id in the middle of several dead
// letters: exactly that one moves, the later ones stay.
func TestReplayOnlyRequestedIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	b.Queue("s", QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock})
	var dls []component.DeadLetter
	for i := range 5 {
		dls = append(dls, component.DeadLetter{Component: "s", Reason: "HTTP 400", Record: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	if err := b.AddDeadLetters(dls); err != nil {
		t.Fatal(err)
	}
	b.Close()
	for _, tc := range []struct {
		name string
		ids  []uint64
		left []uint64
	}{
		{"middle", []uint64{2}, []uint64{1, 3, 4, 5}},
		{"first", []uint64{1}, []uint64{3, 4, 5}},
		{"two", []uint64{3, 5}, []uint64{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t, path)
			defer b.Close()
			res, err := b.ReplayDeadLetters(context.Background(), Replay{IDs: tc.ids})
			if err != nil || res.Replayed["s"] != len(tc.ids) || len(res.Skipped) != 0 {
				t.Fatalf("replay %v: %v %v", tc.ids, res, err)
			}
			var left []uint64
			for id := range deadLetterIDs(t, b) {
				left = append(left, id)
			}
			slices.Sort(left)
			if !slices.Equal(left, tc.left) {
				t.Fatalf("left %v, want %v", left, tc.left)
			}
		})
	}
}

// TestReplayIntoRunningQueue replays while the queue is registered and
// read, as in a running agent: the reader gets the records after what was
// already queued, and the dead letters are gone.
func TestReplayIntoRunningQueue(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	defer b.Close()
	b.Queue("s", QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock})
	r, err := b.Reader("s")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("old", 1)}}}); err != nil {
		t.Fatal(err)
	}
	b.AddDeadLetters([]component.DeadLetter{
		{Component: "s", Reason: "HTTP 400", Record: []byte(`{"a":1}`)},
		{Component: "s", Reason: "HTTP 400", Record: []byte(`{"a":2}`)},
		{Component: "s", Reason: "HTTP 400", Record: []byte(`{"a":3}`)},
	})
	res, err := b.ReplayDeadLetters(ctx, Replay{IDs: []uint64{1, 3}})
	if err != nil || res.Replayed["s"] != 2 {
		t.Fatalf("replay: %v %v", res, err)
	}
	if st, _ := b.Stats("s"); st.Records != 3 {
		t.Fatalf("queue accounts %d records, want 3", st.Records)
	}
	got := readAll(t, r, 3)
	if want := []string{`{"old":0}`, `{"a":1}`, `{"a":3}`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reader got %v, want %v", got, want)
	}
	if left := deadLetterIDs(t, b); len(left) != 1 || left[2].Reason != "HTTP 400" {
		t.Fatalf("left %v", left)
	}
	// A dead letter purged between selection and commit fails the whole
	// commit: nothing is appended.
	err = b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("x", 1)}}, DeleteDeadLetters: []uint64{2, 77}})
	if !errors.Is(err, ErrDeadLetterGone) {
		t.Fatalf("commit deleting a missing dead letter: %v", err)
	}
	if left := deadLetterIDs(t, b); len(left) != 1 {
		t.Fatalf("dead letter 2 deleted by a failed commit: %v", left)
	}
	if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs("y", 1)}}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r, 1); got[0] != `{"y":0}` {
		t.Fatalf("after the failed commit the reader got %v", got)
	}
}

// TestCheckRunningBuffer checks the open buffer in place.
func TestCheckRunningBuffer(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	defer b.Close()
	b.Queue("s", QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock})
	b.Commit(context.Background(), &Commit{Appends: []Append{{Queue: "s", Records: recs("a", 3)}}})
	b.AddDeadLetters([]component.DeadLetter{{Component: "s", Reason: "x", Record: []byte(`1`)}})
	rep, err := b.Check()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Queues) != 1 || rep.Queues[0].Records != 3 || rep.DeadLetters != 1 || len(rep.Damage) != 0 || rep.FileBytes == 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestPurgeDeadLetters(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "buf.db"))
	defer b.Close()
	var dls []component.DeadLetter
	for i := range 5 {
		dls = append(dls, component.DeadLetter{Component: "s", Reason: "x", Record: []byte(fmt.Sprint(i))})
	}
	b.AddDeadLetters(dls)
	n, err := b.PurgeDeadLetters([]uint64{2, 4, 42})
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if left := deadLetterIDs(t, b); len(left) != 3 {
		t.Fatalf("left %d", len(left))
	}
	if n, err := b.PurgeDeadLetters(nil); err != nil || n != 3 {
		t.Fatalf("purged %d, %v", n, err)
	}
	if left := deadLetterIDs(t, b); len(left) != 0 {
		t.Fatalf("left %d", len(left))
	}
	// Ids keep growing after a purge of everything: a later list never
	// shows an id that meant another record.
	b.AddDeadLetters(dls[:1])
	for id := range deadLetterIDs(t, b) {
		if id <= 5 {
			t.Fatalf("id %d reused after purge", id)
		}
	}
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	b := open(t, path)
	qc := QueueConfig{MaxSize: 1 << 20, WhenFull: component.WhenFullBlock}
	b.Queue("a", qc)
	b.Queue("b", qc)
	for i := range 3 {
		b.Commit(context.Background(), &Commit{Appends: []Append{{Queue: "a", Records: recs("x", 10)}}, Source: "gen",
			Checkpoints: []component.Checkpoint{{Key: "seq", Value: []byte(fmt.Sprint(i))}}})
	}
	b.AddDeadLetters([]component.DeadLetter{{Component: "a", Reason: "x", Record: []byte(`{}`)}})
	b.KV("transforms/t").Set("k", []byte("v"))

	// Locked while the agent (here: this Buffer) has it open.
	if _, err := Check(path, 200*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("check of an open buffer: %v", err)
	}
	b.Close()

	rep, err := Check(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) != 0 || rep.DeadLetters != 1 || len(rep.Queues) != 2 || rep.Queues[0].Records != 30 || rep.Queues[0].Chunks != 3 ||
		rep.Queues[1].Records != 0 || rep.Checkpoints["gen"] != 1 || rep.KV["transforms/t"] != 1 {
		t.Fatalf("report %+v", rep)
	}

	// Damage the last record of a chunk: reported, with its key; the
	// other 9 records of the chunk are counted as readable.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket([]byte("a"))
		v := append([]byte(nil), qb.Get(seqKey(1))...)
		v[len(v)-2] ^= 0x55
		return qb.Put(seqKey(1), v)
	})
	db.Close()
	rep, err = Check(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) != 1 || !strings.Contains(rep.Damage[0], `queue "a": chunk 1`) || fmt.Sprint(rep.Queues[0].Corrupt) != "[1]" || rep.Queues[0].Records != 29 {
		t.Fatalf("report %+v", rep)
	}
	if err := Probe(path, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := Probe(filepath.Join(t.TempDir(), "missing.db"), time.Second); err == nil {
		t.Fatal("probe of a missing file succeeded")
	}
}
