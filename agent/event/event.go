// Package event defines the PostHog event that flows through hogtail, and its
// JSON encoding.
package event

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// TimeFormat is the ISO-8601 layout hogtail writes timestamps in: UTC with
// milliseconds, as posthog-js and posthog-node do.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Event is a PostHog event. The uuid is assigned once, when the event enters
// the agent, and never changes afterwards so that PostHog can deduplicate
// redeliveries.
type Event struct {
	UUID       string
	Event      string
	DistinctID string
	// Timestamp is an ISO-8601 string, kept verbatim from the input when it
	// had one: PostHog deduplicates on it, so it must not be re-formatted.
	// An input timestamp that was a JSON number (epoch milliseconds, as some
	// SDKs send) is kept as its text with TimestampIsNumber set, and written
	// back as a number.
	Timestamp         string
	TimestampIsNumber bool
	Properties        Map

	// PostHog extras, encoded only when set.
	Set     Map // $set
	SetOnce Map // $set_once
	IP      string
	SiteURL string
	TeamID  int64
	Now     string
	SentAt  string

	// Extra holds any other top-level keys of an input event (offset,
	// elements, person, ...) so that they pass through unchanged.
	Extra Map
}

// New returns an event with a fresh UUIDv7 and the current time.
func New(name, distinctID string) *Event {
	return &Event{
		UUID:       NewUUID(),
		Event:      name,
		DistinctID: distinctID,
		Timestamp:  FormatTime(time.Now()),
	}
}

// NewUUID returns a UUIDv7 string. v7 ids are time-ordered, which keeps
// PostHog's storage happy, and unique across restarts.
func NewUUID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 only fails when the system random source fails.
		panic(fmt.Sprintf("hogtail: cannot generate uuid: %v", err))
	}
	return id.String()
}

// FormatTime formats t the way hogtail writes timestamps.
func FormatTime(t time.Time) string {
	return t.UTC().Format(TimeFormat)
}

// EnsureIdentity gives the event a uuid and a timestamp if it lacks them.
// Sources call it on events that arrive from outside (HTTP, JSON lines).
// An event with an offset instead of a timestamp keeps no timestamp, as in
// PostHog, where plugins see it that way; it gets a now (the receive time)
// if it has none, and is stored with now − offset (see OffsetTimestamp),
// the same on every redelivery.
func (e *Event) EnsureIdentity(now time.Time) {
	if e.UUID == "" {
		e.UUID = NewUUID()
	}
	if e.Timestamp != "" {
		return
	}
	if _, ok := e.offset(); ok {
		if _, err := time.Parse(time.RFC3339Nano, e.Now); err != nil {
			e.Now = FormatTime(now)
		}
		return
	}
	e.Timestamp = FormatTime(now)
}

// offset returns the event's offset (milliseconds before now), if it has
// a numeric one.
func (e *Event) offset() (time.Duration, bool) {
	v, ok := e.Extra.Get("offset")
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return time.Duration(n) * time.Millisecond, true
	case float64:
		if n != n || n > 1e15 || n < -1e15 {
			return 0, false
		}
		return time.Duration(n * float64(time.Millisecond)), true
	}
	return 0, false
}

// OffsetTimestamp is the timestamp PostHog capture gives an event that has
// an offset but no timestamp: now − offset. It is empty when the event has
// a timestamp, no numeric offset or no parsable now.
func (e *Event) OffsetTimestamp() string {
	if e.Timestamp != "" {
		return ""
	}
	off, ok := e.offset()
	if !ok {
		return ""
	}
	now, err := time.Parse(time.RFC3339Nano, e.Now)
	if err != nil {
		return ""
	}
	return FormatTime(now.Add(-off))
}

// AppendStoredJSON appends the event as hogtail stores it for delivery:
// an event that came with an offset and no timestamp gets the timestamp
// PostHog computes (OffsetTimestamp), after every transform ran on it
// without one, as PostHog's plugins see it; every redelivery then carries
// the same timestamp.
func (e *Event) AppendStoredJSON(dst []byte) []byte {
	if ts := e.OffsetTimestamp(); ts != "" {
		c := *e
		c.Timestamp = ts
		return c.AppendJSON(dst)
	}
	return e.AppendJSON(dst)
}

// Clone returns a deep copy of the event.
func (e *Event) Clone() *Event {
	c := *e
	c.Properties = e.Properties.Clone()
	c.Set = e.Set.Clone()
	c.SetOnce = e.SetOnce.Clone()
	c.Extra = e.Extra.Clone()
	return &c
}

// TimeFormatter formats timestamps like FormatTime, caching the text of the
// last second: log sources format a timestamp per event, mostly within the
// same second, and time.Format was a visible share of their CPU. Not safe
// for concurrent use.
type TimeFormatter struct {
	sec    int64
	prefix string // "2006-01-02T15:04:05." of sec, UTC
	ms     int    // of last
	last   string // the last result, returned again for the same millisecond
}

// Format returns FormatTime(t).
func (f *TimeFormatter) Format(t time.Time) string {
	t = t.UTC()
	ms := t.Nanosecond() / 1e6
	if sec := t.Unix(); sec != f.sec || f.prefix == "" {
		f.sec, f.last = sec, ""
		f.prefix = t.Format("2006-01-02T15:04:05.")
	} else if ms == f.ms && f.last != "" {
		return f.last
	}
	var b [4]byte
	b[0], b[1], b[2], b[3] = byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z'
	f.ms, f.last = ms, f.prefix+string(b[:])
	return f.last
}
