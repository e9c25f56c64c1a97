package main

import (
	"context"
	"errors"
	"testing"
)

func TestPacer(t *testing.T) {
	ctx := context.Background()
	flushes := 0
	// 100k lines/s: a flush every 1000 lines (one 10 ms tick).
	p := newPacer(100_000, func() error { flushes++; return nil })
	for i := 0; i < 3000; i++ {
		if err := p.wrote(ctx, i); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
	}
	if flushes != 3 {
		t.Errorf("%d flushes for 3000 lines at 1000 a tick, want 3", flushes)
	}

	// A slow rate still flushes every line.
	flushes = 0
	p = newPacer(1, func() error { flushes++; return nil })
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.wrote(canceled, 0); !errors.Is(err, context.Canceled) || flushes != 1 {
		t.Errorf("rate 1: err %v after %d flushes, want the flush then canceled", err, flushes)
	}

	boom := errors.New("disk full")
	p = newPacer(100, func() error { return boom })
	if err := p.wrote(ctx, 0); !errors.Is(err, boom) {
		t.Errorf("flush error: got %v, want %v", err, boom)
	}

	// Flat out: never flushes, but notices a canceled context.
	p = newPacer(0, func() error { t.Fatal("flat out must not flush"); return nil })
	if err := p.wrote(canceled, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("flat out, canceled: got %v", err)
	}
	if err := p.wrote(canceled, 1); err != nil {
		t.Errorf("flat out checks the context every 4096 lines only, got %v at line 1", err)
	}
}
