package file

import (
	"path/filepath"
	"strings"
)

// pattern is a glob compiled into path segments; "**" matches zero or more
// segments, other segments follow filepath.Match.
type pattern struct {
	raw  string
	base string   // longest leading directory without wildcards
	segs []string // segments after base
	deep bool     // contains "**"
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func compilePattern(p string) pattern {
	p = filepath.Clean(p)
	segs := strings.Split(filepath.ToSlash(p), "/")
	i := 0
	for i < len(segs) && !hasMeta(segs[i]) {
		i++
	}
	base := strings.Join(segs[:i], "/")
	if base == "" && strings.HasPrefix(p, "/") {
		base = "/"
	}
	if i == len(segs) { // a plain path: its base is its directory
		base = filepath.Dir(p)
		i = len(segs) - 1
	}
	pt := pattern{raw: p, base: filepath.FromSlash(base), segs: segs[i:]}
	for _, s := range pt.segs {
		if s == "**" {
			pt.deep = true
		}
	}
	return pt
}

// match reports whether path (below base) matches.
func (p *pattern) match(path string) bool {
	rel, err := filepath.Rel(p.base, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	return matchSegs(p.segs, strings.Split(filepath.ToSlash(rel), "/"))
}

// maxDepth is the number of directory levels below base worth walking, or
// -1 for unlimited.
func (p *pattern) maxDepth() int {
	if p.deep {
		return -1
	}
	return len(p.segs)
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			pat = pat[1:]
			if len(pat) == 0 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := filepath.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
