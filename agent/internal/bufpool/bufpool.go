// Package bufpool recycles large byte buffers: encoded batches and buffer
// chunks of a few hundred kilobytes, taken and given back hundreds of times
// a second. Unlike sync.Pool it keeps its buffers across garbage
// collections (which, at that rate, come several times a second and would
// empty a sync.Pool each time); it keeps at most Max of them, so the memory
// it holds while idle stays bounded.
package bufpool

import "sync"

// Pool is a bounded free list of byte buffers. The zero value keeps
// nothing; set Max and MaxCap before use. It is safe for concurrent use.
type Pool struct {
	// Max is how many free buffers are kept.
	Max int
	// MaxCap keeps rare huge buffers out: larger ones are dropped.
	MaxCap int

	mu   sync.Mutex
	free [][]byte
}

// Get returns an empty buffer with room for at least size bytes.
func (p *Pool) Get(size int) []byte {
	p.mu.Lock()
	// The smallest that fits: taking a larger one than needed leaves a
	// later, larger request without one (a chunk's body, then its
	// compressed copy, which may be a little larger).
	best := smallest(p.free, func(c int) bool { return c >= size })
	if best < 0 {
		p.mu.Unlock()
		return make([]byte, 0, size)
	}
	b := p.free[best]
	last := len(p.free) - 1
	p.free[best] = p.free[last]
	p.free[last] = nil
	p.free = p.free[:last]
	p.mu.Unlock()
	return b[:0]
}

// Put gives b back. b must not be used afterwards. When the pool is full,
// its smallest buffer makes room for a larger b.
func (p *Pool) Put(b []byte) {
	if cap(b) == 0 || cap(b) > p.MaxCap {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.Max {
		p.free = append(p.free, b[:0])
		return
	}
	if small := smallest(p.free, func(c int) bool { return c < cap(b) }); small >= 0 {
		p.free[small] = b[:0]
	}
}

// smallest returns the index of the smallest buffer in free whose capacity
// ok accepts, or -1.
func smallest(free [][]byte, ok func(capacity int) bool) int {
	best := -1
	for i, b := range free {
		if ok(cap(b)) && (best < 0 || cap(b) < cap(free[best])) {
			best = i
		}
	}
	return best
}
