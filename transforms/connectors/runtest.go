package connectors

import (
	"bufio"
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

// RunTest implements `hogtail test DIR [DIR ...] [--config DIR:key=value
// ...]`: JSON-lines events from stdin run through the chain of connector
// folders dirs; each resulting event is written to stdout as a JSON line and
// each webhook request to stderr as {"webhook": {...}} (dead letters as
// {"dead_letter": {...}}). Connector console output goes to stderr too.
func RunTest(ctx context.Context, dirs []string, configs []string, stdin io.Reader, stdout, stderr io.Writer) error {
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
	for _, c := range configs {
		eq := strings.IndexByte(c, '=')
		if eq < 0 {
			return fmt.Errorf("test: --config %q: want DIR:key=value", c)
		}
		left := c[:eq]
		colon := strings.LastIndexByte(left, ':')
		if colon <= 0 || colon == len(left)-1 {
			return fmt.Errorf("test: --config %q: want DIR:key=value", c)
		}
		abs, err := filepath.Abs(left[:colon])
		if err != nil {
			return fmt.Errorf("test: --config %q: %w", c, err)
		}
		i, ok := index[abs]
		if !ok {
			return fmt.Errorf("test: --config %q: %s is not one of the connector folders given", c, left[:colon])
		}
		cfg.Chain[i].Config[left[colon+1:]] = c[eq+1:]
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("test: %w", err)
	}
	set := component.Settings{
		Name:    "test",
		Logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: redact.ReplaceAttr})),
		Metrics: prometheus.NewRegistry(),
		Store:   newMemKV(),
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

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	bw := bufio.NewWriter(stdout)
	defer bw.Flush()
	line := 0
	var buf []byte
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		ev := &event.Event{}
		if err := ev.UnmarshalJSON([]byte(text)); err != nil {
			return fmt.Errorf("test: stdin line %d: %w", line, err)
		}
		ev.EnsureIdentity(time.Now())
		var out component.Output
		if err := t.Apply(ctx, component.Input{Source: "stdin", Events: []*event.Event{ev}}, &out); err != nil {
			return fmt.Errorf("test: stdin line %d: %w", line, err)
		}
		for _, e := range out.Events {
			buf = e.AppendJSON(buf[:0])
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("test: writing stdout: %w", err)
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("test: writing stdout: %w", err)
		}
		for _, w := range out.Webhooks {
			b, _ := json.Marshal(map[string]any{"webhook": w})
			if _, err := fmt.Fprintf(stderr, "%s\n", b); err != nil {
				return fmt.Errorf("test: writing stderr: %w", err)
			}
		}
		for _, d := range out.DeadLetters {
			b, _ := json.Marshal(map[string]any{"dead_letter": map[string]any{"component": d.Component, "reason": d.Reason, "record": json.RawMessage(d.Record)}})
			if _, err := fmt.Fprintf(stderr, "%s\n", b); err != nil {
				return fmt.Errorf("test: writing stderr: %w", err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("test: reading stdin: %w", err)
	}
	return nil
}
