package buffer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	bolt "go.etcd.io/bbolt"
)

// childEnv makes the test binary act as the buffer's child process.
const childEnv = "HOGTAIL_BUFFER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(ChildMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// testChild re-executes the test binary as the child, as hogtail
// re-executes itself.
func testChild(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

// damageFixture is a buffer file with a queue deep enough for branch
// pages, checkpoints, connector storage and dead letters.
type damageFixture struct {
	path string
	// records is every queued record, by content.
	records map[string]bool
	// big is the last chunk, larger than a page: its records in order.
	big [][]byte
}

const (
	// bigChunkSeq is the key of the big chunk, written last.
	bigChunkSeq       = fixtureChunks
	bigChunkRecs      = 60
	fixtureChunks     = 600
	fixtureChunkRecs  = 4
	fixtureRecordSize = 90
)

// newDamageFixture writes the fixture. Records hold random base64, which
// does not compress, so chunks are stored raw and a damaged one can be
// split record by record.
func newDamageFixture(t *testing.T) *damageFixture {
	t.Helper()
	f := &damageFixture{path: filepath.Join(t.TempDir(), "buffer.db"), records: map[string]bool{}}
	b, err := Open(f.path, Options{Sync: false})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Queue("q", QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, fixtureRecordSize)
	for i := range fixtureChunks + 1 {
		recs := make([][]byte, fixtureChunkRecs)
		if i == fixtureChunks {
			recs = make([][]byte, bigChunkRecs)
			f.big = recs
		}
		for j := range recs {
			rand.Read(raw)
			recs[j] = fmt.Appendf(nil, `{"i":%d,"j":%d,"r":%q}`, i, j, base64.StdEncoding.EncodeToString(raw))
			f.records[string(recs[j])] = true
		}
		c := &Commit{Appends: []Append{{Queue: "q", Records: recs}}, Source: "files",
			Checkpoints: []component.Checkpoint{{Key: fmt.Sprintf("file-%d", i%5), Value: fmt.Appendf(nil, `{"offset":%d}`, i)}}}
		if err := b.Commit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.KV("transforms/t").Set("token", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if err := b.AddDeadLetters([]component.DeadLetter{{Component: "q", Reason: "400", Record: []byte(`{"dead":1}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// pages returns the ids of the pages of a type ("branch", "leaf") that the
// queue's tree uses, read from the healthy file.
func (f *damageFixture) pages(t *testing.T, typ string) []int {
	t.Helper()
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []int
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			if p.Type == typ {
				ids = append(ids, id)
			}
			id += p.OverflowCount
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// overwrite writes n random bytes at off.
func (f *damageFixture) overwrite(t *testing.T, off int64, n int) {
	t.Helper()
	junk := make([]byte, n)
	rand.Read(junk)
	f.writeAt(t, off, junk)
}

// zero writes n zero bytes at off (a block the disk lost).
func (f *damageFixture) zero(t *testing.T, off int64, n int) {
	t.Helper()
	f.writeAt(t, off, make([]byte, n))
}

func (f *damageFixture) writeAt(t *testing.T, off int64, b []byte) {
	t.Helper()
	fh, err := os.OpenFile(f.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// chunkOffset finds where the value of chunk seq lies in the file.
func (f *damageFixture) chunkOffset(t *testing.T, seq uint64) (int64, int) {
	t.Helper()
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var val []byte
	db.View(func(tx *bolt.Tx) error {
		val = bytes.Clone(tx.Bucket(bucketQueues).Bucket([]byte("q")).Get(seqKey(seq)))
		return nil
	})
	db.Close()
	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, val)
	if at < 0 || val == nil {
		t.Fatalf("chunk %d not found in the file", seq)
	}
	return int64(at), len(val)
}

// reopen opens the damaged file the way the agent does and reads back
// every queued record. Every record read must be one that was written.
// Records that were never written (damaged bytes that still read as a JSON
// object) are returned apart.
func (f *damageFixture) reopen(t *testing.T) (b *Buffer, got map[string]bool, unknown []string, logs string) {
	t.Helper()
	var lb bytes.Buffer
	var err error
	b, err = Open(f.path, Options{Sync: true, Child: testChild, Logger: slog.New(slog.NewTextHandler(&lb, nil))})
	if err != nil {
		t.Fatalf("open damaged buffer: %v\n%s", err, lb.String())
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Queue("q", QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	got = map[string]bool{}
	r, err := b.Reader("q")
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range drain(t, r) {
		if !f.records[rec] {
			unknown = append(unknown, rec)
			continue
		}
		if got[rec] {
			t.Fatalf("record read twice: %.80q", rec)
		}
		got[rec] = true
	}
	// Every record delivered and acked: the queue's accounting, damaged
	// chunks included, comes back to zero.
	componenttest.Eventually(t, 5*time.Second, "queue q to empty, chunks deleted", func() bool { st, _ := b.Stats("q"); return st.Records == 0 && st.Bytes == 0 && st.Chunks == 0 })
	return b, got, unknown, lb.String()
}

// drain reads and acks every record of a queue: until a read finds nothing
// for a while (the queue has nothing more committed).
func drain(t *testing.T, r *Reader) []string {
	t.Helper()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		l, err := r.Next(ctx, 100, 1<<20, 0)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatalf("after %d records: %v", len(got), err)
		}
		for _, rec := range l.Records {
			got = append(got, string(rec))
		}
		r.Ack(l)
	}
}

func TestDamagedBufferIsSalvaged(t *testing.T) {
	pageSize := int64(os.Getpagesize())
	cases := []struct {
		name   string
		damage func(t *testing.T, f *damageFixture)
		// minKept is the least share of the records that must come back,
		// in the queue or as dead letters from unreachable pages.
		minKept float64
		// setAside: the damage is in bbolt's pages, not only in a value.
		setAside bool
	}{
		{"truncated to half", func(t *testing.T, f *damageFixture) {
			st, _ := os.Stat(f.path)
			if err := os.Truncate(f.path, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, 0.4, true},
		{"random bytes over a branch page", func(t *testing.T, f *damageFixture) {
			ids := f.pages(t, "branch")
			if len(ids) == 0 {
				t.Fatal("the fixture has no branch page")
			}
			f.overwrite(t, int64(ids[len(ids)/2])*pageSize, 4096)
		}, 0.95, true},
		{"random bytes over a leaf page", func(t *testing.T, f *damageFixture) {
			ids := f.pages(t, "leaf")
			f.overwrite(t, int64(ids[len(ids)/2])*pageSize, 4096)
		}, 0.9, true},
		// bbolt cannot open it at all: every page is read for chunks
		// (dead letters; connector storage is lost).
		{"random bytes over both meta pages", func(t *testing.T, f *damageFixture) {
			f.overwrite(t, 0, int(2*pageSize))
		}, 0.95, true},
		{"zeroed bytes inside a small chunk", func(t *testing.T, f *damageFixture) {
			off, n := f.chunkOffset(t, fixtureChunks/2)
			f.zero(t, off+int64(n)/2, 40)
		}, 0.99, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newDamageFixture(t)
			tc.damage(t, f)
			b, got, unknown, logs := f.reopen(t)
			if len(unknown) > 0 {
				t.Fatalf("read %d records that were never written, like %.80q", len(unknown), unknown[0])
			}
			rec, recovered := b.Recovered()
			asides, _ := filepath.Glob(f.path + ".corrupt-*")
			if tc.setAside {
				if !recovered || rec.SetAside == "" || len(asides) != 1 || asides[0] != rec.SetAside {
					t.Fatalf("damaged file not set aside: recovery %+v, files %v", rec, asides)
				}
				if !strings.Contains(logs, "BUFFER FILE DAMAGED") || !strings.Contains(logs, rec.SetAside) {
					t.Fatalf("no loud log naming the set-aside file:\n%s", logs)
				}
				if rec.Salvage == nil {
					t.Fatalf("nothing salvaged: %s", rec.SalvageError)
				}
				if n := rec.Salvage.Records["q"]; n != int64(len(got)) {
					t.Fatalf("salvage reports %d records, the queue holds %d", n, len(got))
				}
			} else if recovered || len(asides) != 0 {
				t.Fatalf("a damaged value inside a sound file set it aside: %+v %v", rec, asides)
			}
			// Records of pages the tree no longer reaches are dead letters:
			// written once, never also in the queue.
			orphans := 0
			var orphanOwner *string
			b.DeadLetters(func(dl DeadLetter) bool {
				if dl.Reason != reasonOrphaned {
					return true
				}
				if !f.records[string(dl.Record)] || got[string(dl.Record)] {
					t.Fatalf("orphaned dead letter never written, or also in the queue: %.80q", dl.Record)
				}
				// The queue is named when the salvage found its bucket:
				// always when it copied records into it; when it copied
				// none, the random bytes may have hit the bucket itself
				// (no name) or only the pages under it (named).
				if dl.Component != "q" && (len(got) > 0 || dl.Component != "") {
					t.Fatalf("orphaned dead letter of component %q (queue records salvaged: %d)", dl.Component, len(got))
				}
				if orphanOwner == nil {
					orphanOwner = &dl.Component
				} else if *orphanOwner != dl.Component {
					t.Fatalf("orphaned dead letters of components %q and %q", *orphanOwner, dl.Component)
				}
				orphans++
				return true
			})
			if rec.Salvage != nil && rec.Salvage.Orphaned != orphans {
				t.Fatalf("salvage reports %d orphaned records, dead letters hold %d", rec.Salvage.Orphaned, orphans)
			}
			total := len(f.records)
			if kept := len(got) + orphans; float64(kept) < tc.minKept*float64(total) {
				t.Fatalf("kept %d (+%d as dead letters) of %d records, want at least %.0f%%", len(got), orphans, total, tc.minKept*100)
			}
			t.Logf("kept %d of %d records in the queue, %d as dead letters from unreachable pages; damage: %v", len(got), total, orphans, rec.Damage)

			// Checkpoints come back, salvaged or from the checkpoint copy
			// (the truncated file lost its own); the rest of the file
			// survives damage to the queue's pages.
			cps, err := b.Checkpoints("files").LoadCheckpoints()
			if err != nil || len(cps) != 5 || string(cps["file-4"]) != fmt.Sprintf(`{"offset":%d}`, fixtureChunks-1) {
				t.Fatalf("checkpoints %q %v", cps, err)
			}
			if !strings.HasPrefix(tc.name, "truncated") && !strings.Contains(tc.name, "meta") {
				if v, ok, err := b.KV("transforms/t").Get("token"); err != nil || !ok || string(v) != "secret" {
					t.Fatalf("storage %q %v %v", v, ok, err)
				}
			}
			// The new file is sound: bbolt's own check finds nothing.
			if err := b.DB().View(func(tx *bolt.Tx) error {
				for err := range tx.Check() {
					return err
				}
				return nil
			}); err != nil {
				t.Fatalf("salvaged file: %v", err)
			}
		})
	}
}

// TestDamagedChunkKeepsReadableRecords overwrites 4 KB in the middle of a
// chunk larger than a page (bbolt's page structure stays sound): the
// reader delivers every record outside the damaged bytes and moves the
// damaged bytes to dead letters. A damaged record whose bytes still read as
// a JSON object cannot be told from a sound one (records carry no checksum
// of their own): it may be delivered as read, never more than the records
// the damage touched.
func TestDamagedChunkKeepsReadableRecords(t *testing.T) {
	f := newDamageFixture(t)
	off, _ := f.chunkOffset(t, bigChunkSeq)
	const from, size = 2000, 4096
	f.overwrite(t, off+from, size)
	// Where each record of the big chunk lies in its value: the header,
	// the count, the flags, then length-prefixed records.
	at := chunkHeader + len(binary.AppendUvarint(nil, bigChunkRecs)) + 1
	hit := map[string]bool{}
	for _, rec := range f.big {
		end := at + len(binary.AppendUvarint(nil, uint64(len(rec)))) + len(rec)
		if end > from && at < from+size {
			hit[string(rec)] = true
		}
		at = end
	}
	b, got, unknown, _ := f.reopen(t)
	for rec := range f.records {
		if !got[rec] && !hit[rec] {
			t.Fatalf("record outside the damaged bytes lost: %.80q", rec)
		}
	}
	if len(unknown) > len(hit) {
		t.Fatalf("%d records read that were never written, the damage touched only %d", len(unknown), len(hit))
	}
	if b.Corrupt() != 1 {
		t.Fatalf("corrupt = %d", b.Corrupt())
	}
	if _, ok := b.Recovered(); ok {
		t.Fatal("a damaged value in a sound file set the file aside")
	}
	dls := 0
	b.DeadLetters(func(dl DeadLetter) bool {
		if dl.Reason == reasonDamagedRecords {
			dls++
		}
		return true
	})
	lost := len(f.records) - len(got)
	if lost > len(unknown) && dls == 0 {
		t.Fatalf("%d records lost and no dead letter holds their bytes", lost)
	}
	t.Logf("damage touched %d records: %d lost to %d dead letters, %d delivered damaged", len(hit), lost-len(unknown), dls, len(unknown))
}

func TestSalvageChunk(t *testing.T) {
	recs := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":"two"}`), []byte(`{"c":[3]}`), []byte(`{"d":4}`), []byte(`{"e":5}`)}
	body := frameRecords(nil, recs)
	raw := func(body []byte) []byte {
		c := append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, byte(len(recs)), flagRaw)
		return append(c, body...)
	}
	cases := []struct {
		name     string
		chunk    []byte
		good     []string
		badCount int
	}{
		{"checksum only", raw(body), []string{`{"a":1}`, `{"b":"two"}`, `{"c":[3]}`, `{"d":4}`, `{"e":5}`}, 0},
		{"damaged record content", raw(bytes.Replace(body, []byte(`"two"`), []byte(`"t\x00o`), 1)), []string{`{"a":1}`, `{"c":[3]}`, `{"d":4}`, `{"e":5}`}, 1},
		{"damaged length", raw(bytes.Replace(body, []byte{byte(len(`{"b":"two"}`))}, []byte{0x7f}, 1)), []string{`{"a":1}`, `{"c":[3]}`, `{"d":4}`, `{"e":5}`}, 1},
		{"unknown flags", append(raw(body)[:13:13], append([]byte{9}, body...)...), nil, 1},
		{"too short", []byte{1, 2, 3}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			good, bad := salvageChunk(tc.chunk)
			var gs []string
			for _, g := range good {
				gs = append(gs, string(g))
			}
			if fmt.Sprint(gs) != fmt.Sprint(tc.good) || len(bad) != tc.badCount {
				t.Fatalf("good %q, %d bad pieces %q", gs, len(bad), bad)
			}
		})
	}
}

// TestNotDamageIsRefused: a buffer path that is not a file, and a file
// locked by another open, are refused with a clear error and left alone.
func TestNotDamageIsRefused(t *testing.T) {
	t.Run("not a regular file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "buffer.db")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, Options{Child: testChild})
		if err == nil || !strings.Contains(err.Error(), "not damage") {
			t.Fatalf("err = %v", err)
		}
		if asides, _ := filepath.Glob(path + ".corrupt-*"); len(asides) != 0 {
			t.Fatalf("set aside: %v", asides)
		}
	})
	t.Run("locked by another process", func(t *testing.T) {
		f := newDamageFixture(t)
		// bbolt's flock conflicts across open file descriptions, as it
		// does across processes.
		holder, err := bolt.Open(f.path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		for _, child := range []ChildCommand{testChild, nil} {
			_, err := Open(f.path, Options{Child: child, OpenTimeout: 200 * time.Millisecond})
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another hogtail") {
				t.Fatalf("child %v: err = %v", child != nil, err)
			}
		}
		if asides, _ := filepath.Glob(f.path + ".corrupt-*"); len(asides) != 0 {
			t.Fatalf("set aside: %v", asides)
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root bypasses file permissions; cmd/hogtail's TestBufferPermissionDenied runs the binary as another user")
		}
		f := newDamageFixture(t)
		if err := os.Chmod(f.path, 0o400); err != nil {
			t.Fatal(err)
		}
		_, err := Open(f.path, Options{Child: testChild})
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "not damage") {
			t.Fatalf("err = %v", err)
		}
		if asides, _ := filepath.Glob(f.path + ".corrupt-*"); len(asides) != 0 {
			t.Fatalf("set aside: %v", asides)
		}
	})
	t.Run("damaged, offline", func(t *testing.T) {
		f := newDamageFixture(t)
		os.Truncate(f.path, 3*4096)
		_, err := Open(f.path, Options{Child: testChild, KeepDamaged: true})
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("err = %v", err)
		}
		if asides, _ := filepath.Glob(f.path + ".corrupt-*"); len(asides) != 0 {
			t.Fatalf("set aside: %v", asides)
		}
	})
}

