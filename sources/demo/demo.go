// Package demo is the "demo" source: it generates sample log events at a
// set rate, for trying hogtail out and for benchmarks.
package demo

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

//go:embed sample.toml
var sample string

// Config is the [sources.NAME] table of a demo source.
type Config struct {
	// Event is the event name.
	Event string `toml:"event"`
	// Rate is events per second; 0 generates as fast as the pipeline takes them.
	Rate float64 `toml:"rate"`
	// Count stops the source once that many events were committed (counted
	// across restarts); 0 never stops.
	Count int64 `toml:"count"`
	// BatchSize is the most events per commit.
	BatchSize int `toml:"batch_size"`
}

// Validate implements component.Config.
func (c *Config) Validate() error {
	var errs []error
	if c.Event == "" {
		errs = append(errs, errors.New("event: must not be empty"))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate: must not be negative, got %v", c.Rate))
	}
	if c.Count < 0 {
		errs = append(errs, fmt.Errorf("count: must not be negative, got %d", c.Count))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("batch_size: must be at least 1, got %d", c.BatchSize))
	}
	return errors.Join(errs...)
}

// NewFactory returns the factory of the demo source.
func NewFactory() component.SourceFactory {
	return component.NewSourceFactory("demo", sample,
		func() *Config { return &Config{Event: "demo_log", Rate: 1, BatchSize: 1000} },
		func(c *Config, set component.Settings) (component.Source, error) {
			return &Source{cfg: *c, host: set.Hostname, cps: set.Checkpoints}, nil
		})
}

// Source generates events. It checkpoints its sequence number with each
// batch, so after a restart (even a crash) it continues where the buffer
// left off: every seq from 0 is committed exactly once, which the
// kill-and-restart tests rely on.
type Source struct {
	cfg  Config
	host string
	cps  component.CheckpointLoader
	ids  event.UUIDPool // Run is the only user
}

const seqKey = "seq"

var (
	levels   = []string{"info", "info", "info", "warn", "error", "debug"}
	services = []string{"checkout", "search", "auth", "billing"}
	messages = []string{
		"GET /api/cart 200 12ms",
		"user signed in",
		"payment authorised",
		"slow query: SELECT * FROM orders WHERE user_id = ? (412ms)",
		"cache miss for key session:8f3a",
		"POST /api/checkout 500 upstream timeout",
	}
)

// Run implements component.Source: it emits events until ctx is cancelled
// or Count events were committed.
func (s *Source) Run(ctx context.Context, emit component.Emitter) error {
	var seq int64
	if s.cps != nil {
		cps, err := s.cps.LoadCheckpoints()
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if v, ok := cps[seqKey]; ok {
			if seq, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return fmt.Errorf("demo: bad checkpoint %q: %w", v, err)
			}
		}
	}
	first := seq
	start := time.Now()
	for (s.cfg.Count == 0 || seq < s.cfg.Count) && ctx.Err() == nil {
		n := int64(s.cfg.BatchSize)
		if s.cfg.Rate > 0 {
			// Emit what the rate allows by now, sleeping when ahead.
			due := first + int64(time.Since(start).Seconds()*s.cfg.Rate) + 1
			if due <= seq {
				wait := time.Duration(float64(seq+1-due)/s.cfg.Rate*float64(time.Second)) + time.Millisecond
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(min(wait, time.Second)):
				}
				continue
			}
			n = min(n, due-seq)
		}
		if s.cfg.Count > 0 {
			n = min(n, s.cfg.Count-seq)
		}
		events := make([]*event.Event, n)
		now := event.FormatTime(time.Now())
		for i := range events {
			k := seq + int64(i)
			events[i] = &event.Event{
				UUID:       s.ids.Next(),
				Event:      s.cfg.Event,
				DistinctID: s.host,
				Timestamp:  now,
				Properties: event.Map{
					{Key: "message", Value: messages[k%int64(len(messages))]},
					{Key: "level", Value: levels[k%int64(len(levels))]},
					{Key: "service", Value: services[k%int64(len(services))]},
					{Key: "seq", Value: k},
					{Key: "$host", Value: s.host},
				},
			}
		}
		cp := component.Checkpoint{Key: seqKey, Value: strconv.AppendInt(nil, seq+n, 10)}
		if err := emit.Emit(ctx, events, cp); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("demo: %w", err)
		}
		seq += n
	}
	return nil
}
