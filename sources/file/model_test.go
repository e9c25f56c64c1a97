package file

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

// The model tests drive a file source one step at a time, with no
// goroutine, no fsnotify and a clock that moves only when told: a writer
// appends numbered lines to app.log and rotates it (rename, copytruncate,
// truncate, rewrite, delete), the source is restarted on its checkpoints,
// and at the end every line must have been read exactly once. A sequence
// of operations either comes from testdata/model/NAME.txt or from a seeded
// random generator; a failure names the operation that broke it.

// model is a file source whose scans and tailer steps run when the test
// says, on a fake clock.
type model struct {
	t     *testing.T
	dir   string
	cfg   *Config
	em    *componenttest.Emitter
	emit  component.Emitter // em, or em without EmitAsync
	src   *Source
	clock time.Time
	ctx   context.Context
	log   strings.Builder // the operations so far, for failures

	// The writer.
	next    int    // seq of the next line
	rest    string // rest of a line written in part
	renamed int    // rotated files so far
}

// syncOnly hides the emitter's EmitAsync: the tailer then commits each
// batch before it reads on.
type syncOnly struct{ em *componenttest.Emitter }

func (s syncOnly) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	return s.em.Emit(ctx, evs, cps...)
}

func newModel(t *testing.T, async bool, edit func(*Config)) *model {
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.Include = []string{filepath.Join(dir, "app.log*")}
	cfg.FingerprintBytes = 64
	cfg.BatchLines = 7 // several batches per step
	if edit != nil {
		edit(cfg)
	}
	m := &model{t: t, dir: dir, cfg: cfg, em: componenttest.NewEmitter(),
		clock: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), ctx: context.Background()}
	m.emit = syncOnly{m.em}
	if async {
		m.emit = m.em
	}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *model) path(name string) string { return filepath.Join(m.dir, name) }

// start creates the source on the checkpoints committed so far.
func (m *model) start() {
	m.t.Helper()
	set := componenttest.Settings("app_logs", m.t.TempDir())
	set.Checkpoints = m.em
	src, err := NewFactory().CreateSource(m.cfg, set)
	must(m.t, err)
	m.src = src.(*Source)
	if os.Getenv("FILE_TEST_DEBUG") != "" {
		m.src.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m.src.stepped = true
	m.src.noWatch = true
	m.src.now = func() time.Time { return m.clock }
	must(m.t, m.src.begin(m.emit))
}

// stop closes every file, as the end of Run does.
func (m *model) stop() {
	if m.src == nil {
		return
	}
	for _, t := range m.tailers() {
		t.close()
	}
	m.src = nil
}

func (m *model) tailers() []*tailer {
	m.src.mu.Lock()
	defer m.src.mu.Unlock()
	ts := make([]*tailer, 0, len(m.src.tails))
	for _, t := range m.src.tails {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *tailer) int { return strings.Compare(a.key, b.key) })
	return ts
}

// step runs a scan, then one step of every open file; a finished file is
// closed.
func (m *model) step() {
	m.t.Helper()
	m.src.scan(m.ctx, nil)
	m.src.firstRun = false
	for _, t := range m.tailers() {
		_, done, err := t.step(m.ctx)
		if err != nil {
			m.t.Fatalf("step of %s: %v\nafter:\n%s", t.path, err, m.log.String())
		}
		if done {
			t.close()
		}
	}
}

// line is the text of line seq, long enough that a few of them exceed the
// fingerprint.
func line(seq int) string { return fmt.Sprintf("seq=%06d abcdefghij\n", seq) }

func (m *model) appendApp(s string) {
	appendFile(m.t, m.path("app.log"), s)
}

func (m *model) write(n int) {
	var b strings.Builder
	b.WriteString(m.rest)
	m.rest = ""
	for range n {
		b.WriteString(line(m.next))
		m.next++
	}
	m.appendApp(b.String())
}

// half writes the first part of the next line; the next write finishes it.
func (m *model) half() {
	if m.rest != "" {
		return
	}
	l := line(m.next)
	m.next++
	m.appendApp(l[:9])
	m.rest = l[9:]
}

// finishLine completes a line written in part, before the file is rotated.
func (m *model) finishLine() {
	if m.rest != "" {
		m.appendApp(m.rest)
		m.rest = ""
	}
}

