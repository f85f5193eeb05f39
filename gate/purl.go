package gate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// purl is a package URL (https://github.com/package-url/purl-spec), parsed
// only as far as matching needs.
type purl struct {
	Type, Namespace, Name, Version, Subpath string
	Qualifiers                              map[string]string
}

// parsePURL parses a package URL following the purl specification's
// parsing rules, without type-specific name normalisation: names compare
// exactly as written.
func parsePURL(s string) (purl, error) {
	rest, ok := strings.CutPrefix(s, "pkg:")
	if !ok {
		return purl{}, errors.New("does not start with pkg:")
	}
	var p purl
	if i := strings.LastIndex(rest, "#"); i >= 0 {
		var segs []string
		for _, seg := range strings.Split(strings.Trim(rest[i+1:], "/"), "/") {
			seg, err := url.PathUnescape(seg)
			if err != nil {
				return purl{}, fmt.Errorf("subpath: %v", err)
			}
			if seg != "" && seg != "." && seg != ".." {
				segs = append(segs, seg)
			}
		}
		p.Subpath = strings.Join(segs, "/")
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "?"); i >= 0 {
		p.Qualifiers = map[string]string{}
		for _, kv := range strings.Split(rest[i+1:], "&") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				if kv == "" {
					continue
				}
				return purl{}, fmt.Errorf("qualifier %q is not key=value", kv)
			}
			k = strings.ToLower(k)
			if _, dup := p.Qualifiers[k]; dup {
				return purl{}, fmt.Errorf("qualifier %q repeats", k)
			}
			v, err := url.PathUnescape(v)
			if err != nil {
				return purl{}, fmt.Errorf("qualifier %q: %v", k, err)
			}
			if v != "" {
				p.Qualifiers[k] = v
			}
		}
		rest = rest[:i]
	}
	rest = strings.Trim(rest, "/")
	typ, rest, ok := strings.Cut(rest, "/")
	if !ok || typ == "" {
		return purl{}, errors.New("no type/name")
	}
	p.Type = strings.ToLower(typ)
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		v, err := url.PathUnescape(rest[i+1:])
		if err != nil {
			return purl{}, fmt.Errorf("version: %v", err)
		}
		p.Version = v
		rest = rest[:i]
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	var dec []string
	for _, seg := range segs {
		if seg == "" {
			continue
		}
		d, err := url.PathUnescape(seg)
		if err != nil {
			return purl{}, fmt.Errorf("name: %v", err)
		}
		dec = append(dec, d)
	}
	if len(dec) == 0 {
		return purl{}, errors.New("no name")
	}
	p.Name = dec[len(dec)-1]
	p.Namespace = strings.Join(dec[:len(dec)-1], "/")
	return p, nil
}

// matches reports whether target is a package the pattern names: the same
// type, namespace and name; the same version and subpath where the pattern
// gives them; and every qualifier of the pattern with the same value.
// These are trivy's rules.
func (p purl) matches(target purl) bool {
	if p.Type != target.Type || p.Namespace != target.Namespace || p.Name != target.Name {
		return false
	}
	if p.Version != "" && p.Version != target.Version {
		return false
	}
	if p.Subpath != "" && p.Subpath != target.Subpath {
		return false
	}
	for k, v := range p.Qualifiers {
		if target.Qualifiers[k] != v {
			return false
		}
	}
	return true
}
