package gate

import (
	"path"
	"strings"
)

// Path patterns are slash-separated; a segment "**" matches any number of
// segments (none included), and every other segment matches one segment
// with path.Match's syntax (*, ?, [...], \). These are the patterns of
// trivy's ignore file (doublestar), minus brace alternatives.

// validPattern reports whether pattern is a well-formed path pattern.
func validPattern(pattern string) bool {
	if pattern == "" || strings.ContainsAny(pattern, "{}") {
		return false
	}
	for _, seg := range strings.Split(pattern, "/") {
		if seg == "**" {
			continue
		}
		if _, err := path.Match(seg, ""); err != nil {
			return false
		}
	}
	return true
}

// matchPath reports whether name matches pattern, in time proportional to
// the product of their segment counts.
func matchPath(pattern, name string) bool {
	ps := strings.Split(pattern, "/")
	ns := strings.Split(name, "/")
	// m[j]: ps[:i] matches ns[:j]
	m := make([]bool, len(ns)+1)
	m[0] = true
	for _, p := range ps {
		next := make([]bool, len(ns)+1)
		if p == "**" {
			any := false
			for j := range m {
				any = any || m[j]
				next[j] = any
			}
		} else {
			for j := 1; j <= len(ns); j++ {
				if m[j-1] {
					ok, err := path.Match(p, ns[j-1])
					next[j] = ok && err == nil
				}
			}
		}
		m = next
	}
	return m[len(ns)]
}
