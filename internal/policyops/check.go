package policyops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hallmark.dev/internal/gitfacts"
	"hallmark.dev/signpolicy"
)

// CheckRequest is a release to check against a repository's signing
// policy.
type CheckRequest struct {
	Source     Source
	Repository string
	// GitDir is the local repository the tag and commit are read from.
	GitDir string
	// Tag is the release tag.
	Tag string
	// Commit is the commit being released (a commit id or a revision of
	// GitDir); empty means the commit the tag names.
	Commit string
	// Scans are scan result bundles to verify (signed by a principal,
	// about the commit or Image).
	Scans [][]byte
	// Image is the digest of the image being released ("sha256:<hex>"),
	// when there is one: scans about it count too.
	Image string
	// LocalScans are scan results the caller produced itself in this run
	// (Scanner signpolicy.ReservedPrincipal); they join the verified ones.
	LocalScans []signpolicy.ScanFact
}

// Verdicts of a check.
const (
	VerdictAllowed  = "allowed"
	VerdictDenied   = "denied"
	VerdictNoPolicy = "no-policy"
)

// CheckReport is the outcome of a check: the policy version applied, every
// fact with how it was established, every rule's value, and the verdict.
type CheckReport struct {
	Repository string `json:"repository"`
	// Verdict is allowed, denied, or no-policy (the repository has no
	// published policy: nothing was checked).
	Verdict string `json:"verdict"`
	// PolicyVersion and PolicyDigest are the version applied.
	PolicyVersion int    `json:"policyVersion,omitempty"`
	PolicyDigest  string `json:"policyDigest,omitempty"`
	// Seen is the newest version remembered before this check.
	Seen       *signpolicy.Head       `json:"seen,omitempty"`
	Tag        string                 `json:"tag"`
	Commit     string                 `json:"commit"`
	Evaluation *signpolicy.Evaluation `json:"evaluation,omitempty"`
	// Duration is how long the check took, fetching and verifying
	// included.
	Duration time.Duration `json:"durationNanos"`
}

// Allowed reports whether the release may be signed: the policy allowed
// it, or there is no policy.
func (r *CheckReport) Allowed() bool { return r.Verdict != VerdictDenied }

// Record returns the policy version that allowed the release, as its
// provenance records it; nil unless a policy allowed it.
func (r *CheckReport) Record() *signpolicy.ReleaseRecord {
	if r == nil || r.Verdict != VerdictAllowed {
		return nil
	}
	return &signpolicy.ReleaseRecord{Repository: r.Repository, Version: r.PolicyVersion, Digest: r.PolicyDigest, Tag: r.Tag, Commit: r.Commit}
}

// ErrNoPolicy is returned (wrapped) for a repository with no published
// policy when one is required.
var ErrNoPolicy = errors.New("no published signing policy")

// DeniedError is a release the signing policy denied.
type DeniedError struct {
	Report *CheckReport
}

func (e *DeniedError) Error() string {
	r := e.Report
	return fmt.Sprintf("the signing policy of %s (version %d) denies the release of tag %s (commit %s): %s",
		r.Repository, r.PolicyVersion, r.Tag, r.Commit, r.Evaluation.Decision.Reason)
}

// Err returns the report's verdict as an error: a *DeniedError for a
// denial, ErrNoPolicy (wrapped) for a repository without a policy when
// require is set, nil when the release may be signed.
func (r *CheckReport) Err(require bool) error {
	switch {
	case r.Verdict == VerdictDenied:
		return &DeniedError{Report: r}
	case r.Verdict == VerdictNoPolicy && require:
		return fmt.Errorf("%s has %w, and one is required", r.Repository, ErrNoPolicy)
	}
	return nil
}

// Check fetches and verifies the repository's policy chain (remembering
// its newest version), establishes the facts of the release (the tag's
// signer over exactly that tag object pointing at the commit; the
// distinct principals whose approvals of exactly that commit verified;
// verified scans), and evaluates the current policy. A denial is a report
// with Verdict denied, not an error; an error means the check could not be
// made (and nothing may be signed).
func Check(ctx context.Context, req CheckRequest) (*CheckReport, error) {
	start := time.Now()
	show, err := Show(ctx, req.Source, req.Repository)
	if err != nil {
		return nil, err
	}
	r := &CheckReport{Repository: req.Repository, Tag: req.Tag, Seen: show.Seen}
	repo, err := gitfacts.Open(ctx, req.GitDir)
	if err != nil {
		return nil, err
	}
	tag, err := repo.Tag(ctx, req.Tag)
	if err != nil {
		return nil, err
	}
	r.Commit = tag.Target
	if req.Commit != "" {
		if r.Commit, err = repo.Commit(ctx, req.Commit); err != nil {
			return nil, err
		}
	}
	cur := show.Chain.Current()
	if cur == nil {
		r.Verdict, r.Duration = VerdictNoPolicy, elapsed(start)
		return r, nil
	}
	if err := signpolicy.CheckCommit(r.Commit); err != nil {
		return nil, err
	}
	r.PolicyVersion, r.PolicyDigest = cur.Number, cur.Digest
	pol := cur.Policy
	root := req.Source.Trust.Root

	tagFact, tagEvidence := gitfacts.Verify(tag, r.Commit, pol)
	want := signpolicy.Approval{Repository: req.Repository, Kind: signpolicy.KindRelease, Commit: r.Commit}
	bundles, err := req.Source.Store.Approvals(ctx, want)
	if err != nil {
		return nil, err
	}
	names, approvalEvidence, err := pol.Approvals(root, want, bundles)
	if err != nil {
		return nil, err
	}
	subjects := []string{"gitCommit:" + r.Commit}
	if req.Image != "" {
		subjects = append(subjects, req.Image)
	}
	scans, scanEvidence, err := pol.Scans(root, subjects, req.Scans)
	if err != nil {
		return nil, err
	}
	for _, s := range req.LocalScans {
		if s.Scanner != signpolicy.ReservedPrincipal {
			return nil, errors.New("policyops: a local scan result must name hallmark as its scanner")
		}
		scans = append(scans, s)
		scanEvidence = append(scanEvidence, signpolicy.Evidence{Fact: "scan", Source: "hallmark", Result: signpolicy.Verified, Principal: s.Scanner,
			Detail: fmt.Sprintf("%s result produced by this run about %s", s.PredicateType, s.Subject)})
	}
	in := signpolicy.Input{Kind: signpolicy.KindRelease, Repository: req.Repository, Commit: r.Commit, Tag: &tagFact, Approvals: names, Scans: scans}
	ev := &signpolicy.Evaluation{PolicyVersion: cur.Number, PolicyDigest: cur.Digest, Input: in}
	ev.Evidence = append(append([]signpolicy.Evidence{tagEvidence}, approvalEvidence...), scanEvidence...)
	ev.Decision = pol.Evaluate(ctx, in)
	r.Evaluation = ev
	r.Verdict = VerdictDenied
	if ev.Decision.Allowed {
		r.Verdict = VerdictAllowed
	}
	r.Duration = elapsed(start)
	return r, nil
}
