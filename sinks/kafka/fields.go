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
	i := skipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return errNotObject
	}
	i++
	for {
		i = skipSpace(rec, i)
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
		kEnd := skipString(rec, i)
		if kEnd < 0 {
			return errNotObject
		}
		key := rec[i+1 : kEnd-1]
		i = skipSpace(rec, kEnd)
		if i >= len(rec) || rec[i] != ':' {
			return errNotObject
		}
		i = skipSpace(rec, i+1)
		vEnd := skipValue(rec, i)
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

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the closing quote of the string that
// starts at b[i], or -1.
func skipString(b []byte, i int) int {
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return -1
		}
		j += q
		// The quote is escaped when an odd number of backslashes
		// precede it.
		bs := 0
		for k := j - 1; k > i && b[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return j + 1
		}
		j++
	}
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j)
				if j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
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
