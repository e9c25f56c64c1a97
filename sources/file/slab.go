package file

import (
	"sync"

	"github.com/hogtail/hogtail/agent/event"
)

// perEvent is the number of properties a text-codec line carries: message,
// $file, $host, $offset. A split line's $line_split (rare) reallocates.
const perEvent = 4

// slab is the memory of one batch's events: the events themselves, their
// offsets and, for the text codec, their properties and messages. A batch
// of 2000 lines takes close to 1 MB of them; allocated afresh for every
// batch, that memory was zeroed and faulted in again each time, a visible
// share of a tail's CPU.
// Its Int64s are the events' offsets, its Strings their messages.
type slab struct{ event.Slab }

// take returns the slab's memory for n events; fields and msgs only when
// text is set. Everything returned is zero.
func (sl *slab) take(n int, text bool) ([]event.Event, []int64, []event.Field, []string) {
	if cap(sl.Events) < n {
		sl.Events, sl.Int64s = make([]event.Event, n), make([]int64, n)
	}
	if text && cap(sl.Strings) < n {
		sl.Fields, sl.Strings = make([]event.Field, n*perEvent), make([]string, n)
	}
	var fields []event.Field
	var msgs []string
	if text {
		fields, msgs = sl.Fields[:n*perEvent], sl.Strings[:n]
	}
	return sl.Events[:n], sl.Int64s[:n], fields, msgs
}

// slabs is a bounded free list of slabs. A slab goes back only when the
// emitter reported that nothing refers to its events any more
// (component.Recycler): their boxed values point into it, so it must not
// be written while an event built from it is in use.
type slabs struct {
	mu   sync.Mutex
	free []*slab
	max  int
}

func (p *slabs) get() *slab {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		sl := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		sl.Reuse()
		return sl
	}
	return &slab{}
}

// put gives back a slab whose events nothing refers to any more, zeroed
// so that it keeps no line alive while it waits (see event.Slab.Release).
func (p *slabs) put(sl *slab) {
	sl.Release(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.max {
		p.free = append(p.free, sl)
	}
}
