package signpolicy

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"

	"hallmark.dev/verify"
)

// Writer is who may sign policy versions: keys, keyless identities, or
// both. A version counts when any of them signed it.
type Writer struct {
	Keys       []crypto.PublicKey
	Identities []Identity
}

// Trust is what a chain is verified against.
type Trust struct {
	// Root is the trusted root: its transparency logs must list every
	// version and approval, and its CAs issue keyless signers'
	// certificates. It must list a log ([ErrNoLog]).
	Root verify.TrustedRoot
	// Writer signs versions.
	Writer Writer
}

func (t Trust) writerSigners() (*signerSet, error) {
	if len(t.Writer.Keys) == 0 && len(t.Writer.Identities) == 0 {
		return nil, errors.New("signpolicy: no policy writer key or identity given")
	}
	var members []named
	for _, k := range t.Writer.Keys {
		members = append(members, named{name: "the policy writer", key: k})
	}
	for i := range t.Writer.Identities {
		members = append(members, named{name: "the policy writer", identity: &t.Writer.Identities[i]})
	}
	s, err := newSignerSet(t.Root, members)
	if err != nil {
		return nil, fmt.Errorf("signpolicy: %w", err)
	}
	if s.keys == nil && s.keyless == nil {
		return nil, errors.New("signpolicy: the policy writer's keys are of a type statements are not signed with")
	}
	return s, nil
}

// Entry is one published version as a server stores and serves it: the
// writer's bundle of the version statement and, for an update, the
// approval bundles that allowed it.
type Entry struct {
	Bundle    json.RawMessage   `json:"bundle"`
	Approvals []json.RawMessage `json:"approvals,omitempty"`
}

// Version is a verified policy version.
type Version struct {
	Repository     string `json:"repository"`
	Number         int    `json:"version"`
	Digest         string `json:"digest"`
	PreviousDigest string `json:"previousDigest,omitempty"`
	// Policy is the parsed policy.
	Policy *Policy `json:"-"`
	// Writer is how the writer's signature verified.
	Writer verify.Signer `json:"writer"`
	// Update is how an update (version 2 on) was approved.
	Update *UpdateCheck `json:"update,omitempty"`
}

// UpdateCheck is an update's approval under the previous policy and under
// the new one; both allowed it.
type UpdateCheck struct {
	Previous Evaluation `json:"previous"`
	New      Evaluation `json:"new"`
}

// Evaluation is one policy evaluation: the facts, how each was
// established, and the decision.
type Evaluation struct {
	PolicyVersion int        `json:"policyVersion"`
	PolicyDigest  string     `json:"policyDigest"`
	Input         Input      `json:"input"`
	Evidence      []Evidence `json:"evidence"`
	Decision      Decision   `json:"decision"`
}

// Head is the newest version a reader has seen of a repository's policy:
// what it remembers between reads.
type Head struct {
	Repository string `json:"repository"`
	Version    int    `json:"version"`
	Digest     string `json:"digest"`
}

// Reason names why a version or a chain was refused.
type Reason string

// The reasons.
const (
	ReasonWrongSigner    Reason = "wrong signer"
	ReasonInvalid        Reason = "invalid version"
	ReasonRollback       Reason = "rollback"
	ReasonFork           Reason = "fork"
	ReasonSkippedVersion Reason = "skipped version"
	ReasonUnderApproved  Reason = "under-approved update"
)

// ChainError is a refused version or chain.
type ChainError struct {
	Repository string
	Version    int
	Reason     Reason
	Err        error
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("signing policy of %s, version %d: %s: %v", e.Repository, e.Version, e.Reason, e.Err)
}

func (e *ChainError) Unwrap() error { return e.Err }

// VerifyNext verifies one version that follows prev (nil: the first
// version): signed by the writer and logged; a well-formed record of the
// repository whose policy parses; numbered prev+1 and naming prev's digest
// as its predecessor; and, for an update, approved under both prev's
// policy and its own for kind policy-update. It is what a server checks
// before it accepts a version, and what a reader checks for each.
func VerifyNext(ctx context.Context, t Trust, repo string, prev *Version, e Entry) (*Version, error) {
	writer, err := t.writerSigners()
	if err != nil {
		return nil, err
	}
	return verifyNext(ctx, t, writer, repo, prev, e)
}

