package connectors

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/google/uuid"
	"github.com/hogtail/hogtail/agent/event"
)

// timestampNumber parses the text of a numeric timestamp (epoch ms).
func timestampNumber(s string) (any, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return f, true
	}
	return nil, false
}

// timestampValue is event.timestamp as a plugin sees it: the string it came
// as, a number for an epoch-ms timestamp, undefined when the event has none
// (an event with only an offset, as in PostHog).
func timestampValue(vm *goja.Runtime, ev *event.Event) goja.Value {
	if ev.Timestamp == "" {
		return nil
	}
	if ev.TimestampIsNumber {
		if n, ok := timestampNumber(ev.Timestamp); ok {
			return vm.ToValue(n)
		}
	}
	return vm.ToValue(ev.Timestamp)
}

// setTimestamp stores what a plugin assigns to event.timestamp: a number
// stays a number, a Date becomes its ISO string, anything else its string.
func setTimestamp(ev *event.Event, v goja.Value) {
	if v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
		if _, isObj := v.(*goja.Object); !isObj {
			switch n := primitive(v).(type) {
			case int64:
				ev.Timestamp, ev.TimestampIsNumber = strconv.FormatInt(n, 10), true
				return
			case float64:
				ev.Timestamp, ev.TimestampIsNumber = strconv.FormatFloat(n, 'f', -1, 64), true
				return
			}
		}
	}
	ev.Timestamp, ev.TimestampIsNumber = jsString(v), false
}

// isoLayouts are the ISO 8601 forms of a timestamp PostHog parses (luxon's
// fromISO); one without a zone is UTC, as on PostHog's servers.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02",
}

// eventTime is the instant of the event's timestamp in any form PostHog
// accepts: ISO 8601 / RFC 3339, epoch milliseconds (number), or, without a
// timestamp, now − offset. ok is false when there is none or it does not
// parse.
func eventTime(ev *event.Event) (time.Time, bool) {
	ts := ev.Timestamp
	if ts == "" {
		ts = ev.OffsetTimestamp()
	}
	if ts == "" {
		return time.Time{}, false
	}
	if ev.TimestampIsNumber {
		n, _ := timestampNumber(ts)
		switch n := n.(type) {
		case int64:
			return time.UnixMilli(n).UTC(), true
		case float64:
			return time.UnixMicro(int64(n * 1000)).UTC(), true
		}
		return time.Time{}, false
	}
	s := strings.TrimSpace(ts)
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// jsDate builds a JS Date of the event's timestamp; an Invalid Date when it
// has none that parses (never the current time: that would misdate the
// event silently).
func jsDate(vm *goja.Runtime, ev *event.Event) goja.Value {
	ms := math.NaN()
	if t, ok := eventTime(ev); ok {
		ms = float64(t.UnixMilli())
	}
	d, err := vm.New(vm.Get("Date"), vm.ToValue(ms))
	if err != nil {
		return goja.Undefined()
	}
	return d
}

// isoTimestamp is the ISO string of the event's timestamp for onEvent's
// ProcessedPluginEvent (PostHog passes the stored ISO timestamp); the
// original text when it does not parse.
func isoTimestamp(ev *event.Event) string {
	if t, ok := eventTime(ev); ok && (ev.TimestampIsNumber || ev.Timestamp == "") {
		return event.FormatTime(t)
	}
	return ev.Timestamp
}

// validUUID reports whether s is a UUID PostHog stores, in canonical form
// (lower case, 36 characters).
func validUUID(s string) (string, bool) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil || len(s) != 36 {
		return "", false
	}
	return id.String(), true
}
