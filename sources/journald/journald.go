// Package journald is the "journald" source: it follows the systemd journal
// by running journalctl as a subprocess (no cgo, so the static binary keeps
// working) and emits one event per entry. The entry's cursor is the source's
// checkpoint, committed in the same buffer transaction as the entries, so a
// restart resumes exactly after the last stored entry.
package journald

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

//go:embed sample.toml
var sample string

// checkpointKey is the checkpoint that holds the cursor of the last stored
// entry.
const checkpointKey = "cursor"

// NewFactory returns the factory of the journald source.
func NewFactory() component.SourceFactory {
	return component.NewSourceFactory("journald", sample, defaultConfig, New)
}

// Source follows the journal.
type Source struct {
	cfg    Config
	set    component.Settings
	bin    string
	mapper *mapper
	m      *metrics
	// cursor is the cursor of the last entry handed to Emit and stored.
	// Used by Run's goroutine only.
	cursor string
}

// New returns a journald source. It fails when journalctl cannot be found.
func New(c *Config, set component.Settings) (component.Source, error) {
	bin, err := c.lookPath()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(set.Metrics)
	if err != nil {
		return nil, fmt.Errorf("journald: metrics: %w", err)
	}
	return &Source{cfg: *c, set: set, bin: bin, mapper: newMapper(c, set.Hostname), m: m}, nil
}

// Run implements component.Source. journalctl is started from the last
// stored cursor, and started again with backoff whenever it exits; Run
// returns only when ctx ends or the checkpoint cannot be loaded.
func (s *Source) Run(ctx context.Context, emit component.Emitter) error {
	if s.set.Checkpoints != nil {
		cps, err := s.set.Checkpoints.LoadCheckpoints()
		if err != nil {
			return fmt.Errorf("journald: load checkpoint: %w", err)
		}
		s.cursor = string(cps[checkpointKey])
	}
	if s.cursor != "" {
		s.set.Logger.Info("resuming the journal after the stored cursor", "cursor", s.cursor)
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = time.Second
	bo.MaxInterval = s.cfg.RestartMaxDelay.D()
	bo.MaxElapsedTime = 0
	for {
		started := time.Now()
		stored, err := s.follow(ctx, emit)
		if ctx.Err() != nil {
			return nil
		}
		// A run that worked for a while starts the backoff afresh.
		if stored > 0 || time.Since(started) > bo.MaxInterval {
			bo.Reset()
		}
		delay := bo.NextBackOff()
		s.m.restarts.Inc()
		s.set.Logger.Warn("journalctl stopped; starting it again from the last stored entry",
			"error", err, "retry_in", delay, "cursor", s.cursor)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// batch is what the reader hands to Run's emit loop.
type batch struct {
	events []*event.Event
	// cursor is the cursor of the batch's last entry, excluded ones
	// included, so that the checkpoint moves past them too.
	cursor string
	// skipped is the number of excluded entries in the batch.
	skipped int
}

// follow runs journalctl once, until it exits or ctx ends, and stores every
// entry it printed. It returns how many entries it stored and why it ended.
func (s *Source) follow(ctx context.Context, emit component.Emitter) (stored int, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(runCtx, s.bin, s.cfg.args(s.cursor)...)
	// journalctl must not outlive hogtail (a SIGKILLed agent cannot stop it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("journalctl: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start journalctl: %w", err)
	}
	s.m.running.Set(1)
	defer s.m.running.Set(0)

	batches := make(chan batch, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- s.read(runCtx, out, batches)
	}()
	var emitErr error
	for b := range batches {
		if emitErr != nil {
			continue // drain: journalctl is being stopped
		}
		var cps []component.Checkpoint
		if b.cursor != "" {
			cps = append(cps, component.Checkpoint{Key: checkpointKey, Value: []byte(b.cursor)})
		}
		if err := emit.Emit(ctx, b.events, cps...); err != nil {
			// Nothing of the batch was stored: stop this run and read
			// again from the last stored cursor.
			emitErr = fmt.Errorf("store entries: %w", err)
			cancel()
			continue
		}
		if b.cursor != "" {
			s.cursor = b.cursor
		}
		stored += len(b.events) + b.skipped
		s.m.entries.Add(float64(len(b.events)))
		s.m.excluded.Add(float64(b.skipped))
	}
	rerr := <-readErr
	werr := cmd.Wait()
	switch {
	case emitErr != nil:
		return stored, emitErr
	case rerr != nil:
		return stored, rerr
	case werr != nil:
		return stored, fmt.Errorf("journalctl: %w: %s", werr, stderr.String())
	default:
		return stored, fmt.Errorf("journalctl exited: %s", stderr.String())
	}
}

// read parses journalctl's output into batches. A batch is handed over when
// it is full or when journalctl has nothing more to say for now, so that a
// quiet journal's entries are stored at once.
func (s *Source) read(ctx context.Context, out io.Reader, batches chan<- batch) error {
	x := newExportReader(out)
	first := s.cursor != ""
	var b batch
	send := func() bool {
		if len(b.events) == 0 && b.skipped == 0 {
			return true
		}
		select {
		case batches <- b:
			b = batch{events: make([]*event.Event, 0, min(s.cfg.BatchMaxEvents, 256))}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		e, err := x.next()
		if err != nil {
			send()
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read journalctl output: %w", err)
		}
		if s.add(&b, &e, &first) {
			if len(b.events)+b.skipped >= s.cfg.BatchMaxEvents || x.r.Buffered() == 0 {
				if !send() {
					return nil
				}
			}
		}
	}
}

// add adds one entry of journalctl's output to b. first is set while the
// run has printed nothing yet; a run that resumes at the stored cursor prints
// that entry again, and add skips it. add reports whether b changed.
func (s *Source) add(b *batch, e *entry, first *bool) bool {
	if *first {
		*first = false
		if e.cursor == s.cursor {
			return false
		}
		s.m.gaps.Inc()
		s.set.Logger.Warn("the stored journal cursor is gone (journal vacuumed or rotated away); resuming at the oldest entry after it",
			"cursor", s.cursor, "next", e.cursor)
	}
	if e.cursor != "" {
		b.cursor = e.cursor
	}
	if s.mapper.excluded(e) {
		b.skipped++
	} else {
		b.events = append(b.events, s.mapper.toEvent(e, time.Now()))
	}
	return true
}

// tailBuffer keeps the last max bytes written to it (journalctl's stderr,
// for the log line that says why it exited).
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	s := strings.TrimSpace(string(t.buf))
	if s == "" {
		return "(no message on stderr)"
	}
	return s
}
