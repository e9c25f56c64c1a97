package journald

import (
	"crypto/sha256"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hogtail/hogtail/agent/event"
)

// Fields journalctl adds to every entry that are not journal data: the
// cursor becomes the checkpoint and the uuid, the realtime stamp the event
// timestamp.
const (
	fieldCursor    = "__CURSOR"
	fieldRealtime  = "__REALTIME_TIMESTAMP"
	fieldMonotonic = "__MONOTONIC_TIMESTAMP"
)

var facilityNames = [24]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// priorityBoxed and facilityBoxed are the names as property values, boxed
// once instead of per event (read-only).
var (
	priorityBoxed = boxNames(priorityNames[:])
	facilityBoxed = boxNames(facilityNames[:])
)

func boxNames(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out
}

// entry is one journal entry as journalctl printed it.
type entry struct {
	cursor string
	// fields in journalctl's order; a value is a string, or an array of
	// strings for a field with several values.
	fields event.Map
	// realtime is __REALTIME_TIMESTAMP in microseconds, 0 when absent.
	realtime int64
	// base64 names the fields holding base64: binary values that are not
	// UTF-8.
	base64 []any
}

// mapper turns entries into events.
type mapper struct {
	event, distinctID, host string
	// hostBoxed is host as a property value, boxed once.
	hostBoxed      any
	excludeUnits   map[string]bool
	excludeMatches map[string]map[string]bool
}

func newMapper(c *Config, host string) *mapper {
	m := &mapper{event: c.Event, distinctID: c.DistinctID, host: host, hostBoxed: host}
	if m.distinctID == "" {
		m.distinctID = host
	}
	if len(c.ExcludeUnits) > 0 {
		m.excludeUnits = map[string]bool{}
		for _, u := range c.ExcludeUnits {
			m.excludeUnits[unitName(u)] = true
		}
	}
	if len(c.ExcludeMatches) > 0 {
		m.excludeMatches = map[string]map[string]bool{}
		for field, values := range c.ExcludeMatches {
			set := map[string]bool{}
			for _, v := range values {
				set[v] = true
			}
			m.excludeMatches[field] = set
		}
	}
	return m
}

// excluded reports whether exclude_units or exclude_matches skip e.
func (m *mapper) excluded(e *entry) bool {
	if m.excludeUnits != nil {
		if u, ok := e.fields.GetString("_SYSTEMD_UNIT"); ok && m.excludeUnits[u] {
			return true
		}
	}
	for field, set := range m.excludeMatches {
		v, ok := e.fields.Get(field)
		if !ok {
			continue
		}
		switch t := v.(type) {
		case string:
			if set[t] {
				return true
			}
		case []any:
			for _, x := range t {
				if s, ok := x.(string); ok && set[s] {
					return true
				}
			}
		}
	}
	return false
}

// toEvent maps an entry to an event. Properties: message (MESSAGE), severity
// and severity_code (from PRIORITY), facility and facility_code (from
// SYSLOG_FACILITY), then every journal field under its own name, then
// $host. Binary values are decoded as UTF-8 when valid, else kept as base64
// and named in $base64_fields.
func (m *mapper) toEvent(e *entry, now time.Time) *event.Event {
	ev := &event.Event{Event: m.event, DistinctID: m.distinctID}
	ts := now
	if e.realtime > 0 {
		ts = time.UnixMicro(e.realtime)
	}
	ev.Timestamp = event.FormatTime(ts)
	ev.UUID = entryUUID(e.cursor, ts)

	// message and the names derived from PRIORITY and SYSLOG_FACILITY
	// come first, then the journal's fields in journalctl's order: a first
	// pass finds those three, a second appends the rest into the same
	// slice (one allocation per event, values boxed once).
	props := make(event.Map, 1, len(e.fields)+7)
	props[0] = event.Field{Key: "message", Value: ""}
	for _, f := range e.fields {
		switch f.Key {
		case "MESSAGE":
			props[0].Value = f.Value
		case "PRIORITY":
			if n, ok := smallInt(f.Value, len(priorityNames)); ok {
				props = append(props, event.Field{Key: "severity", Value: priorityBoxed[n]},
					event.Field{Key: "severity_code", Value: int64(n)})
			}
		case "SYSLOG_FACILITY":
			if n, ok := smallInt(f.Value, len(facilityNames)); ok {
				props = append(props, event.Field{Key: "facility", Value: facilityBoxed[n]},
					event.Field{Key: "facility_code", Value: int64(n)})
			}
		}
	}
	for _, f := range e.fields {
		switch f.Key {
		case fieldCursor, fieldRealtime, fieldMonotonic, "MESSAGE":
			continue
		}
		props = append(props, f)
	}
	if len(e.base64) > 0 {
		props = append(props, event.Field{Key: "$base64_fields", Value: e.base64})
	}
	props = append(props, event.Field{Key: "$host", Value: m.hostBoxed})
	ev.Properties = props
	return ev
}

// smallInt reads a journal field holding a number in [0, n).
func smallInt(v any, n int) (int, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < n
}

// entryUUID derives the event uuid from the entry's cursor, so that an
// entry read again (after its checkpoint was lost with the buffer) gets the
// same uuid and PostHog deduplicates it. The value has the UUIDv7 layout:
// the entry's time in milliseconds, then 74 bits of the cursor's SHA-256
// in place of random bits. An entry without a cursor gets a random v7.
func entryUUID(cursor string, ts time.Time) string {
	if cursor == "" {
		return event.NewUUID()
	}
	sum := sha256.Sum256([]byte(cursor))
	var u [16]byte
	ms := uint64(ts.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | sum[0]&0x0f
	u[7] = sum[1]
	u[8] = 0x80 | sum[2]&0x3f
	copy(u[9:], sum[3:10])
	return uuid.UUID(u).String()
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
