package slsa

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// normalizeGitURI gives a source URI the "git+" scheme prefix, and
// "git+https://" when it has no scheme at all, as slsa-verifier normalises
// --source-uri.
func normalizeGitURI(s string) string {
	if strings.HasPrefix(s, "git+") {
		return s
	}
	if !strings.Contains(s, "://") {
		return "git+https://" + s
	}
	return "git+" + s
}

// splitGitURI splits "git+https://host/repo@ref" at the first "@" into the
// URI and the ref (empty when there is none). The URI must have the "git+"
// prefix.
func splitGitURI(uri string) (string, string, error) {
	if uri == "" {
		return "", "", errors.New("empty uri")
	}
	if !strings.HasPrefix(uri, "git+") {
		return "", "", fmt.Errorf("%q is not a git URI (no git+ prefix)", uri)
	}
	u, ref, _ := strings.Cut(uri, "@")
	return u, ref, nil
}

// splitAnyURI splits a source URI of any builder: it is normalised like the
// expected URI first, so that "https://github.com/o/r@ref" and
// "git+https://github.com/o/r@ref" are the same source.
func splitAnyURI(uri string) (string, string, error) {
	if uri == "" {
		return "", "", errors.New("empty uri")
	}
	return splitGitURI(normalizeGitURI(uri))
}

// refKind splits a git ref "refs/<kind>/<name>" into kind and name; a ref
// not of that form has kind "".
func refKind(ref string) (kind, name string) {
	parts := strings.SplitN(ref, "/", 3)
	if len(parts) < 3 || parts[0] != "refs" {
		return "", ref
	}
	return parts[1], parts[2]
}

// refName returns the name of a "refs/<kind>/<name>" ref of the given kind.
func refName(kind, ref string) (string, error) {
	k, name := refKind(ref)
	if ref == "" {
		return "", errors.New("the provenance records no such ref")
	}
	if k != kind {
		return "", fmt.Errorf("ref %q is not a refs/%s/ ref", ref, kind)
	}
	if name == "" {
		return "", fmt.Errorf("ref %q has an empty name", ref)
	}
	return name, nil
}

// parseBuilderID splits a builder id "name@version" (or "name").
func parseBuilderID(id string) (name, version string, err error) {
	parts := strings.Split(id, "@")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return parts[0], "", nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], nil
	default:
		return "", "", fmt.Errorf("builder id %q is not of the form name or name@version", id)
	}
}

// builderMatches reports whether the provenance's builder (name, version)
// is the expected one: the same name and, when the expected id has a
// version, the same version, where "v1.2.3" also matches
// "refs/tags/v1.2.3" (slsa-verifier's MatchesLoose with allowRef).
func builderMatches(name, version, expected string) bool {
	en, ev, err := parseBuilderID(expected)
	if err != nil || en != name {
		return false
	}
	return ev == "" || ev == version || "refs/tags/"+ev == version
}

// validBuilderTag checks that a builder ref is a release tag
// refs/tags/vX.Y.Z with no pre-release or build metadata, as slsa-verifier
// requires of the reusable workflows BYOB delegates to.
func validBuilderTag(ref string, suffixes ...string) error {
	pin, err := refName("tags", ref)
	if err != nil {
		return err
	}
	if !semver.IsValid(pin) || len(strings.Split(pin, ".")) != 3 || semver.Build(pin) != "" {
		return fmt.Errorf("builder ref %s is not a release tag vX.Y.Z", ref)
	}
	pre := semver.Prerelease(pin)
	if pre == "" && len(suffixes) == 0 {
		return nil
	}
	for _, s := range suffixes {
		if pre == s {
			return nil
		}
	}
	return fmt.Errorf("builder ref %s is not a release tag vX.Y.Z%s", ref, strings.Join(suffixes, "|"))
}

// validSemver checks an expected versioned tag: vMAJOR, vMAJOR.MINOR or
// vMAJOR.MINOR.PATCH[-pre][+build].
func validSemver(v string) error {
	if !semver.IsValid(v) {
		return fmt.Errorf("%q is not a semantic version (vX, vX.Y or vX.Y.Z)", v)
	}
	return nil
}

// versionCore returns how many of major, minor and patch a valid semantic
// version spells out.
func versionCore(v string) int {
	core := strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	return len(strings.Split(core, "."))
}

// matchVersionedTag checks that the tag the provenance records is
// compatible with the expected semantic version: the same major; the same
// minor when the expected version has one; the same patch and pre-release
// when it has a patch. Build metadata is ignored.
//
// slsa-verifier means the same (its comment: "prerelease is validated as
// part of patch validation and must be equal") but compares the pre-release
// only up to its first ".": v1.2.3-rc.1 there accepts v1.2.3-rc.2; here it
// does not.
func matchVersionedTag(tag, expected string) error {
	got := semver.Canonical(tag)
	if got == "" {
		return fmt.Errorf("tag %s is not a semantic version", tag)
	}
	if semver.Major(got) != semver.Major(expected) {
		return fmt.Errorf("tag %s: major version %s, want %s", tag, semver.Major(got), semver.Major(expected))
	}
	n := versionCore(expected)
	if n >= 2 && semver.MajorMinor(got) != semver.MajorMinor(semver.Canonical(expected)) {
		return fmt.Errorf("tag %s: minor version %s, want %s", tag, semver.MajorMinor(got), semver.MajorMinor(expected))
	}
	if n >= 3 {
		want := semver.Canonical(expected) // drops build metadata
		if got != want {
			return fmt.Errorf("tag %s: version %s, want %s", tag, got, want)
		}
	}
	return nil
}