// TestCheckIsolatedReportsCrash: a file that crashes bbolt's check is
// reported as damaged, and the caller lives on.
func TestCheckIsolatedReportsCrash(t *testing.T) {
	f := newDamageFixture(t)
	ids := f.pages(t, "branch")
	f.overwrite(t, int64(ids[0])*int64(os.Getpagesize()), 4096)
	rep, err := CheckIsolated(context.Background(), f.path, time.Second, testChild)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) == 0 || rep.FileBytes == 0 {
		t.Fatalf("report %+v", rep)
	}
	t.Logf("damage: %v", rep.Damage)
}

// TestOrphanChunksHostilePages: leaf pages whose elements point anywhere
// are skipped without reading out of bounds, and a sound chunk in an
// unreachable leaf is found once.
func TestOrphanChunksHostilePages(t *testing.T) {
	const ps = 4096
	chunk := encodeChunk(nil, [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}, 1)
	file := make([]byte, 6*ps)
	leaf := func(id int, count uint16, overflow uint32) []byte {
		p := file[id*ps:]
		binary.LittleEndian.PutUint64(p, uint64(id))
		binary.LittleEndian.PutUint16(p[8:], leafPageFlag)
		binary.LittleEndian.PutUint16(p[10:], count)
		binary.LittleEndian.PutUint32(p[12:], overflow)
		return p
	}
	// Page 2: the most elements a header can claim, each with random
	// positions and sizes.
	p := leaf(2, 0xffff, 0)
	rand.Read(p[pageHeaderSize:ps])
	// Page 3: an overflow count past the end of the file.
	leaf(3, 1, 1<<20)
	// Page 4: one good element holding the chunk, and the same chunk
	// again in page 5 (a stale copy).
	for _, id := range []int{4, 5} {
		p := leaf(id, 1, 0)
		e := p[pageHeaderSize:]
		binary.LittleEndian.PutUint32(e[4:], leafElementSize) // the key follows the element
		binary.LittleEndian.PutUint32(e[8:], 8)
		binary.LittleEndian.PutUint32(e[12:], uint32(len(chunk)))
		copy(e[leafElementSize:], seqKey(7))
		copy(e[leafElementSize+8:], chunk)
	}
	path := filepath.Join(t.TempDir(), "pages")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := orphanChunks(path, ps, map[[32]byte]bool{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], chunk) {
		t.Fatalf("found %d chunks", len(got))
	}
}

