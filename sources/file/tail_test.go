package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func checkSeqs(t *testing.T, h *harness, n int) {
	t.Helper()
	c := newSeqChecker()
	for _, m := range messages(t, h.em.Events()) {
		c.add(t, m)
	}
	c.check(t, n)
}

func TestReadFromEnd(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ReadFrom = "end" })
	appendFile(t, h.path("old.log"), seqLines(0, 100))
	h.start()
	h.waitCheckpoints(1) // old.log placed at its end
	appendFile(t, h.path("old.log"), seqLines(100, 110))
	appendFile(t, h.path("new.log"), seqLines(110, 120)) // appears while running: from its beginning
	h.waitFor(20)
	evs := h.settle(100 * time.Millisecond)
	c := newSeqChecker()
	for _, m := range messages(t, evs) {
		c.add(t, m)
	}
	for i := 0; i < 100; i++ {
		if c.seen[i] != 0 {
			t.Fatalf("seq %d from before the start was read", i)
		}
	}
	for i := 100; i < 120; i++ {
		if c.seen[i] != 1 {
			t.Errorf("seq %d read %d times", i, c.seen[i])
		}
	}
	// A restart resumes from the checkpoint, not from the end.
	h.stop()
	appendFile(t, h.path("old.log"), seqLines(120, 130))
	h.start()
	h.waitFor(30)
}

func TestGlobsExcludeAndNewFiles(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("polling only=%v", poll), func(t *testing.T) {
			h := newHarness(t, nil)
			h.mutate = func(s *Source) { s.noWatch = poll }
			globsExcludeAndNewFiles(t, h)
		})
	}
}

func globsExcludeAndNewFiles(t *testing.T, h *harness) {
	h.cfg.Include = []string{filepath.Join(h.dir, "**", "*.log")}
	h.cfg.Exclude = []string{filepath.Join(h.dir, "skip", "**")}
	must(t, os.MkdirAll(h.path("a/b/c"), 0o755))
	must(t, os.MkdirAll(h.path("skip/x"), 0o755))
	appendFile(t, h.path("top.log"), seqLines(0, 10))
	appendFile(t, h.path("a/b/c/deep.log"), seqLines(10, 20))
	appendFile(t, h.path("skip/x/no.log"), "seq=999\n")
	appendFile(t, h.path("a/b/other.txt"), "seq=998\n")
	h.start()
	h.waitFor(20)
	// New directories and files appear while running.
	must(t, os.MkdirAll(h.path("a/new/dir"), 0o755))
	appendFile(t, h.path("a/new/dir/late.log"), seqLines(20, 30))
	appendFile(t, h.path("top.log"), seqLines(30, 40))
	h.waitFor(40)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, 40)
}

func TestIgnoreOlderKeepsCheckpoints(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IgnoreOlder = component.Duration(time.Hour) })
	old := time.Now().Add(-2 * time.Hour)
	appendFile(t, h.path("stale.log"), "seq=999\n")
	must(t, os.Chtimes(h.path("stale.log"), old, old))
	appendFile(t, h.path("read.log"), seqLines(0, 10))
	h.start()
	h.waitFor(10)
	h.stop()
	// read.log now looks old, but it has a checkpoint: it is neither
	// forgotten nor read again.
	must(t, os.Chtimes(h.path("read.log"), old, old))
	h.start() // its first scan found read.log looking old
	appendFile(t, h.path("read.log"), seqLines(10, 15))
	h.waitFor(15)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, 15)
}

