package cip

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Glob is a compiled image glob, with policy-controller's rules
// (pkg/apis/glob):
//
//   - the glob matches the whole image reference, fully qualified
//     ("ubuntu" is "index.docker.io/library/ubuntu:latest");
//   - "*" matches any run of characters but "/", so it also matches a tag
//     (":v1") or a digest ("@sha256:…"), and "**" matches any run of
//     characters, "/" included;
//   - the globs "*" and "*/*" stand for "index.docker.io/library/*" and
//     "index.docker.io/*/*";
//   - a glob may use only letters, digits and "-_:/*.@";
//   - an image that is not fully qualified as written is also matched as
//     written;
//   - unlike policy-controller, an image whose registry is written in
//     capitals, with port 443 or as another name of Docker Hub is also
//     matched with its registry as the glob would name it.
type Glob struct {
	pattern string
	re      *regexp.Regexp
}

var validGlob = regexp.MustCompile(`^[a-zA-Z0-9-_:/*.@]+$`)

// CompileGlob compiles a glob.
func CompileGlob(g string) (*Glob, error) {
	pattern := g
	switch g {
	case "*/*":
		g = "index.docker.io/*/*"
	case "*":
		g = "index.docker.io/library/*"
	}
	if !validGlob.MatchString(g) {
		return nil, fmt.Errorf("invalid glob %q", pattern)
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch {
		case g[i] == '*' && i+1 < len(g) && g[i+1] == '*':
			b.WriteString(".*")
			i++
		case g[i] == '*':
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(g[i : i+1]))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, err
	}
	return &Glob{pattern: pattern, re: re}, nil
}

// String returns the glob as written.
func (g *Glob) String() string { return g.pattern }

// Match reports whether the glob matches an image reference as written in
// a pod (tag or digest). A reference that does not parse matches nothing.
func (g *Glob) Match(image string) bool {
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		return false
	}
	full := ref.Name()
	if g.re.MatchString(full) {
		return true
	}
	if full != image && g.re.MatchString(image) {
		return true
	}
	// The registry as a node reaches it: a host in capitals, the default
	// port or another name of Docker Hub pulls the same images, so a glob
	// written for the usual name must match it too (more matching is
	// stricter: every matching policy must pass).
	host := canonicalRegistry(ref.Context().RegistryStr())
	if host == ref.Context().RegistryStr() {
		return false
	}
	return g.re.MatchString(host + strings.TrimPrefix(full, ref.Context().RegistryStr()))
}

// canonicalRegistry lowercases a registry host, drops the HTTPS port and
// names Docker Hub as policy-controller's globs do (index.docker.io).
func canonicalRegistry(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ":443")
	switch host {
	case "docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return name.DefaultRegistry
	}
	return host
}