func verifyNext(ctx context.Context, t Trust, writer *signerSet, repo string, prev *Version, e Entry) (*Version, error) {
	want := 1
	if prev != nil {
		want = prev.Number + 1
	}
	fail := func(n int, r Reason, format string, args ...any) (*Version, error) {
		return nil, &ChainError{Repository: repo, Version: n, Reason: r, Err: fmt.Errorf(format, args...)}
	}
	id, err := writer.identify(fmt.Sprintf("version %d", want), e.Bundle, VersionPredicateType)
	if err != nil {
		return fail(want, ReasonWrongSigner, "not signed by the policy writer: %v", err)
	}
	rec, err := ParseRecord(id.att.Payload)
	if err != nil {
		return fail(want, ReasonInvalid, "%v", err)
	}
	if rec.Repository != repo {
		return fail(rec.Version, ReasonInvalid, "the version is of repository %s", rec.Repository)
	}
	switch {
	case rec.Version < want:
		return fail(rec.Version, ReasonRollback, "version %d is not after version %d", rec.Version, want-1)
	case rec.Version > want && prev == nil:
		return fail(rec.Version, ReasonSkippedVersion, "the first version must be version 1")
	case rec.Version > want:
		return fail(rec.Version, ReasonSkippedVersion, "version %d does not follow version %d", rec.Version, prev.Number)
	case prev != nil && rec.PreviousDigest != prev.Digest:
		return fail(rec.Version, ReasonFork, "it names %s as its predecessor, but version %d is %s", rec.PreviousDigest, prev.Number, prev.Digest)
	}
	pol, err := Parse([]byte(rec.Policy))
	if err != nil {
		return fail(rec.Version, ReasonInvalid, "%v", err)
	}
	v := &Version{Repository: repo, Number: rec.Version, Digest: rec.Digest, PreviousDigest: rec.PreviousDigest, Policy: pol, Writer: id.att.Signer}
	if prev == nil {
		if len(e.Approvals) > 0 {
			return fail(1, ReasonInvalid, "version 1 carries approvals: it is signed by the writer alone")
		}
		return v, nil
	}
	fact := &PolicyFact{Version: rec.Version, Digest: rec.Digest, PreviousDigest: rec.PreviousDigest}
	bundles := make([][]byte, len(e.Approvals))
	for i, a := range e.Approvals {
		bundles[i] = a
	}
	update := &UpdateCheck{}
	for _, c := range []struct {
		under *Version
		out   *Evaluation
		which string
	}{{prev, &update.Previous, fmt.Sprintf("the previous policy (version %d)", prev.Number)}, {v, &update.New, fmt.Sprintf("the new policy (version %d)", v.Number)}} {
		ev, err := evaluateUpdate(ctx, t.Root, c.under, repo, fact, bundles)
		if err != nil {
			return nil, err
		}
		*c.out = *ev
		if !ev.Decision.Allowed {
			return fail(rec.Version, ReasonUnderApproved, "not allowed by %s: %s (verified approvals: %s)", c.which, ev.Decision.Reason, listOrNone(ev.Input.Approvals))
		}
	}
	v.Update = update
	return v, nil
}

func evaluateUpdate(ctx context.Context, root verify.TrustedRoot, under *Version, repo string, fact *PolicyFact, bundles [][]byte) (*Evaluation, error) {
	want := Approval{Repository: repo, Kind: KindPolicyUpdate, Policy: fact}
	names, evidence, err := under.Policy.Approvals(root, want, bundles)
	if err != nil {
		return nil, err
	}
	in := Input{Kind: KindPolicyUpdate, Repository: repo, Approvals: names, Policy: fact}
	return &Evaluation{
		PolicyVersion: under.Number,
		PolicyDigest:  under.Digest,
		Input:         in,
		Evidence:      evidence,
		Decision:      under.Policy.Evaluate(ctx, in),
	}, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	out := names[0]
	for _, n := range names[1:] {
		out += ", " + n
	}
	return out
}

// Chain is a verified chain of versions, from version 1.
type Chain struct {
	Repository string     `json:"repository"`
	Versions   []*Version `json:"versions"`
}

// Current returns the newest version, or nil when the repository has
// none.
func (c *Chain) Current() *Version {
	if len(c.Versions) == 0 {
		return nil
	}
	return c.Versions[len(c.Versions)-1]
}

// Head returns what a reader remembers of the chain: its newest version
// (nil when there is none).
func (c *Chain) Head() *Head {
	cur := c.Current()
	if cur == nil {
		return nil
	}
	return &Head{Repository: c.Repository, Version: cur.Number, Digest: cur.Digest}
}

// VerifyChain verifies a repository's whole chain, entries in order from
// version 1, each with [VerifyNext], and compares it with seen, the newest
// version the reader saw before (nil if none): a chain that ends before
// seen's version is a rollback, one whose version at seen's number has
// another digest is a fork. An empty chain is a repository without a
// policy (a rollback when seen is set).
func VerifyChain(ctx context.Context, t Trust, repo string, entries []Entry, seen *Head) (*Chain, error) {
	if err := CheckRepository(repo); err != nil {
		return nil, fmt.Errorf("signpolicy: %w", err)
	}
	if seen != nil && seen.Repository != repo {
		return nil, fmt.Errorf("signpolicy: the remembered version is of %s, not %s", seen.Repository, repo)
	}
	writer, err := t.writerSigners()
	if err != nil {
		return nil, err
	}
	c := &Chain{Repository: repo}
	var prev *Version
	for _, e := range entries {
		v, err := verifyNext(ctx, t, writer, repo, prev, e)
		if err != nil {
			return nil, err
		}
		c.Versions = append(c.Versions, v)
		prev = v
	}
	if seen == nil {
		return c, nil
	}
	if len(c.Versions) < seen.Version {
		newest := "no version"
		if prev != nil {
			newest = fmt.Sprintf("version %d", prev.Number)
		}
		return nil, &ChainError{Repository: repo, Version: seen.Version, Reason: ReasonRollback,
			Err: fmt.Errorf("the server's newest is %s, but version %d (%s) was seen before", newest, seen.Version, seen.Digest)}
	}
	if got := c.Versions[seen.Version-1].Digest; got != seen.Digest {
		return nil, &ChainError{Repository: repo, Version: seen.Version, Reason: ReasonFork,
			Err: fmt.Errorf("the server's version %d is %s, but %s was seen before", seen.Version, got, seen.Digest)}
	}
	return c, nil
}