func TestFingerprintIdentity(t *testing.T) {
	t.Run("rename keeps checkpoint", func(t *testing.T) {
		h := newHarness(t, nil)
		appendFile(t, h.path("a.log"), seqLines(0, 50))
		h.start()
		h.waitFor(50)
		h.stop()
		must(t, os.Rename(h.path("a.log"), h.path("b.log")))
		appendFile(t, h.path("b.log"), seqLines(50, 60))
		h.start()
		h.waitFor(60)
		h.settle(100 * time.Millisecond)
		checkSeqs(t, h, 60)
	})
	t.Run("new file at same path starts at 0", func(t *testing.T) {
		h := newHarness(t, nil)
		appendFile(t, h.path("a.log"), seqLines(0, 50))
		h.start()
		h.waitFor(50)
		h.stop()
		must(t, os.Remove(h.path("a.log")))
		appendFile(t, h.path("a.log"), seqLines(50, 60)) // may even reuse the inode
		h.start()
		h.waitFor(60)
		h.settle(100 * time.Millisecond)
		checkSeqs(t, h, 60)
	})
	t.Run("files shorter than the fingerprint ship and resume", func(t *testing.T) {
		h := newHarness(t, nil)
		appendFile(t, h.path("a.log"), "seq=0\n")
		appendFile(t, h.path("b.log"), "seq=1\n") // same length, other content
		h.start()
		h.waitFor(2)
		appendFile(t, h.path("a.log"), "seq=2\n")
		h.waitFor(3)
		h.stop()
		appendFile(t, h.path("a.log"), "seq=3\n")
		appendFile(t, h.path("b.log"), strings.Repeat("seq=4 padding past the fingerprint size\n", 10))
		h.start()
		h.waitFor(14)
		h.settle(100 * time.Millisecond)
		c := newSeqChecker()
		for _, m := range messages(t, h.em.Events()) {
			c.add(t, m)
		}
		for i, want := range []int{1, 1, 1, 1, 10} {
			if c.seen[i] != want {
				t.Errorf("seq %d read %d times, want %d", i, c.seen[i], want)
			}
		}
	})
	t.Run("identical first bytes are distinct files", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.FingerprintBytes = 16 })
		header := "# header line identical in both files\n"
		appendFile(t, h.path("a.log"), header+seqLines(0, 5))
		appendFile(t, h.path("b.log"), header+seqLines(5, 10))
		h.start()
		h.waitFor(12)
		evs := h.settle(100 * time.Millisecond)
		if len(evs) != 12 {
			t.Fatalf("got %d events, want 12", len(evs))
		}
	})
}

// TestRotateRenameHighRate rotates by rename every 500 lines with the writer
// at full speed; every line must arrive exactly once.
func TestRotateRenameHighRate(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("polling only=%v", poll), func(t *testing.T) {
			h := newHarness(t, nil)
			h.mutate = func(s *Source) { s.noWatch = poll }
			rotateRenameHighRate(t, h)
		})
	}
}

func rotateRenameHighRate(t *testing.T, h *harness) {
	h.cfg.Include = []string{h.path("app.log*")}
	const total, every = 20000, 500
	h.start()
	f, err := os.Create(h.path("app.log"))
	must(t, err)
	for i := 0; i < total; i++ {
		if i > 0 && i%every == 0 {
			must(t, f.Close())
			must(t, os.Rename(h.path("app.log"), h.path(fmt.Sprintf("app.log.%d", i/every))))
			f, err = os.Create(h.path("app.log"))
			must(t, err)
		}
		fmt.Fprintf(f, "seq=%d\n", i)
	}
	must(t, f.Close())
	h.waitFor(total)
	h.settle(200 * time.Millisecond)
	checkSeqs(t, h, total)
}

// TestRotateRenameOutOfGlob renames the file to a name the include does not
// match: the open file is read to its end before it is closed.
func TestRotateRenameOutOfGlob(t *testing.T) {
	h := newHarness(t, nil)
	h.cfg.Include = []string{h.path("app.log")}
	h.start()
	for r := 0; r < 5; r++ {
		f, err := os.Create(h.path("app.log"))
		must(t, err)
		fmt.Fprint(f, seqLines(r*1000, r*1000+500))
		h.waitFor(r*1000 + 500)
		// Written after our last read, then rotated at once.
		fmt.Fprint(f, seqLines(r*1000+500, r*1000+1000))
		must(t, os.Rename(h.path("app.log"), h.path(fmt.Sprintf("app.%d.old", r))))
		fmt.Fprint(f, "seq=", r*1000+999, " partial") // written into the rotated file, no newline
		must(t, f.Close())
		h.waitFor(r*1000 + 1001)
	}
	evs := h.settle(500 * time.Millisecond)
	if len(evs) != 5005 {
		t.Fatalf("got %d events, want 5005", len(evs))
	}
	partial := 0
	for _, m := range messages(t, evs) {
		if strings.HasSuffix(m, " partial") {
			partial++
		}
	}
	if partial != 5 {
		t.Errorf("%d partial lines emitted, want 5", partial)
	}
}

