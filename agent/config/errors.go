package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a config file.
type Problem struct {
	File string
	// Line is 1-based; 0 when unknown.
	Line int
	// Component is "sources.NAME", "transforms.NAME", "sinks.NAME" or "" for
	// top-level settings.
	Component string
	// Key is the key path inside the component (or top level), if any.
	Key string
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Component != "" {
		b.WriteString(p.Component)
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors lists every problem found in a config; Load reports them all at
// once rather than stopping at the first.
type Errors []Problem

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e Errors) sorted() Errors {
	sort.SliceStable(e, func(i, j int) bool {
		if e[i].Line != e[j].Line {
			// Unknown lines go last.
			if e[i].Line == 0 || e[j].Line == 0 {
				return e[j].Line == 0 && e[i].Line != 0
			}
			return e[i].Line < e[j].Line
		}
		return false
	})
	return e
}

// splitErrors flattens errors.Join trees into their leaves.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// keyOf extracts the leading "key: " of a component's validation message,
// so the problem can be located in the file.
func keyOf(msg string) (key, rest string) {
	i := strings.Index(msg, ": ")
	if i <= 0 {
		return "", msg
	}
	k := msg[:i]
	if strings.ContainsAny(k, " \t\"'") {
		return "", msg
	}
	return k, msg[i+2:]
}
