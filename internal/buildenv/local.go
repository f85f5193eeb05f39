package buildenv

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Git is what [ReadGit] learns of a local checkout.
type Git struct {
	Commit string // HEAD
	Remote string // the origin remote's URL as configured; "" when none
	Branch string // the checked-out branch; "" when HEAD is detached
	Tag    string // a tag at HEAD (the highest version if several); "" when none
	Dirty  bool   // tracked files differ from HEAD
}

// fromGit describes a build from a local checkout.
func fromGit(g Git) (*Build, error) {
	commit, err := checkCommit("HEAD", g.Commit)
	if err != nil {
		return nil, fmt.Errorf("buildenv: local git: %w", err)
	}
	b := &Build{
		Platform:     Local,
		BuildType:    BuildTypeLocal,
		BuilderID:    LocalBuilderID,
		SourceCommit: commit,
		Warnings: []string{"local build: this provenance is asserted by whoever runs hallmark, not by a CI platform " +
			"(builder " + LocalBuilderID + ")"},
	}
	src := map[string]any{"dirty": g.Dirty}
	repo, ok := normalizeRemote(g.Remote)
	switch {
	case ok:
		src["repository"] = repo
	case g.Remote != "":
		b.Warnings = append(b.Warnings, "the origin remote is not a network URL; the provenance names no repository")
	default:
		b.Warnings = append(b.Warnings, "the checkout has no origin remote; the provenance names no repository")
	}
	ref := ""
	switch {
	case g.Tag != "":
		ref = "refs/tags/" + g.Tag
	case g.Branch != "":
		ref = "refs/heads/" + g.Branch
	}
	if ref != "" {
		if err := checkRef("git ref", ref); err != nil {
			return nil, fmt.Errorf("buildenv: local git: %w", err)
		}
		src["ref"] = ref
	}
	if ok {
		b.SourceURI = "git+" + repo
		if ref != "" {
			b.SourceURI += "@" + ref
		}
	}
	if g.Dirty {
		b.Warnings = append(b.Warnings, "tracked files have uncommitted changes: the commit does not fully describe the source")
	}
	b.ExternalParameters = map[string]any{"source": src}
	return b, nil
}

var (
	// scpRemoteRE is git's scp-like syntax, [user@]host:path, recognised
	// when a ":" comes before any "/".
	scpRemoteRE = regexp.MustCompile(`^(?:[^@/:]+@)?([^@/:]+):([^/].*)$`)
	hostRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`)
	repoPathRE  = regexp.MustCompile(`^[A-Za-z0-9._~+-]+(/[A-Za-z0-9._~+-]+)*$`)
)

// normalizeRemote turns a git remote URL (https, http, ssh, git or
// scp-like) into https://HOST/PATH without credentials, port (except for an
// http(s) URL), query, trailing "/" or ".git". Local paths, file URLs and
// anything else it cannot map are not ok.
func normalizeRemote(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" || strings.ContainsAny(raw, "\\ \t\r\n") {
		return "", false
	}
	var host, path string
	if !strings.Contains(raw, "://") {
		m := scpRemoteRE.FindStringSubmatch(raw)
		if m == nil {
			return "", false
		}
		host, path = m[1], m[2]
	} else {
		u, err := url.Parse(raw)
		if err != nil || u.Opaque != "" {
			return "", false
		}
		switch u.Scheme {
		case "https", "http":
			host = u.Host
		case "ssh", "git", "git+ssh", "ssh+git":
			host = u.Hostname()
		default:
			return "", false
		}
		path = u.Path
	}
	host = strings.ToLower(host)
	if !hostRE.MatchString(host) {
		return "", false
	}
	for {
		trimmed := strings.TrimSuffix(strings.Trim(path, "/"), ".git")
		if trimmed == path {
			break
		}
		path = trimmed
	}
	if !repoPathRE.MatchString(path) {
		return "", false
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	return "https://" + host + "/" + path, true
}
