package file

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hogtail/hogtail/agent/event"
)

// template is a distinct_id template: literal text with placeholders
// {host}, {path}, {filename} and, for the json codec, {.field} (a top-level
// field of the line's object).
type template struct {
	parts []tplPart
	// dynamic is true when a part depends on the line.
	dynamic bool
}

type tplPart struct {
	lit   string
	kind  byte // 0 literal, 'h' host, 'p' path, 'f' filename, '.' field
	field string
}

func parseTemplate(s string) (template, error) {
	var t template
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.parts = append(t.parts, tplPart{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return t, errors.New("unclosed \"{\"")
		}
		name := s[i+1 : i+j]
		switch {
		case name == "host":
			t.parts = append(t.parts, tplPart{kind: 'h'})
		case name == "path":
			t.parts = append(t.parts, tplPart{kind: 'p'})
		case name == "filename":
			t.parts = append(t.parts, tplPart{kind: 'f'})
		case strings.HasPrefix(name, ".") && len(name) > 1:
			t.parts = append(t.parts, tplPart{kind: '.', field: name[1:]})
			t.dynamic = true
		default:
			return t, fmt.Errorf("unknown placeholder {%s} (use {host}, {path}, {filename} or {.field})", name)
		}
		s = s[i+j+1:]
	}
	return t, nil
}

// static renders the parts that do not depend on the line; line fields
// render empty.
func (t *template) render(host, path string, props event.Map) string {
	if len(t.parts) == 1 && t.parts[0].kind == 0 {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case 0:
			b.WriteString(p.lit)
		case 'h':
			b.WriteString(host)
		case 'p':
			b.WriteString(path)
		case 'f':
			b.WriteString(filepath.Base(path))
		case '.':
			if v, ok := props.Get(p.field); ok && v != nil {
				if s, ok := v.(string); ok {
					b.WriteString(s)
				} else {
					b.Write(event.AppendValue(nil, v))
				}
			}
		}
	}
	return b.String()
}
