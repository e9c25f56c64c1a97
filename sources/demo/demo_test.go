package demo

import (
	"context"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

func TestCountAndResumeFromCheckpoint(t *testing.T) {
	em := componenttest.NewEmitter()
	set := componenttest.Settings("demo", t.TempDir())
	set.Checkpoints = em
	run := func(count int64) {
		f := NewFactory()
		cfg := f.NewConfig().(*Config)
		cfg.Rate, cfg.Count, cfg.BatchSize = 0, count, 7
		src, err := f.CreateSource(cfg, set)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := src.Run(ctx, em); err != nil {
			t.Fatal(err)
		}
	}
	run(20)
	run(50) // resumes at 20
	evs := em.Events()
	if len(evs) != 50 {
		t.Fatalf("got %d events, want 50", len(evs))
	}
	for i, e := range evs {
		if seq, _ := e.Properties.Get("seq"); seq != int64(i) {
			t.Fatalf("event %d has seq %v", i, seq)
		}
	}
}

func TestRateLimits(t *testing.T) {
	em := componenttest.NewEmitter()
	f := NewFactory()
	cfg := f.NewConfig().(*Config)
	cfg.Rate = 50
	src, _ := f.CreateSource(cfg, componenttest.Settings("demo", t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := src.Run(ctx, em); err != nil {
		t.Fatal(err)
	}
	// 50/s for 0.3 s: about 15; far from the thousands an unlimited run makes.
	if n := em.Len(); n < 5 || n > 40 {
		t.Fatalf("emitted %d events in 300ms at rate 50/s", n)
	}
}
