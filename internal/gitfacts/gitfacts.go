// Package gitfacts establishes the git facts a signing policy sees
// ([hallmark.dev/signpolicy]): which principal signed the release tag, and
// which commit it names. It reads a local repository by running git
// plumbing (rev-parse, cat-file) with --git-dir, and verifies annotated
// tag signatures itself:
//
//   - SSH signatures (git's gpg.format=ssh): the SSHSIG format
//     (https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.sshsig)
//     in git's "git" namespace, by a key a principal holds;
//   - OpenPGP signatures (RFC 4880 / RFC 9580 detached signatures), by a
//     key a principal holds.
//
// A signature counts only over exactly the tag object: the signed bytes
// are the object up to the signature, the object names itself with the
// tag name asked for, and points at the commit being released. X.509
// (gitsign) signatures are recognised and not verified.
package gitfacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// Repo is a local git repository read through git.
type Repo struct {
	gitDir string
}

// Open checks that git is installed and gitDir is a repository.
func Open(ctx context.Context, gitDir string) (*Repo, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("gitfacts: git is not installed: %w", err)
	}
	r := &Repo{gitDir: gitDir}
	if _, err := r.git(ctx, "rev-parse", "--git-dir"); err != nil {
		return nil, fmt.Errorf("gitfacts: %s is not a git repository: %w", gitDir, err)
	}
	if format, err := r.git(ctx, "rev-parse", "--show-object-format"); err == nil && strings.TrimSpace(string(format)) != "sha1" {
		return nil, fmt.Errorf("gitfacts: %s uses %s object ids; only SHA-1 repositories are supported", gitDir, strings.TrimSpace(string(format)))
	}
	return r, nil
}

// git runs git on the repository and returns its output. The repository's
// configuration cannot make it run anything: only plumbing that reads
// objects is used, with the fsmonitor off and no optional locks.
func (r *Repo) git(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"--no-optional-locks", "-c", "core.fsmonitor=false", "--git-dir", r.gitDir}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			line, _, _ := strings.Cut(msg, "\n")
			return nil, fmt.Errorf("git %s: %s", args[0], line)
		}
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	return stdout.Bytes(), nil
}

var (
	objectID = regexp.MustCompile(`^[0-9a-f]{40}$`)
	// tagName is what hallmark accepts as a tag name: git's rules
	// (git check-ref-format) for a one-level name, a little stricter.
	tagName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+/-]{0,199}$`)
)

// ErrNoTag is returned for a tag the repository does not have.
var ErrNoTag = errors.New("no such tag")

// Tag is a tag as the repository holds it.
type Tag struct {
	Name string
	// Object is the tag object's id; empty for a lightweight tag (a ref
	// that names a commit directly).
	Object string
	// Target is what the tag names: the commit, or for an annotated tag
	// the object of its "object" header.
	Target string
	// Raw is the annotated tag object, byte for byte.
	Raw []byte
}

// Tag reads refs/tags/<name>.
func (r *Repo) Tag(ctx context.Context, name string) (*Tag, error) {
	if !tagName.MatchString(name) || strings.Contains(name, "..") || strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return nil, fmt.Errorf("gitfacts: tag name %q: want letters, digits and ._+/- (as git allows), starting with a letter, digit or _", name)
	}
	out, err := r.git(ctx, "rev-parse", "--verify", "--quiet", "refs/tags/"+name)
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return nil, fmt.Errorf("gitfacts: tag %s: %w", name, ErrNoTag)
	}
	id := strings.TrimSpace(string(out))
	if !objectID.MatchString(id) {
		return nil, fmt.Errorf("gitfacts: tag %s: git gave %q, not an object id", name, id)
	}
	typ, err := r.git(ctx, "cat-file", "-t", id)
	if err != nil {
		return nil, fmt.Errorf("gitfacts: tag %s: %w", name, err)
	}
	switch t := strings.TrimSpace(string(typ)); t {
	case "commit":
		return &Tag{Name: name, Target: id}, nil
	case "tag":
		raw, err := r.git(ctx, "cat-file", "tag", id)
		if err != nil {
			return nil, fmt.Errorf("gitfacts: tag %s: %w", name, err)
		}
		h, err := parseHeaders(raw)
		if err != nil {
			return nil, fmt.Errorf("gitfacts: tag %s (object %s): %w", name, id, err)
		}
		return &Tag{Name: name, Object: id, Target: h.object, Raw: raw}, nil
	default:
		return nil, fmt.Errorf("gitfacts: tag %s names a %s, not a commit or a tag object", name, t)
	}
}

// Commit resolves rev (a commit id or a ref) to a commit id.
func (r *Repo) Commit(ctx context.Context, rev string) (string, error) {
	if strings.HasPrefix(rev, "-") || rev == "" {
		return "", fmt.Errorf("gitfacts: %q is not a revision", rev)
	}
	out, err := r.git(ctx, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	id := strings.TrimSpace(string(out))
	if err != nil || !objectID.MatchString(id) {
		return "", fmt.Errorf("gitfacts: %s is not a commit of %s", rev, r.gitDir)
	}
	return id, nil
}

// headers are a tag object's headers.
type headers struct {
	object, typ, tag, tagger string
}

// parseHeaders reads the headers of a tag object: object, type, tag, and
// optionally tagger, each once, in that order, as git writes them.
func parseHeaders(raw []byte) (headers, error) {
	head, _, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok {
		head = bytes.TrimSuffix(raw, []byte("\n"))
	}
	var h headers
	order := []string{"object", "type", "tag", "tagger"}
	i := 0
	for _, line := range strings.Split(string(head), "\n") {
		key, val, ok := strings.Cut(line, " ")
		for i < len(order) && order[i] != key {
			if order[i] != "tagger" {
				return headers{}, fmt.Errorf("the tag object's headers are not object, type, tag, tagger: %q", line)
			}
			i++
		}
		if !ok || i == len(order) {
			return headers{}, fmt.Errorf("the tag object has an unexpected header %q", line)
		}
		switch key {
		case "object":
			h.object = val
		case "type":
			h.typ = val
		case "tag":
			h.tag = val
		case "tagger":
			h.tagger = val
		}
		i++
	}
	if !objectID.MatchString(h.object) || h.typ == "" || h.tag == "" {
		return headers{}, errors.New("the tag object lacks an object, type or tag header")
	}
	return h, nil
}
