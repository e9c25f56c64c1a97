package httpsource

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hogtail/hogtail/agent/event"
)

// maxDistinctIDLen is where PostHog capture truncates distinct ids (chars).
const maxDistinctIDLen = 200

// rejection reports one bad item of a request.
type rejection struct {
	Index int    `json:"index"`
	Code  string `json:"code"`
	Error string `json:"error"`
	// raw is the text of an item refused without being decoded (too
	// large), where its project token can still be found (rawItemToken).
	raw []byte
}

// batchInfo holds what a request says about all of its events.
type batchInfo struct {
	token      string // batch-level api_key / token
	sentAt     string
	historical bool
	now        string
	clientIP   string
}

func firstString(m event.Map, keys ...string) string {
	for _, k := range keys {
		if s, ok := m.GetString(k); ok && s != "" {
			return s
		}
	}
	return ""
}

// itemToken is the project token an event carries itself.
func itemToken(m event.Map) string {
	if s := firstString(m, "api_key", "token", "$token"); s != "" {
		return s
	}
	if p, ok := m.Get("properties"); ok {
		if pm, ok := p.(event.Map); ok {
			return firstString(pm, "token")
		}
	}
	return ""
}

// rawItemToken is itemToken of an item's JSON text, found without decoding
// the item: only the values of the keys it looks at are decoded.
func rawItemToken(raw []byte) string {
	var tok, propTok string
	eachKey(raw, func(key string, v []byte) {
		switch key {
		case "api_key", "token", "$token":
			if s, ok := rawString(v); ok && s != "" && tok == "" {
				tok = s
			}
		case "properties":
			eachKey(v, func(key string, v []byte) {
				if key == "token" {
					propTok, _ = rawString(v)
				}
			})
		}
	})
	if tok != "" {
		return tok
	}
	return propTok
}

// eachKey calls fn with each key of the JSON object text b and the text of
// its value, skipping values without decoding them. It stops quietly at
// anything that is not an object.
func eachKey(b []byte, fn func(key string, value []byte)) {
	i := event.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i = event.SkipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		kEnd := event.SkipString(b, i)
		if kEnd < 0 {
			return
		}
		key, ok := rawString(b[i:kEnd])
		i = event.SkipSpace(b, kEnd)
		if !ok || i >= len(b) || b[i] != ':' {
			return
		}
		i = event.SkipSpace(b, i+1)
		end := event.SkipValue(b, i)
		if end < 0 {
			return
		}
		fn(key, b[i:end])
		i = event.SkipSpace(b, end)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i = event.SkipSpace(b, i+1)
	}
}

// rawString decodes the JSON text of a string.
func rawString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' {
		return "", false
	}
	v, err := event.ParseValue(b)
	s, ok := v.(string)
	return s, err == nil && ok
}

var errNoDistinctID = errors.New("missing distinct_id")

// fixDistinctID applies PostHog's lookup order: top-level distinct_id, then
// $distinct_id, then properties.distinct_id; non-strings are stringified and
// the result is truncated to 200 characters.
func fixDistinctID(ev *event.Event) {
	if ev.DistinctID == "" {
		if v, ok := ev.Extra.Get("$distinct_id"); ok {
			ev.DistinctID = stringify(v)
		}
	}
	if ev.DistinctID == "" {
		if v, ok := ev.Properties.Get("distinct_id"); ok {
			ev.DistinctID = stringify(v)
		}
	}
	if ev.DistinctID == "null" {
		ev.DistinctID = ""
	}
	if utf8.RuneCountInString(ev.DistinctID) > maxDistinctIDLen {
		r := []rune(ev.DistinctID)
		ev.DistinctID = string(r[:maxDistinctIDLen])
	}
}

func stringify(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	}
	return string(event.AppendValue(nil, v))
}

// fixUUID keeps a valid client uuid (in canonical form) and replaces an
// invalid one with a fresh UUIDv7: PostHog would drop the event otherwise.
// It reports whether the client's uuid was replaced.
func fixUUID(ev *event.Event) bool {
	if ev.UUID == "" {
		return false
	}
	id, err := uuid.Parse(ev.UUID)
	if err != nil || id == uuid.Nil {
		ev.UUID = ""
		return true
	}
	if len(ev.UUID) != 36 || ev.UUID != strings.ToLower(ev.UUID) {
		ev.UUID = id.String()
	}
	return false
}