func TestCopyTruncate(t *testing.T) {
	h := newHarness(t, nil)
	h.cfg.Include = []string{h.path("app.log*")}
	h.start()
	const rounds, per = 5, 1000
	f, err := os.OpenFile(h.path("app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(t, err)
	for r := 0; r < rounds; r++ {
		fmt.Fprint(f, seqLines(r*per, r*per+per/2))
		h.waitFor(r*per + per/2)
		fmt.Fprint(f, seqLines(r*per+per/2, r*per+per)) // not read yet when copied
		data, err := os.ReadFile(h.path("app.log"))
		must(t, err)
		must(t, os.WriteFile(h.path(fmt.Sprintf("app.log.%d", r)), data, 0o644))
		must(t, f.Truncate(0))
	}
	must(t, f.Close())
	h.waitFor(rounds * per)
	h.settle(300 * time.Millisecond)
	checkSeqs(t, h, rounds*per)
}

func TestTruncation(t *testing.T) {
	h := newHarness(t, nil)
	appendFile(t, h.path("a.log"), seqLines(0, 100))
	h.start()
	h.waitFor(100)
	must(t, os.Truncate(h.path("a.log"), 0))
	h.waitTruncations(1)
	appendFile(t, h.path("a.log"), seqLines(100, 110)) // shorter than before
	h.waitFor(110)
	// Truncated and refilled past the old offset before we look: the first
	// bytes changed, so it is read from 0 too.
	f, err := os.OpenFile(h.path("a.log"), os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	fmt.Fprint(f, "new content "+seqLines(110, 300))
	must(t, f.Close())
	h.waitFor(300)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, 300)
	if t.Failed() {
		for _, ev := range h.em.Events()[100:130] {
			o, _ := ev.Properties.Get("$offset")
			t.Logf("%v %q", o, message(t, ev))
		}
	}
}

func TestDeleteWhileOpen(t *testing.T) {
	h := newHarness(t, nil)
	f, err := os.Create(h.path("a.log"))
	must(t, err)
	fmt.Fprint(f, seqLines(0, 10))
	h.start()
	h.waitFor(10)
	must(t, os.Remove(h.path("a.log")))
	fmt.Fprint(f, seqLines(10, 20)) // the writer still holds it
	must(t, f.Close())
	h.waitFor(20)
	// Closed after rotate_wait; its checkpoint goes with it.
	componenttest.Eventually(t, 5*time.Second, "the deleted file's checkpoint deleted", func() bool {
		cps, _ := h.em.LoadCheckpoints()
		return len(cps) == 0
	})
	checkSeqs(t, h, 20)
}

func TestCheckpointTTL(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.CheckpointTTL = component.Duration(time.Second) })
	appendFile(t, h.path("a.log"), seqLines(0, 10))
	h.start()
	h.waitFor(10)
	must(t, os.Rename(h.path("a.log"), h.path("a.old"))) // out of the glob
	componenttest.Eventually(t, 10*time.Second, "the checkpoint pruned", func() bool {
		cps, _ := h.em.LoadCheckpoints()
		return len(cps) == 0
	})
}

// TestRestartResume stops the source in the middle of a file, many times,
// and checks the restarts lose and repeat nothing.
func TestRestartResume(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BatchLines = 100 })
	const total = 20000
	appendFile(t, h.path("a.log"), seqLines(0, total/2))
	appendFile(t, h.path("b.log"), seqLines(total/2, total-1)+"seq=19999") // partial last line
	for i := 1; i <= 8; i++ {
		h.start()
		h.waitFor(min(i*2000, total-1))
		h.stop()
	}
	h.start()
	h.waitFor(total - 1)
	appendFile(t, h.path("b.log"), "\n")
	h.waitFor(total)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, total)
}

// TestBackpressure: while the buffer is full nothing is read past the
// commit; a restart resumes with nothing lost.
func TestBackpressure(t *testing.T) {
	h := newHarness(t, nil)
	appendFile(t, h.path("a.log"), seqLines(0, 5000))
	h.em.SetFull(true)
	ce := &countingEmitter{Emitter: h.em}
	h.emit = ce
	h.start()
	// The reader is blocked in a commit (its start's checkpoint first).
	componenttest.Eventually(t, 10*time.Second, "a commit blocked on the full buffer", func() bool { return ce.calls.Load() > 0 })
	h.stop()
	if n := h.em.Len(); n != 0 {
		t.Fatalf("%d events stored while full", n)
	}
	h.em.SetFull(false)
	h.emit = nil
	h.start()
	h.waitFor(5000)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, 5000)
}

