package component_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

var errDisk = errors.New("write buffer.db: no space left on device")

// script is an AsyncEmitter whose commits the test decides: each batch
// queued with EmitAsync waits in a gate until the test opens it, and fails
// when the test said so or when the batch it was chained after failed (as
// the agent's buffer does). Emit stores at once, failing as often as told.
type script struct {
	mu        sync.Mutex
	stored    []string // first message of each stored batch, in store order
	failAsync map[string]bool
	failEmit  int // Emit calls still to fail
	released  bool
	gates     map[string]chan struct{}
	emits     int
	// onEmit, if set, is called with the number of Emit calls so far.
	onEmit func(n int)
}

func newScript() *script {
	return &script{failAsync: map[string]bool{}, gates: map[string]chan struct{}{}}
}

func name(evs []*event.Event) string {
	s, _ := evs[0].Properties.GetString("message")
	return s
}

func batch(msg string) []*event.Event {
	return []*event.Event{{Properties: event.Map{{Key: "message", Value: msg}}}}
}

func (s *script) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emits++
	if s.onEmit != nil {
		s.onEmit(s.emits)
	}
	if s.failEmit > 0 {
		s.failEmit--
		return errDisk
	}
	s.stored = append(s.stored, name(evs))
	return nil
}

type gated struct {
	s     *script
	name  string
	gate  chan struct{}
	after *gated
	fail  bool
	once  sync.Once
	err   error
	rel   bool
}

func (g *gated) Released() bool { return g.rel }

func (g *gated) Wait() error {
	g.once.Do(func() {
		<-g.gate
		switch {
		case g.after != nil && g.after.Wait() != nil:
			g.err = fmt.Errorf("%s: an earlier commit failed", g.name)
		case g.fail:
			g.err = fmt.Errorf("%s: %w", g.name, errDisk)
		default:
			g.s.mu.Lock()
			g.s.stored = append(g.s.stored, g.name)
			g.s.mu.Unlock()
		}
	})
	return g.err
}

func (s *script) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := name(evs)
	gate := make(chan struct{})
	s.gates[n] = gate
	g := &gated{s: s, name: n, gate: gate, fail: s.failAsync[n], rel: s.released}
	if after != nil {
		g.after = after.(*gated)
	}
	return g, nil
}

func (s *script) open(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		close(s.gates[n])
	}
}

func (s *script) storedNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stored)
}

// outcome is what Landed reported for one batch.
type outcome struct {
	tag      string
	released bool
	failed   bool
}

func newOrdered(em component.Emitter, retry bool) (*component.Ordered[string], *[]outcome) {
	var got []outcome
	o := component.NewOrdered(em, component.OrderedOptions[string]{
		Retry: retry,
		Landed: func(l component.Landed[string]) {
			got = append(got, outcome{tag: l.Tag, released: l.Released, failed: l.Err != nil})
		},
	})
	return o, &got
}

