package kafka

import (
	"fmt"
	"strings"
)

// Placeholders of the topic and key templates.
var placeholders = map[string]field{
	"event":       fieldEvent,
	"distinct_id": fieldDistinctID,
	"uuid":        fieldUUID,
	"team_id":     fieldTeamID,
	"token":       fieldToken,
}

type field int

const (
	fieldLiteral field = iota
	fieldEvent
	fieldDistinctID
	fieldUUID
	fieldTeamID
	fieldToken
)

type part struct {
	field field
	lit   string
}

// template is a parsed topic or key template: literal text and {field}
// placeholders.
type template struct {
	src   string
	parts []part
}

func parseTemplate(s string) (template, error) {
	t := template{src: s}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if cl := strings.IndexByte(rest, '}'); cl >= 0 && (open < 0 || cl < open) {
			return t, fmt.Errorf("unmatched \"}\" in %q", s)
		}
		if open < 0 {
			t.parts = append(t.parts, part{lit: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{lit: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return t, fmt.Errorf("unclosed \"{\" in %q", s)
		}
		name := rest[open+1 : open+end]
		f, ok := placeholders[name]
		if !ok {
			return t, fmt.Errorf("unknown placeholder {%s} in %q (known: {event}, {distinct_id}, {uuid}, {team_id}, {token})", name, s)
		}
		t.parts = append(t.parts, part{field: f})
		rest = rest[open+end+1:]
	}
	return t, nil
}

// constant reports whether the template has no placeholder.
func (t template) constant() bool {
	for _, p := range t.parts {
		if p.field != fieldLiteral {
			return false
		}
	}
	return true
}

// only returns the single placeholder the template consists of, if any.
func (t template) only() field {
	if len(t.parts) == 1 {
		return t.parts[0].field
	}
	return fieldLiteral
}

// value returns the text of one placeholder for a record.
func (f *fields) value(fl field, token string) []byte {
	switch fl {
	case fieldEvent:
		return text(f.event)
	case fieldDistinctID:
		return text(f.distinctID)
	case fieldUUID:
		return text(f.uuid)
	case fieldTeamID:
		return text(f.teamID)
	case fieldToken:
		return []byte(token)
	}
	return nil
}

// render appends the template's text for a record to dst. With topicSafe,
// placeholder values are made valid in a Kafka topic name: every byte
// outside [a-zA-Z0-9._-] becomes "_" ("$pageview" -> "_pageview").
func (t template) render(dst []byte, f *fields, token string, topicSafe bool) []byte {
	for _, p := range t.parts {
		if p.field == fieldLiteral {
			dst = append(dst, p.lit...)
			continue
		}
		v := f.value(p.field, token)
		if !topicSafe {
			dst = append(dst, v...)
			continue
		}
		for _, c := range v {
			if !topicByte(c) {
				c = '_'
			}
			dst = append(dst, c)
		}
	}
	return dst
}

func topicByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// maxTopicLen is Kafka's limit on topic names.
const maxTopicLen = 249

// checkTopic reports why name is not a valid Kafka topic name.
func checkTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed", name)
	case len(name) > maxTopicLen:
		return fmt.Errorf("topic name is %d characters, over Kafka's %d", len(name), maxTopicLen)
	}
	for i := 0; i < len(name); i++ {
		if !topicByte(name[i]) {
			return fmt.Errorf("topic name %q has %q: only a-z A-Z 0-9 . _ - are allowed", name, name[i])
		}
	}
	return nil
}

// needs returns the fields the template reads.
func (t template) needs() uint16 {
	var n uint16
	for _, p := range t.parts {
		switch p.field {
		case fieldEvent:
			n |= needEvent
		case fieldDistinctID:
			n |= needDistinctID
		case fieldUUID:
			n |= needUUID
		case fieldTeamID:
			n |= needTeamID
		}
	}
	return n
}