func TestPartialLineWaits(t *testing.T) {
	h := newHarness(t, nil)
	appendFile(t, h.path("a.log"), "seq=0\nseq=1 partial")
	h.start()
	h.waitFor(1)
	// Waiting past partial_line_timeout is what is tested: the line of an
	// active file still waits for its delimiter.
	time.Sleep(300 * time.Millisecond)
	if n := h.em.Len(); n != 1 {
		t.Fatalf("partial line of an active file emitted (%d events)", n)
	}
	h.stop()
	h.start() // the checkpoint is before the partial line
	appendFile(t, h.path("a.log"), " completed\n")
	evs := h.waitFor(2)
	if m := message(t, evs[1]); m != "seq=1 partial completed" {
		t.Errorf("got %q", m)
	}
	if n := len(h.settle(100 * time.Millisecond)); n != 2 {
		t.Errorf("%d events", n)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPermissionDenied(t *testing.T) {
	h := newHarness(t, nil)
	appendFile(t, h.path("locked.log"), seqLines(0, 10))
	appendFile(t, h.path("open.log"), seqLines(10, 20))
	var logs syncBuffer
	var denied atomic.Bool
	denied.Store(true)
	if os.Geteuid() != 0 {
		must(t, os.Chmod(h.path("locked.log"), 0))
	}
	h.mutate = func(s *Source) {
		s.log = slog.New(slog.NewTextHandler(&logs, nil))
		s.openFile = func(p string) (*os.File, error) {
			if denied.Load() && strings.HasSuffix(p, "locked.log") {
				return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
			}
			return os.Open(p)
		}
	}
	h.start()
	h.waitFor(10) // the other file keeps going
	h.nextScan()  // which tried locked.log again
	if n := h.em.Len(); n != 10 {
		t.Fatalf("%d events while locked.log is unreadable", n)
	}
	if got := logs.String(); strings.Count(got, "cannot read, will retry") != 1 || !strings.Contains(got, "locked.log") {
		t.Errorf("want one clear log line, got:\n%s", got)
	}
	must(t, os.Chmod(h.path("locked.log"), 0o644))
	denied.Store(false)
	h.waitFor(20)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, 20)
	if !strings.Contains(logs.String(), "file readable again") {
		t.Errorf("no recovery log line")
	}
}

// seqEmitter checks, without keeping events, that the seqs of one file
// arrive in order with no gap and no duplicate.
type seqEmitter struct {
	mu   sync.Mutex
	next int
	err  error
	want int
	done chan struct{}
}

func (e *seqEmitter) Emit(_ context.Context, evs []*event.Event, _ ...component.Checkpoint) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range evs {
		m, _ := ev.Properties.GetString("message")
		if e.err == nil && m != "seq="+strconv.Itoa(e.next) {
			e.err = fmt.Errorf("after seq %d got %q", e.next-1, m)
		}
		e.next++
	}
	if e.next >= e.want && e.done != nil {
		close(e.done)
		e.done = nil
	}
	return nil
}

// TestMillionLines reads a file of 1M lines with a unique seq.
func TestMillionLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.log")
	f, err := os.Create(path)
	must(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	const n = 1_000_000
	for i := range n {
		w.WriteString("seq=")
		w.WriteString(strconv.Itoa(i))
		w.WriteByte('\n')
	}
	must(t, w.Flush())
	must(t, f.Close())
	cfg := defaultConfig()
	cfg.Include = []string{path}
	src, err := NewFactory().CreateSource(cfg, componenttest.Settings("big", dir))
	must(t, err)
	done := make(chan struct{})
	em := &seqEmitter{want: n, done: done}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, em) }()
	select {
	case <-done:
	case <-time.After(50 * time.Second):
		t.Errorf("timed out")
	}
	time.Sleep(50 * time.Millisecond) // an absence is seen by waiting: nothing more may come
	cancel()
	must(t, <-errc)
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.err != nil {
		t.Fatal(em.err)
	}
	if em.next != n {
		t.Fatalf("got %d lines, want %d", em.next, n)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestMultilineCheckpoint: a record still being assembled is not
// checkpointed; a restart reads it again in full, once.
func TestMultilineCheckpoint(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Multiline.StartPattern = `^START`
		c.Multiline.Timeout = component.Duration(time.Hour)
	})
	appendFile(t, h.path("a.log"), "START a\n  a1\nSTART b\n  b1\n")
	h.start()
	h.waitFor(1) // committed with the checkpoint at record b's start
	h.stop()
	appendFile(t, h.path("a.log"), "  b2\nSTART c\n")
	h.start()
	h.waitFor(2)
	evs := h.settle(100 * time.Millisecond) // record c waits for its timeout
	got := messages(t, evs)
	want := []string{"START a\n  a1", "START b\n  b1\n  b2"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %q, want %q", got, want)
	}
	if off, _ := evs[1].Properties.Get("$offset"); off != int64(13) {
		t.Errorf("$offset of the second record = %v, want 13", off)
	}
	// The timeout flushes the last record of a quiet file.
	h.stop()
	h.cfg.Multiline.Timeout = component.Duration(50 * time.Millisecond)
	h.start()
	h.waitFor(3)
	if m := message(t, h.em.Events()[2]); m != "START c" {
		t.Errorf("last record %q", m)
	}
}