// unterminated writes a last line without delimiter for "OP partial": a
// rotated or deleted file's is read after partial_line_timeout.
func (m *model) unterminated(f []string) {
	if len(f) > 1 && f[1] == "partial" {
		l := line(m.next)
		m.next++
		m.appendApp(strings.TrimSuffix(l, "\n"))
	}
}

// seen makes sure a scan found app.log before it leaves the globs: a file
// created and rotated out of reach between two scans is never read (with
// fsnotify, only if it lives for less than about a millisecond).
func (m *model) seen() {
	fi, err := os.Stat(m.path("app.log"))
	if err != nil {
		return
	}
	id, _ := statID(fi)
	m.src.mu.Lock()
	found := m.src.tails[id] != nil
	m.src.mu.Unlock()
	if !found {
		m.step()
	}
}

func (m *model) appSize() int64 {
	fi, err := os.Stat(m.path("app.log"))
	if err != nil {
		return -1
	}
	return fi.Size()
}

// do runs one operation (see testdata/model/README).
func (m *model) do(op string) {
	m.t.Helper()
	fmt.Fprintf(&m.log, "%s\t# next seq %d\n", op, m.next)
	f := strings.Fields(op)
	arg := func() int {
		if len(f) < 2 {
			m.t.Fatalf("%q: missing count", op)
		}
		n, err := strconv.Atoi(f[1])
		must(m.t, err)
		return n
	}
	switch f[0] {
	case "write":
		m.write(arg())
	case "half":
		m.half()
	case "step":
		m.step()
	case "wait":
		d, err := time.ParseDuration(f[1])
		must(m.t, err)
		m.clock = m.clock.Add(d)
	case "rename", "rename-out": // in the include globs, or out of them
		m.finishLine()
		m.unterminated(f)
		if f[0] == "rename-out" {
			m.seen()
		}
		m.renamed++
		to := fmt.Sprintf("app.log.%d", m.renamed)
		if f[0] == "rename-out" {
			to = fmt.Sprintf("old.%d", m.renamed)
		}
		if err := os.Rename(m.path("app.log"), m.path(to)); err != nil && !os.IsNotExist(err) {
			m.t.Fatal(err)
		}
	case "copytruncate":
		// The copy is recognised by its complete fingerprint, as known at
		// the last step: lines written since are read from the copy.
		m.finishLine()
		data, err := os.ReadFile(m.path("app.log"))
		must(m.t, err)
		m.renamed++
		must(m.t, os.WriteFile(m.path(fmt.Sprintf("app.log.%d", m.renamed)), data, 0o644))
		must(m.t, os.Truncate(m.path("app.log"), 0))
	case "copytruncate-at-find":
		// Once app.log is found and its start decided, before its first
		// read: copy it, truncate it and write n new lines.
		n := arg()
		m.finishLine()
		m.src.afterClassify = func(path string) {
			if filepath.Base(path) != "app.log" {
				return
			}
			m.src.afterClassify = nil
			data, err := os.ReadFile(path)
			must(m.t, err)
			m.renamed++
			must(m.t, os.WriteFile(m.path(fmt.Sprintf("app.log.%d", m.renamed)), data, 0o644))
			must(m.t, os.Truncate(path, 0))
			m.write(n)
		}
	case "truncate", "rewrite":
		// Lines not read before a truncation are gone by design: read
		// them first. rewrite refills the file at once, past the old
		// offset if n lines are long enough.
		m.finishLine()
		m.step()
		if err := os.Truncate(m.path("app.log"), 0); err != nil && !os.IsNotExist(err) {
			m.t.Fatal(err)
		}
		if f[0] == "rewrite" {
			m.write(arg())
		}
	case "delete":
		m.finishLine()
		m.step()
		m.unterminated(f)
		m.seen()
		if err := os.Remove(m.path("app.log")); err != nil && !os.IsNotExist(err) {
			m.t.Fatal(err)
		}
	case "restart":
		// A file renamed out of the globs or deleted is not found again
		// after a restart: the stop comes after such files were read to
		// their end, a last partial line (and multiline record) included.
		m.step()
		m.clock = m.clock.Add(m.cfg.PartialLineTimeout.D())
		m.step()
		m.clock = m.clock.Add(m.cfg.Multiline.Timeout.D())
		m.step()
		m.stop()
		m.start()
	default:
		m.t.Fatalf("unknown operation %q", op)
	}
}

