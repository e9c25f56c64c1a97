package file

import (
	"context"
	"fmt"
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
)

// harness runs a file source on an emitter and restarts it on the
// emitter's committed checkpoints.
type harness struct {
	t   *testing.T
	dir string
	cfg *Config
	em  *componenttest.Emitter
	// stopRun stops the running source (nil when stopped).
	stopRun func()
	src     *Source
	mutate  func(*Source)
	// emit, when set, is what the source emits to (wrapping em).
	emit component.Emitter
	// scans counts the scans of the running source.
	scans atomic.Int64
}

func newHarness(t *testing.T, edit func(c *Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.Include = []string{filepath.Join(dir, "*.log")}
	cfg.PollInterval = component.Duration(20 * time.Millisecond)
	cfg.PartialLineTimeout = component.Duration(100 * time.Millisecond)
	cfg.RotateWait = component.Duration(300 * time.Millisecond)
	if edit != nil {
		edit(cfg)
	}
	h := &harness{t: t, dir: dir, cfg: cfg, em: componenttest.NewEmitter()}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

func (h *harness) start() {
	h.t.Helper()
	set := componenttest.Settings("app_logs", h.t.TempDir())
	set.Checkpoints = h.em
	set.ConfigDir = h.dir
	src, err := NewFactory().CreateSource(h.cfg, set)
	if err != nil {
		h.t.Fatal(err)
	}
	h.src = src.(*Source)
	if os.Getenv("FILE_TEST_DEBUG") != "" {
		h.src.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if h.mutate != nil {
		h.mutate(h.src)
	}
	var emit component.Emitter = h.em
	if h.emit != nil {
		emit = h.emit
	}
	h.scans.Store(0)
	h.src.afterScan = func() { h.scans.Add(1) }
	h.stopRun = componenttest.StartSource(h.t, src, emit, nil)
	// The files present now were found (and fsnotify watches their
	// directories) once the first scan is done.
	h.waitScans(1)
}

// waitScans waits until the running source completed n scans.
func (h *harness) waitScans(n int64) {
	h.t.Helper()
	componenttest.Eventually(h.t, 10*time.Second, fmt.Sprintf("%d scans", n), func() bool { return h.scans.Load() >= n })
}

// nextScan waits for a scan that began after it was called.
func (h *harness) nextScan() { h.waitScans(h.scans.Load() + 2) }

// waitCheckpoints waits until n checkpoints are stored: a new file has
// one once its reader decided where it starts.
func (h *harness) waitCheckpoints(n int) {
	h.t.Helper()
	componenttest.Eventually(h.t, 10*time.Second, fmt.Sprintf("%d checkpoints", n), func() bool {
		cps, _ := h.em.LoadCheckpoints()
		return len(cps) >= n
	})
}

func (h *harness) stop() {
	if h.stopRun != nil {
		h.stopRun()
		h.stopRun = nil
	}
}

// waitFor waits until n events were emitted.
func (h *harness) waitFor(n int) []*event.Event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.em.WaitFor(ctx, n); err != nil {
		h.t.Fatal(err)
	}
	return h.em.Events()
}

// settle waits until no event arrived for d and returns the events. It
// is how a test sees that nothing more (a duplicate) comes: an absence can
// only be observed by waiting.
func (h *harness) settle(d time.Duration) []*event.Event {
	n := -1
	for {
		time.Sleep(d)
		if m := h.em.Len(); m == n {
			return h.em.Events()
		} else {
			n = m
		}
	}
}

func appendFile(t testing.TB, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func seqLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "seq=%d\n", i)
	}
	return b.String()
}

func message(t testing.TB, ev *event.Event) string {
	t.Helper()
	m, ok := ev.Properties.GetString("message")
	if !ok {
		t.Fatalf("event without message: %v", ev.Properties)
	}
	return m
}

func messages(t testing.TB, evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = message(t, ev)
	}
	return out
}

// seqChecker counts seq numbers and reports gaps and duplicates.
type seqChecker struct {
	mu   sync.Mutex
	seen map[int]int
}

func newSeqChecker() *seqChecker { return &seqChecker{seen: map[int]int{}} }

func (c *seqChecker) add(t testing.TB, msg string) {
	i := strings.Index(msg, "seq=")
	if i < 0 {
		t.Errorf("no seq in %q", msg)
		return
	}
	j := i + 4
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(msg[i+4 : j])
	if err != nil {
		t.Errorf("bad seq in %q", msg)
		return
	}
	c.mu.Lock()
	c.seen[n]++
	c.mu.Unlock()
}

// check reports every missing and duplicated seq in [0, n).
func (c *seqChecker) check(t testing.TB, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing, dup []int
	for i := 0; i < n; i++ {
		switch c.seen[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(c.seen) > n {
		t.Errorf("%d seqs beyond %d", len(c.seen)-n, n)
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Errorf("%d missing (first %v), %d duplicated (first %v)", len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []int) []int {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// waitSeqs waits for seqs 0 to n-1, lets late duplicates arrive, and checks
// that each arrived exactly once.
func (h *harness) waitSeqs(n int) {
	h.t.Helper()
	h.waitFor(n)
	h.settle(200 * time.Millisecond)
	checkSeqs(h.t, h, n)
}