// TestRotatedWhileDown: a file rotated while hogtail was stopped is found
// again by its identity and finished; the new file at the path is read from
// its beginning, even with read_from = "end".
func TestRotatedWhileDown(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ReadFrom = "end" })
	h.cfg.Include = []string{h.path("app.log*")}
	appendFile(t, h.path("app.log"), "seq=999999\n") // before the first start: skipped
	h.start()
	h.waitCheckpoints(1) // app.log placed at its end
	appendFile(t, h.path("app.log"), seqLines(0, 100))
	h.waitFor(100)
	h.stop()
	appendFile(t, h.path("app.log"), seqLines(100, 150))
	must(t, os.Rename(h.path("app.log"), h.path("app.log.1")))
	appendFile(t, h.path("app.log"), seqLines(150, 170))
	h.start()
	h.waitFor(170)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, 170)
}

// TestLongPartialLine: a line longer than max_line_bytes is split even
// before its delimiter arrives, and its last part is flagged too.
func TestLongPartialLine(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxLineBytes = 10 })
	appendFile(t, h.path("a.log"), strings.Repeat("x", 25))
	h.start()
	h.waitFor(2)
	if n := len(h.settle(100 * time.Millisecond)); n != 2 {
		t.Fatalf("%d events before the delimiter, want 2", n)
	}
	appendFile(t, h.path("a.log"), "\nok\n")
	evs := h.waitFor(4)
	for i, want := range []struct {
		msg   string
		split bool
	}{{"xxxxxxxxxx", true}, {"xxxxxxxxxx", true}, {"xxxxx", true}, {"ok", false}} {
		split, _ := evs[i].Properties.Get("$line_split")
		if m := message(t, evs[i]); m != want.msg || (split == true) != want.split {
			t.Errorf("event %d: %q split=%v, want %q split=%v", i, m, split, want.msg, want.split)
		}
	}
}

// TestFsnotifyWakes: with polling practically off, fsnotify alone finds
// new files and wakes the readers of files that grow, also at a path that
// belonged to another file a moment ago.
func TestFsnotifyWakes(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PollInterval = component.Duration(time.Hour) })
	h.cfg.Include = []string{h.path("app.log*")}
	appendFile(t, h.path("app.log"), seqLines(0, 10))
	h.start()
	h.waitFor(10)
	for r := 1; r <= 3; r++ {
		must(t, os.Rename(h.path("app.log"), h.path(fmt.Sprintf("app.log.%d", r))))
		appendFile(t, h.path("app.log"), seqLines(r*100, r*100+10))
		h.waitFor(10 + (r-1)*20 + 10)
		appendFile(t, h.path("app.log"), seqLines(r*100+10, r*100+20)) // wakes the new file's reader
		h.waitFor(10 + r*20)
	}
	h.settle(100 * time.Millisecond)
	if n := h.em.Len(); n != 70 {
		t.Fatalf("got %d events, want 70", n)
	}
}

// TestCopyTruncateAcrossRestart: the copy of a truncated file shows up only
// after a restart; it still resumes where the original was read to.
func TestCopyTruncateAcrossRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.cfg.Include = []string{h.path("app.log*")}
	h.start()
	f, err := os.OpenFile(h.path("app.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(t, err)
	defer f.Close()
	fmt.Fprint(f, seqLines(0, 500))
	h.waitFor(500)
	fmt.Fprint(f, seqLines(500, 1000))
	data, err := os.ReadFile(h.path("app.log"))
	must(t, err)
	must(t, os.WriteFile(h.path("copy.tmp"), data, 0o644)) // not included yet
	must(t, f.Truncate(0))
	h.waitTruncations(1)
	h.stop()
	must(t, os.Rename(h.path("copy.tmp"), h.path("app.log.1")))
	fmt.Fprint(f, seqLines(1000, 1100))
	h.start()
	h.waitFor(1100)
	h.settle(200 * time.Millisecond)
	checkSeqs(t, h, 1100)
}

// TestRotateFastOutOfGlob: rename rotation every 500 lines (a file lives
// about 10 ms, far below poll_interval) to names the include does not
// match. fsnotify's create event opens each file before it is renamed away,
// so each is read to its end.
func TestRotateFastOutOfGlob(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PollInterval = component.Duration(time.Second) })
	h.cfg.Include = []string{h.path("app.log")}
	const total, every = 20000, 500
	h.start() // the directory is watched from the first scan on
	f, err := os.Create(h.path("app.log"))
	must(t, err)
	for i := 0; i < total; i++ {
		if i > 0 && i%every == 0 {
			must(t, f.Close())
			must(t, os.Rename(h.path("app.log"), h.path(fmt.Sprintf("old.%d", i/every))))
			f, err = os.Create(h.path("app.log"))
			must(t, err)
		}
		fmt.Fprintf(f, "seq=%d\n", i)
		if i%50 == 49 {
			time.Sleep(time.Millisecond) // the writer's pace: a file lives about 10 ms
		}
	}
	must(t, f.Close())
	h.waitFor(total)
	h.settle(200 * time.Millisecond)
	checkSeqs(t, h, total)
}

