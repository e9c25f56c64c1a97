package event

// Poison is what released memory holds in a build with the hogtailpoison
// tag: every string of a released event, property or boxed value, so that
// anything still reading it after its source reused it sees this instead
// of plausible data. (Bytes of released read buffers hold PoisonByte.)
const Poison = "\uFFFDreleased\uFFFD"

// PoisonByte fills released byte buffers in a build with the hogtailpoison
// tag: it is never valid UTF-8, so a string viewed into such a buffer
// reads as garbage, not as another line.
const PoisonByte = 0xFF

// PoisonReleased reports whether this build poisons released memory
// (go test -tags hogtailpoison). Sources check it where they hand memory
// back for reuse; without the tag the checks compile away.
const PoisonReleased = poisonReleased

var poisonMap = Map{{Key: Poison, Value: Poison}}

// PoisonEvents overwrites released events with Poison.
func PoisonEvents(evs []Event) {
	for i := range evs {
		evs[i] = Event{UUID: Poison, Event: Poison, DistinctID: Poison, Timestamp: Poison,
			Properties: poisonMap, IP: Poison, Now: Poison, SentAt: Poison}
	}
}

// PoisonFields overwrites released properties with Poison.
func PoisonFields(fs []Field) {
	for i := range fs {
		fs[i] = Field{Key: Poison, Value: Poison}
	}
}

// PoisonStrings overwrites released boxed strings with Poison.
func PoisonStrings(ss []string) {
	for i := range ss {
		ss[i] = Poison
	}
}

// PoisonInt64s overwrites released boxed integers with -1.
func PoisonInt64s(ns []int64) {
	for i := range ns {
		ns[i] = -1
	}
}

// PoisonBytes fills a released buffer with PoisonByte.
func PoisonBytes(b []byte) {
	for i := range b {
		b[i] = PoisonByte
	}
}
