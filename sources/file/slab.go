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
type slab struct {
	evs    []event.Event
	offs   []int64
	fields []event.Field
	msgs   []string
}

// take returns the slab's memory for n events; fields and msgs only when
// text is set. Everything returned is zero.
func (sl *slab) take(n int, text bool) ([]event.Event, []int64, []event.Field, []string) {
	if cap(sl.evs) < n {
		sl.evs, sl.offs = make([]event.Event, n), make([]int64, n)
	}
	if text && cap(sl.msgs) < n {
		sl.fields, sl.msgs = make([]event.Field, n*perEvent), make([]string, n)
	}
	var fields []event.Field
	var msgs []string
	if text {
		fields, msgs = sl.fields[:n*perEvent], sl.msgs[:n]
	}
	return sl.evs[:n], sl.offs[:n], fields, msgs
}

// reset zeroes what a batch wrote, so that a slab waiting in the free list
// keeps no line alive.
func (sl *slab) reset() {
	clear(sl.evs)
	clear(sl.offs)
	clear(sl.fields)
	clear(sl.msgs)
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
		if event.PoisonReleased {
			sl.reset() // take hands out zeroed memory
		}
		return sl
	}
	return &slab{}
}

// put gives back a slab whose events nothing refers to any more. With the
// hogtailpoison build tag it is poisoned rather than zeroed, so that a
// holder of one of its events reads event.Poison.
func (p *slabs) put(sl *slab) {
	if event.PoisonReleased {
		event.PoisonEvents(sl.evs)
		event.PoisonInt64s(sl.offs)
		event.PoisonFields(sl.fields)
		event.PoisonStrings(sl.msgs)
	} else {
		sl.reset()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.max {
		p.free = append(p.free, sl)
	}
}