// TestCrashLine: the line of a child's stderr that says why it died, even
// when the stacks after it are long.
func TestCrashLine(t *testing.T) {
	stacks := strings.Repeat("goroutine 1 [running]:\nmain.f()\n\t/x.go:1 +0x1\n", 500)
	cases := []struct{ stderr, want string }{
		{"panic: assertion failed: Page expected to be: 5\n\n" + stacks, "panic: assertion failed: Page expected to be: 5"},
		{"unexpected fault address 0x7f00\nfatal error: fault\n" + stacks, "unexpected fault address 0x7f00"},
		{"salvage: open x: invalid database\n", "salvage: open x: invalid database"},
		{"", ""},
	}
	for _, tc := range cases {
		w := &headWriter{max: 4096}
		w.Write([]byte(tc.stderr))
		if got := crashLine(w.String()); got != tc.want {
			t.Errorf("crashLine(%.40q) = %q, want %q", tc.stderr, got, tc.want)
		}
	}
}

// BenchmarkOpen measures what the damage check in a child process adds to
// opening a healthy buffer of about 200 MB (warm page cache): plain is
// bbolt's open (which walks the pages itself), checked adds the child.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "buffer.db")
	buf, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	buf.Queue("q", QueueConfig{})
	raw := make([]byte, 150)
	recs := make([][]byte, 1000)
	for i := range 1000 {
		for j := range recs {
			rand.Read(raw)
			recs[j] = fmt.Appendf(nil, `{"i":%d,"r":%q}`, i, base64.StdEncoding.EncodeToString(raw))
		}
		if err := buf.Commit(context.Background(), &Commit{Appends: []Append{{Queue: "q", Records: recs}}}); err != nil {
			b.Fatal(err)
		}
	}
	buf.Close()
	for _, bc := range []struct {
		name  string
		child ChildCommand
	}{{"plain", nil}, {"checked", testChild}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				buf, err := Open(path, Options{Child: bc.child})
				if err != nil {
					b.Fatal(err)
				}
				buf.Close()
			}
		})
	}
}

