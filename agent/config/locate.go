package config

import (
	"strings"
)

// locator finds the line of a key path in the TOML text, best effort:
// BurntSushi/toml reports no positions for keys, and config errors must
// say where they are.
type locator struct {
	lines  map[string]int
	values map[string]string // key path -> raw value text
}

func newLocator(text string) *locator {
	l := &locator{lines: map[string]int{}, values: map[string]string{}}
	table := ""
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			name := strings.Trim(strings.SplitN(line, "#", 2)[0], " \t")
			name = strings.TrimSpace(strings.Trim(name, "[]"))
			table = normalizeKey(name)
			l.add(table, i+1)
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			continue
		}
		key := normalizeKey(strings.TrimSpace(line[:eq]))
		if table != "" {
			key = table + "." + key
		}
		l.add(key, i+1)
		l.values[key] = strings.TrimSpace(line[eq+1:])
	}
	return l
}

func (l *locator) add(key string, line int) {
	if _, ok := l.lines[key]; !ok {
		l.lines[key] = line
	}
}

// normalizeKey removes quotes and spaces around dotted parts.
func normalizeKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// line returns the line of path, or of its nearest enclosing table.
func (l *locator) line(path ...string) int {
	for n := len(path); n > 0; n-- {
		if ln, ok := l.lines[strings.Join(path[:n], ".")]; ok {
			return ln
		}
	}
	return 0
}

// keyWithValue returns the key (relative to comp) whose value text starts
// with quotedValue, or "".
func (l *locator) keyWithValue(comp, quotedValue string) string {
	if quotedValue == "" {
		return ""
	}
	prefix := ""
	if comp != "" {
		prefix = comp + "."
	}
	best, bestLine := "", 0
	for k, v := range l.values {
		if strings.HasPrefix(k, prefix) && strings.HasPrefix(v, quotedValue) {
			if ln := l.lines[k]; best == "" || ln < bestLine {
				best, bestLine = strings.TrimPrefix(k, prefix), ln
			}
		}
	}
	return best
}
