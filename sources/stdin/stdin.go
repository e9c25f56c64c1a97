// Package stdin is the "stdin" source: one event per line of standard input.
// It is meant for pipelines like `tail -F x | hogtail run` and for tests; it
// keeps no checkpoint (standard input cannot be re-read).
package stdin

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

//go:embed sample.toml
var sample string

// Config is the [sources.NAME] table of a stdin source.
type Config struct {
	// Event is the event name.
	Event string `toml:"event"`
	// DistinctID is the distinct_id of every event; empty = the host name.
	DistinctID string `toml:"distinct_id"`
	// Codec is "text" (properties.message = the line) or "json".
	Codec string `toml:"codec"`
	// MaxLineBytes bounds a line; longer lines are truncated and flagged.
	MaxLineBytes component.ByteSize `toml:"max_line_bytes"`
	// BatchSize is the most lines per commit.
	BatchSize int `toml:"batch_size"`
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	var errs []error
	if c.Event == "" {
		errs = append(errs, errors.New("event: must not be empty"))
	}
	if c.Codec != "text" && c.Codec != "json" {
		errs = append(errs, fmt.Errorf("codec: must be \"text\" or \"json\", got %q", c.Codec))
	}
	if c.MaxLineBytes < 1 {
		errs = append(errs, errors.New("max_line_bytes: must be at least 1"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, errors.New("batch_size: must be at least 1"))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the stdin source.
func NewFactory() component.SourceFactory {
	return component.NewSourceFactory("stdin", sample,
		func() *Config {
			return &Config{Event: "log", Codec: "text", MaxLineBytes: 1 << 20, BatchSize: 1000}
		},
		func(c *Config, set component.Settings) (component.Source, error) {
			return New(c, set, os.Stdin), nil
		})
}

// Source reads lines from a reader.
type Source struct {
	cfg  Config
	set  component.Settings
	in   io.Reader
	dist string
	ids  event.UUIDPool // used by Run's goroutine only
}

// New returns a source reading from in.
func New(c *Config, set component.Settings, in io.Reader) *Source {
	dist := c.DistinctID
	if dist == "" {
		dist = set.Hostname
	}
	return &Source{cfg: *c, set: set, in: in, dist: dist}
}

type line struct {
	text      string
	truncated bool
}

// Run implements component.Source. It returns nil at the end of input after
// committing every line read.
func (s *Source) Run(ctx context.Context, emit component.Emitter) error {
	lines := make(chan []line, 1)
	readErr := make(chan error, 1)
	// Reading stdin cannot be cancelled, so it runs in its own goroutine
	// and Run returns on ctx without waiting for it.
	go func() {
		readErr <- s.read(ctx, lines)
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case batch, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					return fmt.Errorf("stdin: %w", err)
				}
				return nil
			}
			events := make([]*event.Event, len(batch))
			for i, l := range batch {
				events[i] = s.toEvent(l)
			}
			if err := emit.Emit(ctx, events); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("stdin: %w", err)
			}
		}
	}
}

func (s *Source) read(ctx context.Context, out chan<- []line) error {
	r := bufio.NewReaderSize(s.in, 64<<10)
	batch := make([]line, 0, s.cfg.BatchSize)
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case out <- batch:
			batch = make([]line, 0, s.cfg.BatchSize)
			return true
		case <-ctx.Done():
			return false
		}
	}
	max := int(s.cfg.MaxLineBytes)
	for {
		text, err := r.ReadString('\n')
		if len(text) > 0 {
			text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
			l := line{text: text}
			if len(text) > max {
				l = line{text: text[:max], truncated: true}
			}
			batch = append(batch, l)
			// Flush when full, or when no more input is buffered so that
			// interactive use shows lines promptly.
			if len(batch) >= s.cfg.BatchSize || r.Buffered() == 0 {
				if !flush() {
					return nil
				}
			}
		}
		if err != nil {
			flush()
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func (s *Source) toEvent(l line) *event.Event {
	e := &event.Event{UUID: s.ids.Next(), Event: s.cfg.Event, DistinctID: s.dist, Timestamp: event.FormatTime(time.Now())}
	if s.cfg.Codec == "json" {
		v, err := event.ParseValue([]byte(l.text))
		if m, ok := v.(event.Map); ok && err == nil {
			e.Properties = m
		} else {
			reason := "not a JSON object"
			if err != nil {
				reason = err.Error()
			}
			e.Properties = event.Map{{Key: "message", Value: l.text}, {Key: "$parse_error", Value: reason}}
		}
	} else {
		e.Properties = event.Map{{Key: "message", Value: l.text}}
	}
	if l.truncated {
		e.Properties.Set("$truncated", true)
	}
	e.Properties.Set("$host", s.set.Hostname)
	return e
}