// copiedApp starts a source on app.log* with 100 lines read from app.log,
// copies app.log to app.log.1 and waits until the copy is found and held
// (unread: its content is the original's).
func copiedApp(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, nil)
	h.cfg.Include = []string{h.path("app.log*")}
	appendFile(t, h.path("app.log"), seqLines(0, 100))
	h.start()
	h.waitFor(100)
	data, err := os.ReadFile(h.path("app.log"))
	must(t, err)
	must(t, os.WriteFile(h.path("app.log.1"), data, 0o644))
	componenttest.Eventually(t, 10*time.Second, "the copy opened", func() bool { return testutil.ToFloat64(h.src.metrics.open) == 2 })
	return h
}

// TestCopyWithoutTruncate: logrotate's "copy" leaves the original in
// place. The copy is held while it may be the copy of a copytruncate (whose
// original is truncated at once); once it has not grown for rotate_wait
// with its original untouched, it is read as a file of its own. Its lines
// then arrive twice (another file, another event); none is ever lost,
// which matters for the other case content cannot tell from it: two files
// that say the same thing.
func TestCopyWithoutTruncate(t *testing.T) {
	h := copiedApp(t)
	appendFile(t, h.path("app.log"), seqLines(100, 110))
	h.waitFor(210) // after twice rotate_wait (300 ms here), the copy's 100 too
	c := newSeqChecker()
	for _, m := range messages(t, h.settle(200*time.Millisecond)) {
		c.add(t, m)
	}
	for i := 0; i < 110; i++ {
		want := 1
		if i < 100 {
			want = 2
		}
		if c.seen[i] != want {
			t.Fatalf("seq %d arrived %d times, want %d", i, c.seen[i], want)
		}
	}
}

// TestCopyThenDelete: a file copied, then the original deleted (a move
// across file systems, logrotate renamecopy): the copy resumes where the
// original was read to; nothing twice, nothing lost.
func TestCopyThenDelete(t *testing.T) {
	h := copiedApp(t)
	must(t, os.Remove(h.path("app.log")))
	appendFile(t, h.path("app.log.1"), seqLines(100, 120)) // the copy goes on
	h.waitFor(120)
	h.settle(time.Second) // well past twice rotate_wait
	checkSeqs(t, h, 120)
}

// TestSameContentFiles: files whose whole content is the same (job logs
// that say the same thing), found together or one after another, are all
// read: content cannot tell them from copies, but a copy's original is
// truncated at once, and theirs are not.
func TestSameContentFiles(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 3 {
		appendFile(t, h.path(fmt.Sprintf("job%d.log", i)), "backup started\nbackup finished: ok\n")
	}
	h.start()
	appendFile(t, h.path("job3.log"), "backup started\nbackup finished: ok\n")
	appendFile(t, h.path("job4.log"), "backup started\n") // a prefix of the others
	evs := h.waitFor(9)
	if evs = h.settle(500 * time.Millisecond); len(evs) != 9 {
		t.Fatalf("%d events, want 9", len(evs))
	}
	files := map[string]int{}
	for _, e := range evs {
		f, _ := e.Properties.GetString("$file")
		files[filepath.Base(f)]++
	}
	for i := range 5 {
		want := 2
		if i == 4 {
			want = 1
		}
		if n := files[fmt.Sprintf("job%d.log", i)]; n != want {
			t.Errorf("job%d.log: %d events, want %d (all: %v)", i, n, want, files)
		}
	}
}

