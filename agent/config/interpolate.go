package config

import (
	"fmt"
	"strings"
)

// interpolate replaces ${VAR} and ${VAR:-default} with values from lookup,
// and $$ with a literal $. Whole-line comments are left alone, so a
// commented-out example does not need its variables set. It reports every
// unset variable without a default, with its line.
func interpolate(text string, lookup func(string) (string, bool)) (string, []Problem) {
	var out strings.Builder
	out.Grow(len(text))
	var problems []Problem
	for lineNo, line := range strings.SplitAfter(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			out.WriteString(line)
			continue
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c != '$' || i+1 >= len(line) {
				out.WriteByte(c)
				continue
			}
			switch line[i+1] {
			case '$':
				out.WriteByte('$')
				i++
				continue
			case '{':
			default:
				out.WriteByte(c)
				continue
			}
			end := strings.IndexByte(line[i:], '}')
			if end < 0 {
				problems = append(problems, Problem{Line: lineNo + 1, Msg: fmt.Sprintf("unterminated ${ in %q", strings.TrimSpace(line))})
				out.WriteString(line[i:])
				break
			}
			expr := line[i+2 : i+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !validEnvName(name) {
				problems = append(problems, Problem{Line: lineNo + 1, Msg: fmt.Sprintf("invalid variable name in ${%s}", expr)})
			} else if v, ok := lookup(name); ok && (v != "" || !hasDef) {
				out.WriteString(v)
			} else if hasDef {
				out.WriteString(def)
			} else {
				problems = append(problems, Problem{Line: lineNo + 1, Msg: fmt.Sprintf("environment variable %s is not set (use ${%s:-default} for a default)", name, name)})
			}
			i += end
		}
	}
	return out.String(), problems
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}
