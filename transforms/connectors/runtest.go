package connectors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/agent/redact"
	"github.com/prometheus/client_golang/prometheus"
)

// TestOptions are the settings of `hogtail test` besides the connector
// folders.
type TestOptions struct {
	// Configs are --config DIR:key=value (or DIR:key=@path for an
	// attachment) settings.
	Configs []string
	// GeoIPDatabase is the MaxMind City database behind meta.geoip
	// (--geoip); empty = none.
	GeoIPDatabase string
	// FetchAllowNetworks are networks fetch() may reach although internal
	// (--fetch-allow-network), as the transform's fetch_allow_networks.
	FetchAllowNetworks []string
}

// RunTest implements `hogtail test DIR [DIR ...] [--config DIR:key=value
// ...]`: JSON-lines events from stdin run through the chain of connector
// folders dirs; each resulting event is written to stdout as a JSON line and
// each webhook request to stderr as {"webhook": {...}} (dead letters as
// {"dead_letter": {...}}). Connector console output goes to stderr too.
// stdout is flushed whenever stdin has no complete line waiting (so typed
// events show their result at once) and before anything is written to
// stderr (so the two streams stay in event order); a file piped in is
// written in large blocks rather than one write per event.
//
// Each --config names a key that the connector's plugin.json declares; an
// attachment key takes "@path" and the file becomes meta.attachments[key].
// A setupPlugin that throws ends the test at once with its error and stack
// (the agent retries it with backoff instead).
func RunTest(ctx context.Context, dirs []string, opts TestOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(dirs) == 0 {
		return errors.New("test: give at least one connector folder")
	}
	cfg := DefaultConfig()
	cfg.Lanes = 1
	cfg.HotReload = false
	index := map[string]int{}
	for i, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("test: %s: %w", d, err)
		}
		cfg.Chain = append(cfg.Chain, ChainEntry{Path: abs, Config: map[string]any{}})
		index[abs] = i
	}
	cfg.GeoIPDatabase = opts.GeoIPDatabase
	cfg.FetchAllowNetworks = opts.FetchAllowNetworks
	for _, c := range opts.Configs {
		if err := applyTestConfig(cfg, index, c); err != nil {
			return fmt.Errorf("test: --config %q: %w", c, err)
		}
	}
	bw := bufio.NewWriter(stdout)
	defer bw.Flush()
	stderr = &flushFirst{bw: bw, w: stderr}
	cfg.setupFailFast = true
	// The author wants every error of every event, not a switched-off
	// connector.
	cfg.BreakerThreshold = 0
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("test: %w", err)
	}
	set := component.Settings{
		Name:    "test",
		Logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: redact.ReplaceAttr})),
		Metrics: prometheus.NewRegistry(),
		Store:   component.NewMemoryKV(),
	}
	t, err := New(cfg, set)
	if err != nil {
		return fmt.Errorf("test: %w", err)
	}
	if err := t.init(); err != nil {
		return fmt.Errorf("test: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = t.Shutdown(sctx)
	}()
	// setupPlugin runs before the first event, so that a connector that
	// cannot set up fails the test at once, even with no input.
	if err := t.setupLanes(ctx); err != nil {
		return fmt.Errorf("test: %w", err)
	}

	var exports [][]byte
	batching := false
	for _, c := range t.state.Load().conns {
		batching = batching || c.export == "exportEvents"
	}
	var werr error
	t.exports.observe = func(c exportCall) {
		b, err := json.Marshal(map[string]any{"export": c})
		if err == nil {
			_, err = fmt.Fprintf(stderr, "%s\n", b)
		}
		if err != nil && werr == nil {
			werr = fmt.Errorf("test: writing stderr: %w", err)
		}
	}

	br := bufio.NewReaderSize(stdin, 64<<10)
	var long []byte
	line := 0
	var buf []byte
	for {
		raw, err := readLine(br, &long)
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return fmt.Errorf("test: reading stdin line %d: %w", line, err)
		}
		text := bytes.TrimSpace(raw)
		if len(text) > 0 {
			n := len(exports)
			if exports, err = t.testOne(ctx, text, line, bw, stderr, &buf, exports); err != nil {
				return err
			}
			// Each export call runs once: its outcome (ok, retry, error)
			// is shown; the agent would retry a "retry". onEvent runs
			// right away, exportEvents once batch_max_events events are
			// there or at the end of the input.
			if len(exports) > n && (!batching || len(exports) >= cfg.Exports.BatchMaxEvents) {
				t.exports.runOnce(ctx, groupByConnector(exports))
				exports = exports[:0]
			}
			if werr != nil {
				return werr
			}
		}
		if br.Buffered() == 0 {
			// The next read may wait for input: show what is done.
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("test: writing stdout: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("test: writing stdout: %w", err)
	}
	if len(exports) > 0 {
		t.exports.runOnce(ctx, groupByConnector(exports))
	}
	return werr
}

// testOne runs the event of one stdin line through the chain, writes the
// results and returns exports with the line's export records appended.
func (t *Transform) testOne(ctx context.Context, text []byte, line int, bw *bufio.Writer, stderr io.Writer, buf *[]byte, exports [][]byte) ([][]byte, error) {
	ev := &event.Event{}
	if err := ev.UnmarshalJSON(text); err != nil {
		return exports, fmt.Errorf("test: stdin line %d: %w", line, err)
	}
	ev.EnsureIdentity(time.Now())
	var out component.Output
	if err := t.Apply(ctx, component.Input{Source: "stdin", Events: []*event.Event{ev}}, &out); err != nil {
		return exports, fmt.Errorf("test: stdin line %d: %w", line, err)
	}
	for _, e := range out.Events {
		*buf = e.AppendJSON((*buf)[:0])
		*buf = append(*buf, '\n')
		if _, err := bw.Write(*buf); err != nil {
			return exports, fmt.Errorf("test: writing stdout: %w", err)
		}
	}
	for _, w := range out.Webhooks {
		b, _ := json.Marshal(map[string]any{"webhook": w})
		if _, err := fmt.Fprintf(stderr, "%s\n", b); err != nil {
			return exports, fmt.Errorf("test: writing stderr: %w", err)
		}
	}
	for _, d := range out.DeadLetters {
		b, _ := json.Marshal(map[string]any{"dead_letter": map[string]any{"component": d.Component, "reason": d.Reason, "record": json.RawMessage(d.Record)}})
		if _, err := fmt.Fprintf(stderr, "%s\n", b); err != nil {
			return exports, fmt.Errorf("test: writing stderr: %w", err)
		}
	}
	return append(exports, out.Exports...), nil
}

// maxTestLine is the longest stdin line `hogtail test` reads.
const maxTestLine = 16 << 20

// readLine returns the next line of br without its newline (a last line
// without one too), or io.EOF. The result is valid until the next call;
// lines longer than br's buffer are gathered in *long.
func readLine(br *bufio.Reader, long *[]byte) ([]byte, error) {
	chunk, err := br.ReadSlice('\n')
	switch {
	case err == nil:
		return chunk[:len(chunk)-1], nil
	case err == io.EOF && len(chunk) > 0:
		return chunk, nil
	case !errors.Is(err, bufio.ErrBufferFull):
		return nil, err
	}
	*long = append((*long)[:0], chunk...)
	for {
		chunk, err = br.ReadSlice('\n')
		*long = append(*long, chunk...)
		if len(*long) > maxTestLine {
			return nil, fmt.Errorf("line longer than %d MiB", maxTestLine>>20)
		}
		switch {
		case err == nil:
			return (*long)[:len(*long)-1], nil
		case err == io.EOF:
			return *long, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		}
	}
}

// flushFirst writes to w after flushing bw, so that what goes to stderr
// (logs, webhooks) follows the stdout lines of the events before it.
type flushFirst struct {
	bw *bufio.Writer
	w  io.Writer
}

func (f *flushFirst) Write(p []byte) (int, error) {
	if err := f.bw.Flush(); err != nil {
		return 0, fmt.Errorf("flushing stdout: %w", err)
	}
	return f.w.Write(p)
}

// groupByConnector orders export records by connector, keeping each
// connector's events in order, so that an exportEvents connector gets them
// in one call.
func groupByConnector(recs [][]byte) [][]byte {
	names := make([]string, len(recs))
	for i, r := range recs {
		var rec exportRecord
		if json.Unmarshal(r, &rec) == nil {
			names[i] = rec.Connector
		}
	}
	var order []string
	by := map[string][][]byte{}
	for i, r := range recs {
		if _, seen := by[names[i]]; !seen {
			order = append(order, names[i])
		}
		by[names[i]] = append(by[names[i]], r)
	}
	out := make([][]byte, 0, len(recs))
	for _, n := range order {
		out = append(out, by[n]...)
	}
	return out
}

// applyTestConfig applies one DIR:key=value of `hogtail test` to the chain
// entry of DIR. The key must be declared in plugin.json, so that a typo is
// an error rather than a value the connector never sees; attachment keys
// take @path.
func applyTestConfig(cfg *Config, index map[string]int, c string) error {
	eq := strings.IndexByte(c, '=')
	if eq < 0 {
		return errors.New("want DIR:key=value")
	}
	left, value := c[:eq], c[eq+1:]
	colon := strings.LastIndexByte(left, ':')
	if colon <= 0 || colon == len(left)-1 {
		return errors.New("want DIR:key=value")
	}
	dir, key := left[:colon], left[colon+1:]
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	i, ok := index[abs]
	if !ok {
		return fmt.Errorf("%s is not one of the connector folders given", dir)
	}
	p, err := readPluginJSON(abs)
	if err != nil {
		return fmt.Errorf("connector %s: %w", dir, err)
	}
	var entry *configEntry
	var declared []string
	for j := range p.Config {
		if k := p.Config[j].Key; k != "" {
			declared = append(declared, k)
			if k == key {
				entry = &p.Config[j]
			}
		}
	}
	if entry == nil {
		return fmt.Errorf("connector %s declares no config key %q in plugin.json (declared: %s)", dir, key, orNone(declared))
	}
	e := &cfg.Chain[i]
	if entry.Type == "attachment" {
		path, ok := strings.CutPrefix(value, "@")
		if !ok || path == "" {
			return fmt.Errorf("%q is an attachment: give a file as %s:%s=@path", key, dir, key)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if e.Attachments == nil {
			e.Attachments = map[string]string{}
		}
		e.Attachments[key] = abs
		return nil
	}
	e.Config[key] = value
	return nil
}

func orNone(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// setupLanes runs setupPlugin of every connector on every lane.
func (t *Transform) setupLanes(ctx context.Context) error {
	for range t.allLanes {
		l, err := t.acquire(ctx)
		if err != nil {
			return err
		}
		defer t.release(l)
		t.syncLane(l)
		for i := range l.insts {
			if err := t.waitSetup(ctx, l, i); err != nil {
				return err
			}
		}
	}
	return nil
}
