// Package componenttest provides test doubles for component tests.
package componenttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus"
)

// Settings returns component settings for tests: a discarding logger (or
// one writing to w), a fresh metrics registry and the given data dir.
func Settings(name, dataDir string) component.Settings {
	return component.Settings{
		Name:     name,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		DataDir:  dataDir,
		Hostname: "testhost",
		Metrics:  prometheus.NewRegistry(),
	}
}

// Emitter records what a source emits. It is safe for concurrent use.
// Set Full to make Emit block until ctx is done and then fail with
// component.ErrFull, as the agent does when a queue is full.
type Emitter struct {
	mu          sync.Mutex
	events      []*event.Event
	checkpoints map[string][]byte
	full        bool
	notify      chan struct{}
}

// NewEmitter returns an empty recording emitter.
func NewEmitter() *Emitter {
	return &Emitter{checkpoints: map[string][]byte{}, notify: make(chan struct{}, 1)}
}

// SetFull switches the simulated full-buffer state.
func (e *Emitter) SetFull(full bool) {
	e.mu.Lock()
	e.full = full
	e.mu.Unlock()
}

// Emit implements component.Emitter.
func (e *Emitter) Emit(ctx context.Context, events []*event.Event, cps ...component.Checkpoint) error {
	clones, err := e.take(ctx, events)
	if err != nil {
		return err
	}
	e.record(clones, cps)
	return nil
}

// take copies events, as a commit would encode them; while the emitter is
// set full it blocks until ctx is done and fails with ErrFull.
func (e *Emitter) take(ctx context.Context, events []*event.Event) ([]*event.Event, error) {
	e.mu.Lock()
	full := e.full
	e.mu.Unlock()
	if full {
		<-ctx.Done()
		return nil, fmt.Errorf("emit: %w", component.ErrFull)
	}
	clones := make([]*event.Event, len(events))
	for i, ev := range events {
		c := ev.Clone()
		for _, m := range []event.Map{c.Properties, c.Set, c.SetOnce, c.Extra} {
			rebox(m)
		}
		clones[i] = c
	}
	return clones, nil
}

// rebox gives the scalar values of a cloned map interfaces of their own. A
// source may box values that point into memory it reuses once its batch is
// released (component.Recycler); the agent copies them by encoding.
func rebox(m event.Map) {
	for i := range m {
		m[i].Value = reboxValue(m[i].Value)
	}
}

func reboxValue(v any) any {
	switch t := v.(type) {
	case event.Map:
		rebox(t)
	case []any:
		for i := range t {
			t[i] = reboxValue(t[i])
		}
	case string:
		return strings.Clone(t)
	case int64:
		return t + 0
	}
	return v
}

// record stores events (owned by the emitter from now on) and checkpoints.
func (e *Emitter) record(events []*event.Event, cps []component.Checkpoint) {
	e.mu.Lock()
	e.events = append(e.events, events...)
	for _, cp := range cps {
		if cp.Value == nil {
			delete(e.checkpoints, cp.Key)
		} else {
			e.checkpoints[cp.Key] = append([]byte(nil), cp.Value...)
		}
	}
	e.mu.Unlock()
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// EmitAsync implements component.AsyncEmitter the way the agent does: the
// events are taken (copied) before it returns, and the batch is recorded
// later, in another goroutine, after the batch it is chained to; if that
// one failed, this one is not recorded.
func (e *Emitter) EmitAsync(ctx context.Context, after component.Pending, events []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	clones, err := e.take(ctx, events)
	if err != nil {
		return nil, err
	}
	cps = slices.Clone(cps)
	p := &pending{done: make(chan struct{})}
	prev, _ := after.(*pending)
	go func() {
		defer close(p.done)
		if prev != nil {
			<-prev.done
			if prev.err != nil {
				p.err = errEarlierFailed
				return
			}
		}
		e.record(clones, cps)
	}()
	return p, nil
}

var errEarlierFailed = errors.New("an earlier batch failed")

type pending struct {
	done chan struct{}
	err  error
}

// Released implements component.Recycler: the batch was copied.
func (p *pending) Released() bool { return true }

func (p *pending) Wait() error {
	<-p.done
	return p.err
}

// Events returns a copy of the events emitted so far.
func (e *Emitter) Events() []*event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*event.Event(nil), e.events...)
}

// Len returns the number of events emitted so far.
func (e *Emitter) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.events)
}

// LoadCheckpoints implements component.CheckpointLoader with the
// checkpoints committed so far, so a test can restart a source on them.
func (e *Emitter) LoadCheckpoints() (map[string][]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string][]byte, len(e.checkpoints))
	for k, v := range e.checkpoints {
		out[k] = append([]byte(nil), v...)
	}
	return out, nil
}

// WaitFor blocks until at least n events were emitted or ctx is done.
func (e *Emitter) WaitFor(ctx context.Context, n int) error {
	for {
		if e.Len() >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited for %d events, got %d: %w", n, e.Len(), ctx.Err())
		case <-e.notify:
		}
	}
}

// KV is an in-memory component.KV.
type KV = component.MemoryKV

// NewKV returns an empty in-memory store.
func NewKV() *KV { return component.NewMemoryKV() }

// StartSource runs src in a goroutine with emit. When ready is not nil it
// waits until the source closes it (serving), failing the test if Run
// returns first. The returned stop cancels Run and waits for it (10 s at
// most), reporting a Run error; it may be called more than once and runs at
// the test's cleanup too.
func StartSource(t testing.TB, src component.Source, emit component.Emitter, ready <-chan struct{}) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, emit) }()
	if ready != nil {
		select {
		case <-ready:
		case err := <-done:
			cancel()
			t.Fatalf("Run: %v", err)
		}
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a log written by
// several goroutines that a test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Eventually polls cond every few milliseconds until it holds, failing the
// test after timeout. Tests use it instead of sleeping for a fixed time.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// CheckError checks err against a table test's expectation: no error when
// want is empty, otherwise an error whose text contains every string of want.
func CheckError(t testing.TB, err error, want ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
