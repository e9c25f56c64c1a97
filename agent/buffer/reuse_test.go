package buffer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// TestRecycledReadBuffersKeepLeases: the buffers chunks are decompressed
// into are recycled once a chunk is fully acknowledged. Records of leases
// not yet acknowledged must keep their content while later chunks are
// loaded into recycled buffers, whatever the order of the acks.
func TestRecycledReadBuffersKeepLeases(t *testing.T) {
	b := openQueue(t, "s", 256<<20)
	// A recycling bug can corrupt chunks beyond decoding: fail, do not hang.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const chunks, per = 60, 250
	rec := func(c, i int) string {
		// Compressible (so chunks are S2) and distinct per record.
		return fmt.Sprintf(`{"chunk":%d,"i":%d,"pad":"%0200d"}`, c, i, c*per+i)
	}
	for c := 0; c < chunks; c++ {
		recs := make([][]byte, per)
		for i := range recs {
			recs[i] = []byte(rec(c, i))
		}
		if err := b.Commit(ctx, &Commit{Appends: []Append{{Queue: "s", Records: recs}}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := b.Reader("s")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, 0, chunks*per)
	for c := 0; c < chunks; c++ {
		for i := 0; i < per; i++ {
			want = append(want, rec(c, i))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, 4) // leases in flight, acked out of order
	next := 0
	for next < len(want) {
		l, err := r.Next(ctx, 1+rand.IntN(400), 1<<30, 0)
		if err != nil {
			t.Fatal(err)
		}
		first := next
		next += len(l.Records)
		copies := make([]string, len(l.Records))
		for i, rr := range l.Records {
			copies[i] = string(rr)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
			for i, rr := range l.Records {
				if string(rr) != want[first+i] || copies[i] != want[first+i] {
					select {
					case errs <- fmt.Errorf("record %d changed while leased: %.60s, want %.60s", first+i, rr, want[first+i]):
					default:
					}
					return
				}
			}
			r.Ack(l)
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	componenttest.Eventually(t, 5*time.Second, "queue s to empty", func() bool { st, _ := b.Stats("s"); return st.Records == 0 })
}