// finish lets every file be read to its end and closed when rotated, then
// checks that each line arrived exactly once.
func (m *model) finish() {
	m.t.Helper()
	m.finishLine()
	for range 4 {
		m.step()
		m.clock = m.clock.Add(m.cfg.RotateWait.D() + m.cfg.PartialLineTimeout.D())
	}
	m.step()
	seen := map[int]int{}
	for _, ev := range m.em.Events() {
		msg := message(m.t, ev)
		n, err := strconv.Atoi(strings.TrimPrefix(strings.Fields(msg)[0], "seq="))
		if err != nil {
			m.t.Fatalf("line %q: %v", msg, err)
		}
		seen[n]++
	}
	var missing, dup []int
	for i := range m.next {
		switch seen[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		m.t.Fatalf("%d of %d lines missing %v, %d read twice %v, after:\n%s",
			len(missing), m.next, head(missing), len(dup), head(dup), m.log.String())
	}
	// Every rotated file was closed; what is still open is at an
	// included path.
	for _, t := range m.tailers() {
		m.src.mu.Lock()
		rotated, p := t.rotated, t.path
		m.src.mu.Unlock()
		if rotated {
			m.t.Errorf("%s is still open after rotate_wait", p)
		}
	}
}

// TestModelScripts runs each testdata/model/*.txt.
func TestModelScripts(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join("testdata", "model", "*.txt"))
	must(t, err)
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata/model")
	}
	for _, path := range scripts {
		for _, async := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/async=%v", strings.TrimSuffix(filepath.Base(path), ".txt"), async), func(t *testing.T) {
				f, err := os.Open(path)
				must(t, err)
				defer f.Close()
				m := newModel(t, async, nil)
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					if op := strings.TrimSpace(sc.Text()); op != "" && !strings.HasPrefix(op, "#") {
						m.do(op)
					}
				}
				must(t, sc.Err())
				m.finish()
			})
		}
	}
}

// TestModelRandom runs seeded random sequences of operations. Every third
// seed groups lines as multiline records (each line starts one, so a
// file's last line waits as a record in progress, flushed by the timeout
// or at the end of a rotated file).
func TestModelRandom(t *testing.T) {
	const ops = 300
	multiline := func(c *Config) { c.Multiline.StartPattern = `^seq=\d+ ` }
	for seed := uint64(1); seed <= 18; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 22))
			var edit func(*Config)
			if seed%3 == 0 {
				edit = multiline
			}
			m := newModel(t, seed%2 == 0, edit)
			for range ops {
				m.do(randomOp(rng, m))
			}
			m.finish()
		})
	}
}

func randomOp(rng *rand.Rand, m *model) string {
	for {
		switch p := rng.IntN(100); {
		case p < 35:
			return fmt.Sprintf("write %d", 1+rng.IntN(20))
		case p < 42:
			return "half"
		case p < 70:
			return "step"
		case p < 76:
			return []string{"wait 100ms", "wait 1500ms", "wait 6s"}[rng.IntN(3)]
		case p < 81:
			return "rename"
		case p < 83:
			return "rename-out"
		case p < 84:
			return "rename-out partial"
		case p < 89:
			// A copy is recognised when the original's fingerprint was
			// complete: a file shorter than fingerprint_bytes has no
			// retired offset to resume at, and its copy is read again.
			if m.appSize() >= int64(m.cfg.FingerprintBytes) && m.stepped() {
				return "copytruncate"
			}
		case p < 91:
			return "truncate"
		case p < 94:
			return fmt.Sprintf("rewrite %d", 1+rng.IntN(60))
		case p < 95:
			return "delete"
		case p < 96:
			return "delete partial"
		default:
			return "restart"
		}
	}
}

// stepped reports whether app.log's tailer knows its complete fingerprint.
func (m *model) stepped() bool {
	for _, t := range m.tailers() {
		m.src.mu.Lock()
		ok := t.path == m.path("app.log") && !t.rotated && t.ident.complete(m.src.fpBytes)
		m.src.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}