// TestOrderedWaitsOldestFirst: Queue returns before the batch is stored,
// Wait(ctx, 1) waits for the oldest only, and batches land in queue order
// whatever order the buffer finishes them in.
func TestOrderedWaitsOldestFirst(t *testing.T) {
	ctx := context.Background()
	s := newScript()
	s.released = true
	o, got := newOrdered(s, false)
	for _, n := range []string{"a", "b"} {
		released, err := o.Queue(ctx, n, batch(n))
		if err != nil {
			t.Fatal(err)
		}
		if !released {
			t.Fatalf("%s: not released, though the emitter released it", n)
		}
	}
	if last, ok := o.Last(); !ok || last != "b" {
		t.Fatalf("Last = %q, %v; want b", last, ok)
	}
	if len(*got) != 0 {
		t.Fatalf("landed before anything was stored: %v", *got)
	}
	done := make(chan error)
	go func() { done <- o.Wait(ctx, 1) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned (%v) before the oldest batch was stored", err)
	case <-time.After(20 * time.Millisecond):
	}
	s.open("a")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := []outcome{{tag: "a", released: true}}; !slices.Equal(*got, want) {
		t.Fatalf("landed %v, want %v", *got, want)
	}
	if last, _ := o.Last(); last != "b" {
		t.Fatalf("Last = %q after a landed, want b", last)
	}
	s.open("b")
	if err := o.Wait(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.Last(); ok {
		t.Fatal("Last reports a batch after everything landed")
	}
	if want := []string{"a", "b"}; !slices.Equal(s.storedNames(), want) {
		t.Fatalf("stored %v, want %v", s.storedNames(), want)
	}
}

// TestOrderedFailure: a failed batch takes the batches chained after it
// down. Without Retry, Wait returns the error and reports every batch; with
// Retry, the failed ones are stored again with Emit, in order, before the
// next batch queued, even when Emit fails too for a while.
func TestOrderedFailure(t *testing.T) {
	cases := []struct {
		name       string
		retry      bool
		failEmit   int
		wantErr    bool
		wantStored []string
		wantLanded []outcome
	}{
		{
			name: "stop", retry: false, wantErr: true,
			wantStored: []string{"a"},
			wantLanded: []outcome{{tag: "a", released: true}, {tag: "b", failed: true}, {tag: "c", failed: true}},
		},
		{
			name: "retry", retry: true, failEmit: 2,
			wantStored: []string{"a", "b", "c", "d"},
			// Not released: a batch kept for a retry is released only once
			// stored, and one stored again with Emit never is.
			wantLanded: []outcome{{tag: "a", released: true}, {tag: "b"}, {tag: "c"}, {tag: "d", released: true}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newScript()
			s.released = true
			s.failAsync["b"] = true
			s.failEmit = tc.failEmit
			o, got := newOrdered(s, tc.retry)
			for _, n := range []string{"a", "b", "c"} {
				if _, err := o.Queue(ctx, n, batch(n)); err != nil {
					t.Fatal(err)
				}
			}
			s.open("a", "b", "c")
			err := o.Wait(ctx, 1) // b fails: c is settled too
			if (err != nil) != tc.wantErr {
				t.Fatalf("Wait: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, errDisk) {
				t.Fatalf("Wait: %v, want the failure of b", err)
			}
			if _, ok := o.Last(); ok {
				t.Fatal("batches left in flight after a failure")
			}
			if tc.retry {
				if _, err := o.Queue(ctx, "d", batch("d")); err != nil {
					t.Fatal(err)
				}
				s.open("d")
				if err := o.Wait(ctx, 0); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(s.storedNames(), tc.wantStored) {
				t.Fatalf("stored %v, want %v", s.storedNames(), tc.wantStored)
			}
			if !slices.Equal(*got, tc.wantLanded) {
				t.Fatalf("landed %v, want %v", *got, tc.wantLanded)
			}
		})
	}
}

// TestOrderedRetryGivesUpWithContext: with Retry, a batch is retried until
// ctx ends; then it and those behind it are reported lost, never stored
// out of order.
func TestOrderedRetryGivesUpWithContext(t *testing.T) {
	s := newScript()
	s.failAsync["a"] = true
	s.failEmit = 1 << 30 // the disk never recovers
	o, got := newOrdered(s, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const tries = 3
	s.onEmit = func(n int) {
		if n == tries {
			cancel() // a shutdown while the third attempt runs
		}
	}
	for _, n := range []string{"a", "b"} {
		if _, err := o.Queue(ctx, n, batch(n)); err != nil {
			t.Fatal(err)
		}
	}
	s.open("a", "b")
	err := o.Wait(ctx, 0)
	if !errors.Is(err, errDisk) {
		t.Fatalf("Wait: %v, want the disk error", err)
	}
	if want := []outcome{{tag: "a", failed: true}, {tag: "b", failed: true}}; !slices.Equal(*got, want) {
		t.Fatalf("landed %v, want %v", *got, want)
	}
	if len(s.storedNames()) != 0 {
		t.Fatalf("stored %v after giving up", s.storedNames())
	}
	if s.emits != tries {
		t.Fatalf("%d Emit calls, want %d: no retry once ctx ended", s.emits, tries)
	}
}

// syncOnly hides EmitAsync.
type syncOnly struct{ component.Emitter }

// TestOrderedWithoutAsync: with an Emitter that is not an AsyncEmitter,
// Queue stores at once and reports the batch before it returns.
func TestOrderedWithoutAsync(t *testing.T) {
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprintf("retry=%v", retry), func(t *testing.T) {
			s := newScript()
			s.failEmit = 1
			o, got := newOrdered(syncOnly{s}, retry)
			_, err := o.Queue(context.Background(), "a", batch("a"))
			if (err != nil) == retry {
				t.Fatalf("Queue: %v (retry %v)", err, retry)
			}
			want := []outcome{{tag: "a", failed: true}}
			if retry {
				want = []outcome{{tag: "a"}}
			}
			if !slices.Equal(*got, want) {
				t.Fatalf("landed %v, want %v", *got, want)
			}
			if _, ok := o.Last(); ok {
				t.Fatal("a synchronous batch is left in flight")
			}
		})
	}
}