// finish applies what every accepted event gets: batch-level fields, the
// receive time, the client address and its identity.
func (s *source) finish(ev *event.Event, b *batchInfo, now time.Time) {
	if ev.SentAt == "" {
		ev.SentAt = b.sentAt
	}
	// The receive time at the edge, whatever the client sent, as capture
	// uses its own clock: a client's now would move timestamps computed
	// from offset.
	ev.Now = b.now
	if b.historical {
		ev.Extra.Set("historical_migration", true)
	}
	if s.cfg.SetIP && b.clientIP != "" {
		if ev.IP == "" {
			ev.IP = b.clientIP
		}
		if _, ok := ev.Properties.Get("$ip"); !ok {
			ev.Properties = append(ev.Properties, event.Field{Key: "$ip", Value: b.clientIP})
		}
	}
	if ev.Properties == nil {
		ev.Properties = event.Map{}
	}
	// An event with an offset keeps no timestamp until it is written (see
	// event.EnsureIdentity), so connectors see it as PostHog plugins do.
	ev.EnsureIdentity(now)
}

// isRejection reports whether payload.each handed over an item it refused
// (not JSON on the generic endpoint, or too large to decode).
func isRejection(it any) bool {
	_, ok := it.(rejection)
	return ok
}

// captureEvent builds an event of a capture request, strictly as PostHog
// capture does: an event name and a distinct_id are required.
func (s *source) captureEvent(it any, b *batchInfo, now time.Time) (*event.Event, *rejection) {
	m, ok := it.(event.Map)
	if !ok {
		return nil, &rejection{Code: "invalid_event", Error: "event must be a JSON object"}
	}
	ev := &event.Event{}
	if err := ev.FromMap(m); err != nil {
		return nil, &rejection{Code: "invalid_event", Error: err.Error()}
	}
	if ev.Event == "" {
		return nil, &rejection{Code: "missing_event_name", Error: "missing event name"}
	}
	fixDistinctID(ev)
	if ev.DistinctID == "" {
		return nil, &rejection{Code: "missing_distinct_id", Error: errNoDistinctID.Error()}
	}
	if fixUUID(ev) {
		s.metrics.uuidReplaced.Inc()
	}
	// Capture honours only the batch-level flag (finish sets it): an
	// event's own historical_migration key would route it in the sink.
	ev.Extra.Delete("historical_migration")
	if b.token != "" && itemToken(m) == "" {
		// Keep the batch's project token with each event, outside its
		// properties, so that routing transforms can see it.
		ev.Extra = append(ev.Extra, event.Field{Key: "api_key", Value: b.token})
	}
	s.finish(ev, b, now)
	return ev, nil
}

// genericEvent builds an event of the generic endpoint: an object with an
// "event" key is an event (distinct_id defaulted), any other object is a
// log record that becomes the properties of a cfg.Event event.
func (s *source) genericEvent(it any, b *batchInfo, now time.Time) (*event.Event, *rejection) {
	m, ok := it.(event.Map)
	if !ok {
		return nil, &rejection{Code: "invalid_event", Error: "expected a JSON object"}
	}
	ev := &event.Event{}
	if _, isEvent := m.Get("event"); isEvent {
		if err := ev.FromMap(m); err != nil {
			return nil, &rejection{Code: "invalid_event", Error: err.Error()}
		}
		if ev.Event == "" {
			return nil, &rejection{Code: "missing_event_name", Error: "missing event name"}
		}
		fixDistinctID(ev)
		if fixUUID(ev) {
			s.metrics.uuidReplaced.Inc()
		}
	} else {
		ev.Event = s.cfg.Event
		ev.Properties = m
	}
	if ev.DistinctID == "" {
		ev.DistinctID = s.distinctID
	}
	s.finish(ev, b, now)
	return ev, nil
}
