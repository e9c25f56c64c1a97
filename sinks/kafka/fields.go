package kafka

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/hogtail/hogtail/agent/event"
)

// fields are the top-level values of one event record that the sink needs
// for keys, topics and the posthog_ingestion envelope. Each is the raw JSON
// text of the value (a string still in quotes), a sub-slice of the record:
// reading them costs no allocation.
type fields struct {
	uuid, event, distinctID, timestamp []byte
	ip, siteURL, teamID, now, sentAt   []byte
	historical                         []byte
}

var errNotObject = errors.New("record is not a JSON object")

// Masks of the fields a sink needs, so the scan can stop early: hogtail
// writes uuid, event, distinct_id and timestamp before the properties.
const (
	needUUID uint16 = 1 << iota
	needEvent
	needDistinctID
	needTimestamp
	needTeamID
	needRest // ip, site_url, now, sent_at, historical_migration
	needAll  = 1<<iota - 1
)

// scanFields walks the top-level keys of an event record (the JSON the
// agent buffered, event.AppendJSON form), skipping nested values without
// decoding them, until it found every field in need. It is a cheap field
// lookup, not a validator: the record was written by hogtail and is
// well-formed.
func scanFields(rec []byte, f *fields) error {
	return scanNeeded(rec, f, needAll)
}

func scanNeeded(rec []byte, f *fields, need uint16) error {
	*f = fields{}
	var found uint16
	i := event.SkipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return errNotObject
	}
	i++
	for {
		i = event.SkipSpace(rec, i)
		if i >= len(rec) {
			return errNotObject
		}
		if rec[i] == '}' {
			return nil
		}
		if rec[i] == ',' {
			i++
			continue
		}
		if rec[i] != '"' {
			return errNotObject
		}
		kEnd := event.SkipString(rec, i)
		if kEnd < 0 {
			return errNotObject
		}
		key := rec[i+1 : kEnd-1]
		i = event.SkipSpace(rec, kEnd)
		if i >= len(rec) || rec[i] != ':' {
			return errNotObject
		}
		i = event.SkipSpace(rec, i+1)
		vEnd := event.SkipValue(rec, i)
		if vEnd < 0 {
			return errNotObject
		}
		val := rec[i:vEnd]
		switch string(key) { // no allocation: the compiler optimises the switch on a converted []byte
		case "uuid":
			f.uuid = val
			found |= needUUID
		case "event":
			f.event = val
			found |= needEvent
		case "distinct_id":
			f.distinctID = val
			found |= needDistinctID
		case "timestamp":
			f.timestamp = val
			found |= needTimestamp
		case "ip":
			f.ip = val
		case "site_url":
			f.siteURL = val
		case "team_id":
			f.teamID = val
			found |= needTeamID
		case "now":
			f.now = val
		case "sent_at":
			f.sentAt = val
		case "historical_migration":
			f.historical = val
		}
		if found&need == need {
			return nil
		}
		i = vEnd
	}
}

// text returns the value as text: a JSON string without its quotes (decoded
// only when it holds escapes), a number or literal as written, "" for null
// or a missing value. The result aliases raw when no decoding was needed.
func text(raw []byte) []byte {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] != '"' {
		return raw
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	v, err := event.ParseValue(raw)
	if s, ok := v.(string); ok && err == nil {
		return []byte(s)
	}
	// Unreachable for records hogtail wrote; keep the raw text rather than
	// lose the value.
	if s, err := strconv.Unquote(string(raw)); err == nil {
		return []byte(s)
	}
	return inner
}
