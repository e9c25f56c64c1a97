// Package console is the "console" sink: it writes events to standard
// output, as JSON lines or as short text lines.
package console

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

//go:embed sample.toml
var sample string

// Config is the [sinks.NAME] table of a console sink.
type Config struct {
	component.DeliveryConfig
	// Format is "json" (one event per line, as stored) or "text".
	Format string `toml:"format"`
	// Target is "stdout" or "stderr".
	Target string `toml:"target"`
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	var errs []error
	if c.Format != "json" && c.Format != "text" {
		errs = append(errs, fmt.Errorf("format: must be \"json\" or \"text\", got %q", c.Format))
	}
	if c.Target != "stdout" && c.Target != "stderr" {
		errs = append(errs, fmt.Errorf("target: must be \"stdout\" or \"stderr\", got %q", c.Target))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the console sink.
func NewFactory() component.SinkFactory {
	return component.NewSinkFactory("console", component.KindEvents, sample,
		func() *Config {
			d := component.DefaultDelivery()
			d.Concurrency = 1 // keep the output in order
			d.BatchTimeout = 0
			return &Config{DeliveryConfig: d, Format: "json", Target: "stdout"}
		},
		func(c *Config, set component.Settings) (component.Sink, error) {
			var w io.Writer = os.Stdout
			if c.Target == "stderr" {
				w = os.Stderr
			}
			return New(c, w), nil
		})
}

// Sink writes records to a writer.
type Sink struct {
	mu   sync.Mutex
	w    *bufio.Writer
	text bool
}

// New returns a console sink writing to w.
func New(c *Config, w io.Writer) *Sink {
	return &Sink{w: bufio.NewWriterSize(w, 64<<10), text: c.Format == "text"}
}

// Deliver implements component.Sink.
func (s *Sink) Deliver(_ context.Context, b component.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range b.Records {
		if s.text {
			s.writeText(rec)
		} else {
			s.w.Write(rec)
		}
		s.w.WriteByte('\n')
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

func (s *Sink) writeText(rec []byte) {
	var e event.Event
	if err := e.UnmarshalJSON(rec); err != nil {
		s.w.Write(rec)
		return
	}
	fmt.Fprintf(s.w, "%s %s %s", e.Timestamp, e.Event, e.DistinctID)
	if msg, ok := e.Properties.GetString("message"); ok {
		fmt.Fprintf(s.w, " %s", msg)
	}
	for _, f := range e.Properties {
		if f.Key == "message" {
			continue
		}
		fmt.Fprintf(s.w, " %s=%s", f.Key, event.AppendValue(nil, f.Value))
	}
}
