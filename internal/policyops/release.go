package policyops

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"hallmark.dev/signpolicy"
)

// ReleaseFacts are what a release established before its signing policy
// check: the image digest it resolved once, and its own gate's result.
type ReleaseFacts struct {
	// Digest is the image's digest, "sha256:<hex>": scans about it count.
	Digest string
	// Gate is the gate result the release is about to attest, as
	// hallmark's own scan fact (Scanner signpolicy.ReservedPrincipal,
	// Subject Digest); nil when there is none.
	Gate *signpolicy.ScanFact
}

// ReleasePolicy is the signing policy check of a release
// (ops.ReleaseRequest.BeforeSign): the check of Tag of Repository, read
// from GitDir, with the release's gate result among the scans.
type ReleasePolicy struct {
	Source     Source
	Repository string
	GitDir     string
	Tag        string
	// Require refuses a repository with no published policy (ErrNoPolicy);
	// without it, such a release goes ahead with a no-policy report.
	Require bool
}

// Check runs the check for the release. It returns the report with a
// *DeniedError when the policy denies the release, an error wrapping
// ErrNoPolicy when there is no policy and one is required, and any other
// error when the check could not be made; in every one of those cases
// nothing may be signed.
func (p *ReleasePolicy) Check(ctx context.Context, f ReleaseFacts) (*CheckReport, error) {
	req := CheckRequest{Source: p.Source, Repository: p.Repository, GitDir: p.GitDir, Tag: p.Tag, Image: f.Digest}
	if f.Gate != nil {
		req.LocalScans = []signpolicy.ScanFact{*f.Gate}
	}
	r, err := Check(ctx, req)
	if err != nil {
		return nil, err
	}
	return r, r.Err(p.Require)
}

// ErrIncompleteReleaseCheck is returned by [NewReleasePolicy] when the
// configuration asks for a check but lacks what it needs.
var ErrIncompleteReleaseCheck = errors.New("incomplete signing policy check")

// ReleaseCheckConfig is how a release is checked against its source's
// signing policy, as a command gives it.
type ReleaseCheckConfig struct {
	SourceConfig
	// Repository is the source repository as its policy names it; empty
	// asks for no check.
	Repository string
	GitDir     string
	Tag        string
	Require    bool
}

// asked reports whether anything in c asks for a check.
func (c ReleaseCheckConfig) asked() bool {
	return c.Repository != "" || c.GitDir != "" || c.Tag != "" || c.Require ||
		len(c.WriterKeyPaths) > 0 || len(c.Writers) > 0
}

// NewReleasePolicy returns the check c asks for, or nil when it asks for
// none. A configuration that asks for one (a repository, a tag, a writer,
// or Require) without the repository, its git directory, the tag and the
// server is refused with ErrIncompleteReleaseCheck (wrapped, saying what
// is missing); one without a writer with ErrNoWriter.
func NewReleasePolicy(ctx context.Context, c ReleaseCheckConfig) (*ReleasePolicy, error) {
	if !c.asked() {
		return nil, nil
	}
	var missing []string
	for _, m := range []struct{ v, what string }{
		{c.Repository, "the source repository"}, {c.GitDir, "the local git directory"}, {c.Tag, "the release tag"}, {c.Server, "the server that stores the policy"},
	} {
		if m.v == "" {
			missing = append(missing, m.what)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %s", ErrIncompleteReleaseCheck, strings.Join(missing, ", "))
	}
	if err := signpolicy.CheckRepository(c.Repository); err != nil {
		return nil, err
	}
	src, err := NewSource(ctx, c.SourceConfig)
	if err != nil {
		return nil, err
	}
	return &ReleasePolicy{Source: src, Repository: c.Repository, GitDir: c.GitDir, Tag: c.Tag, Require: c.Require}, nil
}
