package kafka

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/hogtail/hogtail/agent/event"
)

// The posthog_ingestion encoding writes what PostHog's capture service
// (rust/capture, CapturedEvent in rust/common/types/src/event.rs) produces to
// the events_plugin_ingestion topic, so that PostHog's ingestion consumes
// hogtail's records as if capture had received them:
//
//	{"uuid":..., "distinct_id":..., "ip":..., "data":"<the event JSON>",
//	 "now":..., "sent_at":..., "token":..., "event":..., "timestamp":...,
//	 "historical_migration":true}
//
// with Kafka headers token, distinct_id, timestamp (ms since the epoch),
// event, uuid, now (and historical_migration when true). See README.md for
// what is certain and what is not.

// Header keys, as capture writes them.
const (
	hdrToken      = "token"
	hdrDistinctID = "distinct_id"
	hdrTimestamp  = "timestamp"
	hdrEvent      = "event"
	hdrUUID       = "uuid"
	hdrNow        = "now"
	hdrHistorical = "historical_migration"
)

// maxIngestionHeaders is the most headers one posthog_ingestion record has.
const maxIngestionHeaders = 7

// span is a part of a batch's arena; slices are taken once the arena has
// stopped growing.
type span struct{ off, n int }

func (s span) of(arena []byte) []byte { return arena[s.off : s.off+s.n : s.off+s.n] }

// ingestionRecord is where the pieces of one posthog_ingestion record sit in
// the arena.
type ingestionRecord struct {
	value   span
	headers [maxIngestionHeaders]struct {
		key string
		val span
	}
	nh int
}

// appendIngestion appends the posthog_ingestion value of rec to arena and
// notes its parts (and header values) in out. now is the production time in
// hogtail's time format, used when the event carries no "now" of its own.
func appendIngestion(arena []byte, rec []byte, f *fields, tokenJSON []byte, token string, now []byte, out *ingestionRecord) ([]byte, error) {
	evNow := text(f.now)
	sentAt := text(f.sentAt)
	nowText := evNow
	if nowText == nil {
		nowText = now
	}
	data := rec
	if sentAt != nil && evNow == nil {
		// A sent_at with no edge receive time (a JSON line that carried
		// one): a consumer merging data over the envelope would correct
		// the timestamp against our production time, which changes on
		// every redelivery. Drop it from data (rare path: re-encode).
		var e event.Event
		if err := e.UnmarshalJSON(rec); err != nil {
			return arena, fmt.Errorf("decode event: %w", err)
		}
		e.SentAt = ""
		data = e.AppendJSON(nil)
		sentAt = nil
	}
	ts, tsText := ingestionTimestamp(text(f.timestamp), sentAt, evNow, nowText)

	start := len(arena)
	arena = append(arena, `{"uuid":`...)
	arena = appendRawString(arena, f.uuid)
	arena = append(arena, `,"distinct_id":`...)
	arena = appendRawString(arena, f.distinctID)
	arena = append(arena, `,"ip":`...)
	arena = appendRawString(arena, f.ip)
	arena = append(arena, `,"data":`...)
	arena = appendJSONAsString(arena, data)
	arena = append(arena, `,"now":`...)
	arena = event.AppendString(arena, event.UnsafeString(nowText))
	if sentAt != nil {
		arena = append(arena, `,"sent_at":`...)
		arena = appendRawString(arena, f.sentAt)
	}
	arena = append(arena, `,"token":`...)
	arena = append(arena, tokenJSON...)
	arena = append(arena, `,"event":`...)
	arena = appendRawString(arena, f.event)
	arena = append(arena, `,"timestamp":`...)
	arena = event.AppendString(arena, event.UnsafeString(tsText))
	historical := bytes.Equal(f.historical, []byte("true"))
	if historical {
		arena = append(arena, `,"historical_migration":true`...)
	}
	arena = append(arena, '}')
	out.value = span{start, len(arena) - start}

	out.nh = 0
	arena = out.add(arena, hdrToken, []byte(token))
	arena = out.add(arena, hdrDistinctID, text(f.distinctID))
	var ms [20]byte
	arena = out.add(arena, hdrTimestamp, strconv.AppendInt(ms[:0], ts.UnixMilli(), 10))
	arena = out.add(arena, hdrEvent, text(f.event))
	arena = out.add(arena, hdrUUID, text(f.uuid))
	arena = out.add(arena, hdrNow, nowText)
	if historical {
		arena = out.add(arena, hdrHistorical, []byte("true"))
	}
	return arena, nil
}

func (r *ingestionRecord) add(arena []byte, key string, v []byte) []byte {
	r.headers[r.nh].key = key
	r.headers[r.nh].val = span{len(arena), len(v)}
	r.nh++
	return append(arena, v...)
}

// ingestionTimestamp computes the event time as capture does: with both a
// client sent_at and a receive time, the client's clock skew is corrected
// (now + timestamp - sent_at); otherwise the timestamp is used as is. An
// unparsable or missing timestamp falls back to now. It returns the time and
// the text to write: the event's own text when it was used unchanged.
func ingestionTimestamp(ts, sentAt, evNow, now []byte) (time.Time, []byte) {
	nowT, nowErr := parseTime(now)
	t, err := parseTime(ts)
	if err != nil {
		if nowErr != nil {
			nowT = time.Now()
		}
		return nowT, []byte(event.FormatTime(nowT))
	}
	if sentAt != nil && evNow != nil && nowErr == nil {
		if s, err := parseTime(sentAt); err == nil {
			c := nowT.Add(t.Sub(s))
			return c, []byte(event.FormatTime(c))
		}
	}
	return t, ts
}

func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, fmt.Errorf("no time")
	}
	return time.Parse(time.RFC3339Nano, event.UnsafeString(b))
}

// appendRawString appends a raw JSON value that should be a string; a
// missing value becomes "" and a non-string is quoted (a number
// distinct_id), as capture stringifies it.
func appendRawString(dst, raw []byte) []byte {
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return append(dst, `""`...)
	case raw[0] == '"':
		return append(dst, raw...)
	}
	return event.AppendString(dst, event.UnsafeString(raw))
}

// appendJSONAsString appends JSON text as a JSON string.
func appendJSONAsString(dst, text []byte) []byte {
	return event.AppendString(dst, event.UnsafeString(text))
}