// TestCheckChildKilledOnceIsNotDamage: a check child killed from outside
// (here SIGKILL before it reads anything, as the OOM killer would) is run
// again, and a sound file is opened as it is, not set aside.
func TestCheckChildKilledOnceIsNotDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "buffer.db")
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	child := func(ctx context.Context, args ...string) *exec.Cmd {
		if calls.Add(1) == 1 {
			return exec.CommandContext(ctx, "sh", "-c", "kill -9 $$")
		}
		return testChild(ctx, args...)
	}
	b, err = Open(path, Options{Child: child})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if calls.Load() != 2 {
		t.Errorf("%d check children, want 2", calls.Load())
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) > 0 {
		t.Errorf("a sound file was set aside: %v", aside)
	}
}

// TestTruncatedFreePagesAreDamage cuts a file where only free pages lay:
// the tree, every live record and the meta pages survive, so bbolt's own
// check passes, but the meta page still counts the cut pages. Opened as
// sound, bbolt handed them out as free pages and read them through a
// mapping that did not cover them, and the agent died of a fault in its
// next write. The cut must count as damage: set aside, every live record
// salvaged, and the new file takes writes.
func TestTruncatedFreePagesAreDamage(t *testing.T) {
	src := filepath.Join(t.TempDir(), "buffer.db")
	b, err := Open(src, Options{Sync: false})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Queue("q", QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, fixtureRecordSize)
	commit := func(i int) string {
		rand.Read(raw)
		rec := fmt.Sprintf(`{"i":%d,"r":%q}`, i, base64.StdEncoding.EncodeToString(raw))
		c := &Commit{Appends: []Append{{Queue: "q", Records: [][]byte{[]byte(rec)}}}}
		if err := b.Commit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	// A deep queue, all delivered: the file keeps its size, its pages free.
	for i := range 400 {
		commit(i)
	}
	r, err := b.Reader("q")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(drain(t, r)); n != 400 {
		t.Fatalf("drained %d records, want 400", n)
	}
	// A few live records, in pages taken from the low free ones.
	live := map[string]bool{}
	for i := range 5 {
		live[commit(1000+i)] = true
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}

	// The file may end in slack past its last page; cut into the pages.
	db, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var pagesEnd int64
	db.View(func(tx *bolt.Tx) error { pagesEnd = tx.Size(); return nil })
	db.Close()

	// Find a cut that removes only free pages: bbolt's check of the cut
	// file finds nothing (a cut live page would crash the check child).
	pageSize := int64(os.Getpagesize())
	path := filepath.Join(t.TempDir(), "buffer.db")
	var v verdict
	cut := int64(0)
	for k := int64(1); k*pageSize < pagesEnd/2 && cut == 0; k++ {
		if err := os.WriteFile(path, orig[:pagesEnd-k*pageSize], 0o600); err != nil {
			t.Fatal(err)
		}
		if v, err = verify(context.Background(), testChild, path, time.Second, nil); err != nil {
			t.Fatal(err)
		}
		if v.Status == "ok" || len(v.Damage) == 1 && strings.Contains(v.Damage[0], "the file is truncated") {
			cut = k
		}
	}
	if cut == 0 {
		t.Fatalf("no cut of the file's tail left its tree whole (last verdict %+v): the fixture proves nothing", v)
	}
	if v.Status != "damaged" {
		t.Fatalf("verdict %+v, want damaged", v)
	}
	rep, err := CheckIsolated(context.Background(), path, time.Second, testChild)
	if err != nil || !strings.Contains(strings.Join(rep.Damage, "; "), "the file is truncated") {
		t.Fatalf("buffer check: %v %+v", err, rep)
	}

	var lb bytes.Buffer
	b, err = Open(path, Options{Sync: true, Child: testChild, Logger: slog.New(slog.NewTextHandler(&lb, nil))})
	if err != nil {
		t.Fatalf("open: %v\n%s", err, lb.String())
	}
	defer b.Close()
	if rec, ok := b.Recovered(); !ok || rec.SetAside == "" {
		t.Fatalf("the cut file was not set aside: %+v\n%s", rec, lb.String())
	}
	if err := b.Queue("q", QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	// Enough writes to need more pages than the salvaged file holds.
	for i := range 400 {
		live[commit(2000+i)] = true
	}
	if r, err = b.Reader("q"); err != nil {
		t.Fatal(err)
	}
	got := drain(t, r)
	seen := map[string]bool{}
	for _, rec := range got {
		if !live[rec] || seen[rec] {
			t.Fatalf("record not written, or read twice: %.80q", rec)
		}
		seen[rec] = true
	}
	if len(seen) != len(live) {
		t.Fatalf("read %d of %d live records", len(seen), len(live))
	}
	t.Logf("cut %d of %d pages (file %d bytes); %d records read back", cut, pagesEnd/pageSize, st.Size(), len(seen))
}