// TestUnreadableCheckpoint: a checkpoint that cannot be decoded is logged
// and ignored; the source runs.
func TestUnreadableCheckpoint(t *testing.T) {
	h := newHarness(t, nil)
	must(t, h.em.Emit(context.Background(), nil, component.Checkpoint{Key: "1.2", Value: []byte("not json")}))
	appendFile(t, h.path("a.log"), seqLines(0, 10))
	h.start()
	h.waitFor(10)
	h.settle(100 * time.Millisecond)
	checkSeqs(t, h, 10)
}

// flakyEmitter fails every k-th batch queued with EmitAsync, through its
// Pending as a full disk would, and refuses the batches chained after a
// failed one, as the agent's buffer does.
type flakyEmitter struct {
	*componenttest.Emitter
	every  int64
	calls  atomic.Int64
	failed atomic.Int64
}

type failedPending struct{ err error }

func (p failedPending) Wait() error { return p.err }

func (f *flakyEmitter) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	if _, bad := after.(failedPending); bad {
		return failedPending{errors.New("an earlier batch failed")}, nil
	}
	if f.calls.Add(1)%f.every == 0 {
		f.failed.Add(1)
		return failedPending{errors.New("write buffer.db: no space left on device")}, nil
	}
	return f.Emitter.EmitAsync(ctx, after, evs, cps...)
}

// TestFailedBatchesAreReadAgain: batches queued while the one before them
// is still being written, some of which fail. Every line arrives exactly
// once, and the checkpoint ends at the end of the file.
func TestFailedBatchesAreReadAgain(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BatchLines = 100 })
	fe := &flakyEmitter{Emitter: h.em, every: 40}
	h.emit = fe
	var logs componenttest.SyncBuffer
	h.mutate = func(s *Source) { s.log = slog.New(slog.NewTextHandler(&logs, nil)) }
	const n = 20000
	data := seqLines(0, n)
	appendFile(t, h.path("app.log"), data)
	h.start()
	evs := h.waitFor(n)
	evs = h.settle(200 * time.Millisecond)
	if fe.failed.Load() == 0 {
		t.Fatal("no batch failed: the test tests nothing")
	}
	t.Logf("%d of %d batches failed", fe.failed.Load(), fe.calls.Load())
	// A refused batch is said, not only read again.
	if !strings.Contains(logs.String(), "cannot store the lines read") {
		t.Fatalf("no warning about the failed batches:\n%s", logs.String())
	}
	c := newSeqChecker()
	for _, ev := range evs {
		c.add(t, message(t, ev))
	}
	c.check(t, n)
	cps, _ := h.em.LoadCheckpoints()
	for _, v := range cps {
		if rec, err := decodeRecord(v); err == nil && rec.Offset == int64(len(data)) {
			return
		}
	}
	t.Fatalf("no checkpoint at the end of the file (%d bytes): %d checkpoints", len(data), len(cps))
}

// keepingEmitter keeps the events it is given, as a connector that stores
// them would, and so never reports them released.
type keepingEmitter struct {
	*componenttest.Emitter
	mu   sync.Mutex
	kept []*event.Event
}

type keptPending struct{ component.Pending }

func (k *keepingEmitter) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	if kp, ok := after.(keptPending); ok {
		after = kp.Pending
	}
	p, err := k.Emitter.EmitAsync(ctx, after, evs, cps...)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.kept = append(k.kept, evs...)
	k.mu.Unlock()
	return keptPending{p}, nil
}

// TestKeptEventsStayIntact: events an emitter keeps (not released) must not
// change when the tailer reads on, although their messages are not copied
// out of the read buffer and their memory is reused once released.
func TestKeptEventsStayIntact(t *testing.T) {
	for _, codec := range []string{"text", "json"} {
		t.Run(codec, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.BatchLines = 100; c.Codec = codec })
			ke := &keepingEmitter{Emitter: h.em}
			h.emit = ke
			const n = 30000
			var b strings.Builder
			for i := 0; i < n; i++ {
				fmt.Fprintf(&b, "{\"seq\":%d,\"msg\":\"line %d\"}\n", i, i)
			}
			data := b.String()
			if len(data) < 4*h.cfg.BatchLines*256 {
				t.Fatalf("%d bytes fit in one read buffer: the test tests nothing", len(data))
			}
			appendFile(t, h.path("app.log"), data)
			h.start()
			got := h.waitFor(n)
			h.stop()
			ke.mu.Lock()
			defer ke.mu.Unlock()
			if len(ke.kept) != len(got) {
				t.Fatalf("kept %d events, stored %d", len(ke.kept), len(got))
			}
			for i := range got {
				if a, b := ke.kept[i].AppendJSON(nil), got[i].AppendJSON(nil); string(a) != string(b) {
					t.Fatalf("event %d changed after it was emitted:\n%s\nstored as\n%s", i, a, b)
				}
			}
		})
	}
}

