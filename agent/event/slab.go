package event

// Slab is memory that a source builds events from and reuses: the events
// themselves, their property slots, the strings and integers their boxed
// values point at (BoxString, BoxInt64) and the text their strings view
// (UnsafeString). Allocating it once per batch or block instead of per
// event is what makes a busy source cheap; reusing it is safe only once
// nothing refers to what was built from it: the agent says so (see
// component.Recycler), and the source then calls Release before it builds
// from the slab again.
type Slab struct {
	Events  []Event
	Fields  []Field
	Strings []string
	Int64s  []int64
	Text    []byte
}

// Release hands the slab back for reuse. Events are zeroed (a source
// expects zero events when it builds again); with scrub the other parts
// are zeroed too, so that a slab waiting for reuse keeps nothing it
// pointed to alive (without, they are overwritten before they are read
// again, which is cheaper). Built with -tags hogtailpoison, everything is
// overwritten with Poison (PoisonByte for Text, up to its capacity)
// instead, so that anything still reading it shows; Reuse then zeroes the
// events.
func (s *Slab) Release(scrub bool) {
	if PoisonReleased {
		PoisonEvents(s.Events)
		PoisonFields(s.Fields)
		PoisonStrings(s.Strings)
		PoisonInt64s(s.Int64s)
		PoisonBytes(s.Text[:cap(s.Text)])
		return
	}
	clear(s.Events)
	if scrub {
		clear(s.Fields)
		clear(s.Strings)
		clear(s.Int64s)
	}
}

// Reuse prepares a released slab for building again: nothing to do
// unless Release poisoned its events.
func (s *Slab) Reuse() {
	if PoisonReleased {
		clear(s.Events)
	}
}
