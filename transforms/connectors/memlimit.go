package connectors

import (
	"fmt"
	rtmetrics "runtime/metrics"
	"sync"
	"time"
)

// memCheckInterval is how often the memory guard samples the heap while
// calls run. A connector doubling a string reaches the next power of two in
// tens of milliseconds once it is past 100 MiB, so 10ms keeps the overshoot
// within about one doubling.
const memCheckInterval = 10 * time.Millisecond

// heapMetric is the runtime's count of bytes in heap objects, live or not
// yet swept: it grows with every allocation and reading it does not stop
// the world.
const heapMetric = "/memory/classes/heap/objects:bytes"

// errMemory is the value a call is interrupted with when the heap grew past
// max_memory during it.
type errMemory struct{ limit uint64 }

func (e errMemory) Error() string {
	return fmt.Sprintf("connector stopped: the heap grew by more than max_memory (%d MiB) during this call", e.limit>>20)
}

// memGuard stops connector calls that allocate without bound. goja has no
// heap limit of its own, and one runtime doubling a string kills the whole
// process with "fatal error: out of memory". The guard samples the process
// heap while calls run; a call during which the heap grew by more than limit
// is interrupted (vm.Interrupt, as the timeout does), its event follows
// on_error and its runtime is replaced, which frees what it held.
//
// The heap is the process's, not the runtime's (Go cannot tell which
// goroutine allocated what), so growth is measured from a sample taken
// while the call runs: a call that started after the growth began is
// measured from a higher base and is not blamed for it. Calls take
// microseconds, so the heap is read only for a call that a tick finds
// still running after the previous one: the steady state reads no metric.
type memGuard struct {
	limit uint64

	mu      sync.Mutex
	watched map[*instance]*memWatch
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

// memWatch is what the guard knows of one instance's current call.
type memWatch struct {
	seq   uint64 // the call (instance.callSeq) last seen running
	based bool   // base is set for seq
	base  uint64 // heap bytes when the guard saw seq running a second time
}

func newMemGuard(limit uint64) *memGuard {
	return &memGuard{limit: limit, watched: map[*instance]*memWatch{}}
}

// register starts watching an instance's calls; the sampling goroutine
// starts with the first instance. A guard with no limit does nothing.
func (g *memGuard) register(in *instance) {
	if g == nil || g.limit == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.watched[in] = &memWatch{}
	if g.stop == nil {
		g.stop, g.done = make(chan struct{}), make(chan struct{})
		go g.run(g.stop, g.done)
	}
}

// unregister stops watching an instance (torn down or discarded).
func (g *memGuard) unregister(in *instance) {
	if g == nil || g.limit == 0 {
		return
	}
	g.mu.Lock()
	delete(g.watched, in)
	g.mu.Unlock()
}

// close stops the sampling goroutine and waits for it.
func (g *memGuard) close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.closed = true
	stop, done := g.stop, g.done
	g.stop = nil
	g.watched = map[*instance]*memWatch{}
	g.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (g *memGuard) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(memCheckInterval)
	defer tick.Stop()
	sample := []rtmetrics.Sample{{Name: heapMetric}}
	heap := func() uint64 {
		rtmetrics.Read(sample)
		if sample[0].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			g.check(heap)
		}
	}
}

// check compares the heap with the base of every call that has been
// running since the previous tick; readHeap is called at most once.
func (g *memGuard) check(readHeap func() uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var heap uint64
	read := false
	for in, w := range g.watched {
		in.mu.Lock()
		switch {
		case !in.armed:
		case in.callSeq != w.seq:
			w.seq, w.based = in.callSeq, false
		default:
			if !read {
				heap, read = readHeap(), true
			}
			switch {
			case !w.based:
				w.base, w.based = heap, true
			case heap > w.base && heap-w.base > g.limit && !in.fired:
				in.fired = true
				in.firedErr = errMemory{g.limit}
				in.vm.Interrupt(in.firedErr)
			}
		}
		in.mu.Unlock()
	}
}
