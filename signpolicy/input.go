package signpolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// Kind is what is being allowed: a release of a commit, or an update of
// the policy itself.
type Kind string

// The kinds.
const (
	KindRelease      Kind = "release"
	KindPolicyUpdate Kind = "policy-update"
)

// Input is what a policy's rules see (input in Rego): verified facts only.
// A fact that did not verify is absent, never false or partial; the
// evidence that says why travels beside it ([Evidence]), not in it.
type Input struct {
	Kind       Kind   `json:"kind"`
	Repository string `json:"repository"`
	// Commit is the commit being released (releases).
	Commit string `json:"commit,omitempty"`
	// Tag is the release tag (releases).
	Tag *TagFact `json:"tag,omitempty"`
	// Approvals are the distinct principals whose approvals of exactly
	// this commit, or this policy version, verified; sorted.
	Approvals []string `json:"approvals"`
	// Scans are the verified scan results about the commit or the image.
	Scans []ScanFact `json:"scans"`
	// Policy is the policy version being approved (updates).
	Policy *PolicyFact `json:"policy,omitempty"`
}

// TagFact is the release tag. Signer is the principal whose key verified
// the annotated tag's signature over exactly that tag object, a tag that
// names itself and points at the commit being released; it is empty
// (absent in Rego) for a lightweight tag, an unsigned tag, a signature by
// a key no principal holds, a signature that does not verify, or a tag
// that does not point at the commit.
type TagFact struct {
	Name   string `json:"name"`
	Signer string `json:"signer,omitempty"`
}

// ScanFact is one verified scan result: a statement about the commit or
// the image, signed by the principal Scanner (or produced by hallmark
// itself in the same run, Scanner [ReservedPrincipal]).
type ScanFact struct {
	Scanner       string `json:"scanner"`
	PredicateType string `json:"predicateType"`
	// Subject is what the scan is about: "gitCommit:<hex>" or
	// "sha256:<hex>".
	Subject   string `json:"subject"`
	Predicate any    `json:"predicate"`
}

// PolicyFact is the policy version an update would publish.
type PolicyFact struct {
	Version        int    `json:"version"`
	Digest         string `json:"digest"`
	PreviousDigest string `json:"previousDigest"`
}

// Evidence is how one fact was, or was not, established: one approval,
// one scan, the tag.
type Evidence struct {
	// Fact is "tag", "approval" or "scan".
	Fact string `json:"fact"`
	// Source names what was examined: "approval 2", "tag v1.0 (object 1a2b…)".
	Source string `json:"source"`
	// Result is "verified" (the fact counts), "duplicate" (it verified
	// but its principal already counts) or "rejected".
	Result string `json:"result"`
	// Principal is the principal the fact counts for, when it verified.
	Principal string `json:"principal,omitempty"`
	// Detail says how it verified, or why it did not.
	Detail string `json:"detail"`
}

// Evidence results.
const (
	Verified  = "verified"
	Duplicate = "duplicate"
	Rejected  = "rejected"
)

var repositoryPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~:/@+-]{0,254}$`)

// CheckRepository checks a repository URI as policies name it
// ("git.example.com/acme/app"): 1 to 255 printable characters without
// spaces, starting with a letter or digit. Repositories are compared
// exactly, never normalized.
func CheckRepository(repo string) error {
	if !repositoryPattern.MatchString(repo) {
		return fmt.Errorf("repository %q: want a URI such as git.example.com/acme/app (letters, digits and ._~:/@+-, at most 255)", repo)
	}
	return nil
}

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// CheckCommit checks a git commit id: 40 lowercase hex digits (SHA-1
// object format; SHA-256 repositories are not supported).
func CheckCommit(c string) error {
	if !commitPattern.MatchString(c) {
		return fmt.Errorf("commit %q: want 40 lowercase hex digits (a SHA-1 git commit id)", c)
	}
	return nil
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// CheckDigest checks a policy digest: "sha256:" and 64 lowercase hex
// digits.
func CheckDigest(d string) error {
	if !digestPattern.MatchString(d) {
		return fmt.Errorf("policy digest %q: want sha256:<64 lowercase hex digits>", d)
	}
	return nil
}

// MarshalJSON writes the input as Rego sees it: approvals and scans are
// lists, empty rather than null.
func (in Input) MarshalJSON() ([]byte, error) {
	type plain Input
	if in.Approvals == nil {
		in.Approvals = []string{}
	}
	if in.Scans == nil {
		in.Scans = []ScanFact{}
	}
	return json.Marshal(plain(in))
}

// value returns the input as Rego sees it: decoded JSON.
func (in Input) value() (any, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

var errNoKind = errors.New("input has no kind")