// TestResumeLogged: a file resumed from its checkpoint after a restart says
// so at info level, with where it resumes; a file found shorter than its
// checkpoint says it is read from the start.
func TestResumeLogged(t *testing.T) {
	first := seqLines(0, 100) // longer than fingerprint_bytes, so a truncation keeps the fingerprint
	for _, tc := range []struct {
		name  string
		edit  func(path string) error
		total int
		want  func(path string) string
	}{
		{"appended while stopped", func(p string) error {
			appendFile(t, p, seqLines(100, 103))
			return nil
		}, 103, func(p string) string {
			return fmt.Sprintf(`level=INFO msg="resuming from checkpoint" path=%s offset=%d unread_bytes=%d`, p, len(first), len(seqLines(100, 103)))
		}},
		{"truncated while stopped", func(p string) error { return os.Truncate(p, 400) },
			100 + 10 + (400-60)/7, func(p string) string { // lines 0-9 take 6 bytes, later ones 7
				return fmt.Sprintf(`level=INFO msg="file shorter than its checkpoint, reading it from the start" path=%s checkpoint=%d size=400`, p, len(first))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			p := h.path("app.log")
			appendFile(t, p, first)
			h.start()
			h.waitFor(100)
			h.stop()
			if err := tc.edit(p); err != nil {
				t.Fatal(err)
			}
			var logs syncBuffer
			h.mutate = func(s *Source) { s.log = slog.New(slog.NewTextHandler(&logs, nil)) }
			h.start()
			h.waitFor(tc.total)
			h.stop()
			if want := tc.want(p); !strings.Contains(logs.String(), want) {
				t.Errorf("logs lack %q:\n%s", want, logs.String())
			}
		})
	}
}

// countingEmitter counts the commits begun, blocked ones included.
type countingEmitter struct {
	*componenttest.Emitter
	calls atomic.Int64
}

func (c *countingEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	c.calls.Add(1)
	return c.Emitter.Emit(ctx, evs, cps...)
}

func (c *countingEmitter) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	c.calls.Add(1)
	return c.Emitter.EmitAsync(ctx, after, evs, cps...)
}

// waitTruncations waits until the source noticed n truncations.
func (h *harness) waitTruncations(n float64) {
	h.t.Helper()
	componenttest.Eventually(h.t, 10*time.Second, fmt.Sprintf("%v truncations", n), func() bool {
		return testutil.ToFloat64(h.src.metrics.truncations) >= n
	})
}

// TestSymlinkedDirectories: a pattern whose base directory is a symlink
// (/var/log/app -> /data/app/logs) is read, and a ** walk follows symlinked
// subdirectories, each directory once: a link back up the tree is no loop
// and reads nothing twice.
func TestSymlinkedDirectories(t *testing.T) {
	h := newHarness(t, nil)
	mkdir := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	mkdir(h.path("real"))
	link(h.path("real"), h.path("link"))
	mkdir(h.path("tree/sub"))
	mkdir(h.path("elsewhere"))
	link(h.path("elsewhere"), h.path("tree/sub/linked"))
	link(h.path("tree"), h.path("tree/sub/loop"))
	h.cfg.Include = []string{h.path("link/*.log"), h.path("tree/**/*.log")}
	appendFile(t, h.path("real/a.log"), seqLines(0, 40))
	appendFile(t, h.path("tree/sub/b.log"), seqLines(40, 70))
	appendFile(t, h.path("elsewhere/c.log"), seqLines(70, 100))
	h.start()
	h.waitSeqs(100)
	// Files that appear later under the linked directories are found too.
	appendFile(t, h.path("real/d.log"), seqLines(100, 110))
	appendFile(t, h.path("elsewhere/e.log"), seqLines(110, 120))
	h.waitSeqs(120)
}

// TestReadFromEndFirstStartWithoutFiles: a first start that finds no file
// still counts as the first start: a file written while hogtail is stopped
// afterwards is read from its beginning.
func TestReadFromEndFirstStartWithoutFiles(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ReadFrom = "end" })
	h.start()
	h.waitCheckpoints(1) // the mark that the source has started
	h.stop()
	appendFile(t, h.path("app.log"), seqLines(0, 50))
	h.start()
	h.waitSeqs(50)
}
