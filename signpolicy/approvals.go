package signpolicy

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"hallmark.dev/attest"
	"hallmark.dev/verify"
)

// Approvals verifies approval bundles (Sigstore bundles of approval
// statements) under the policy's principals and returns the distinct
// principals whose approval of exactly want verified, sorted, with the
// evidence of each bundle. An approval counts only if it is signed by a
// principal's key or identity, is in the trusted root's transparency log,
// and approves exactly want (repository, kind, and commit or policy
// version); a principal counts once however many approvals or keys it
// has. The error is for a setup problem (a root without a log, an invalid
// want), never for a bundle.
func (p *Policy) Approvals(root verify.TrustedRoot, want Approval, bundles [][]byte) ([]string, []Evidence, error) {
	if err := want.Check(); err != nil {
		return nil, nil, fmt.Errorf("signpolicy: approvals: %w", err)
	}
	signers, err := principalSigners(p, root)
	if err != nil {
		return nil, nil, fmt.Errorf("signpolicy: approvals: %w", err)
	}
	var (
		names    []string
		evidence []Evidence
		counted  = map[string]int{}
	)
	for i, b := range bundles {
		ev := Evidence{Fact: "approval", Source: fmt.Sprintf("approval %d", i+1)}
		reject := func(format string, args ...any) {
			ev.Result, ev.Detail = Rejected, fmt.Sprintf(format, args...)
			evidence = append(evidence, ev)
		}
		id, err := signers.identify(ev.Source, b, ApprovalPredicateType)
		if err != nil {
			reject("%v", err)
			continue
		}
		ev.Principal = id.name
		got, err := ParseApproval(id.att.Payload)
		if err != nil {
			reject("signed by %s, but %v", id.name, err)
			continue
		}
		if why := mismatch(got, want); why != "" {
			reject("signed by %s, but %s", id.name, why)
			continue
		}
		if n, ok := counted[id.name]; ok {
			ev.Result, ev.Detail = Duplicate, fmt.Sprintf("%s already approved (approval %d): a principal counts once; %s", id.name, n, id.how)
			evidence = append(evidence, ev)
			continue
		}
		counted[id.name] = i + 1
		names = append(names, id.name)
		ev.Result, ev.Detail = Verified, fmt.Sprintf("%s approved the %s: %s", id.name, got, id.how)
		evidence = append(evidence, ev)
	}
	sort.Strings(names)
	return names, evidence, nil
}

// mismatch says how an approval differs from the one wanted, or "".
func mismatch(got, want Approval) string {
	switch {
	case got.Repository != want.Repository:
		return fmt.Sprintf("the approval is for repository %s, not %s", got.Repository, want.Repository)
	case got.Kind != want.Kind:
		return fmt.Sprintf("the approval is a %s approval, not a %s approval", got.Kind, want.Kind)
	case want.Kind == KindRelease && got.Commit != want.Commit:
		return fmt.Sprintf("the approval is for commit %s, not %s", got.Commit, want.Commit)
	case want.Kind == KindPolicyUpdate && got.Policy.Digest != want.Policy.Digest:
		return fmt.Sprintf("the approval is for policy %s, not %s", got.Policy.Digest, want.Policy.Digest)
	case want.Kind == KindPolicyUpdate && got.Policy.Version != want.Policy.Version:
		return fmt.Sprintf("the approval is for policy version %d, not %d", got.Policy.Version, want.Policy.Version)
	case want.Kind == KindPolicyUpdate && got.Policy.PreviousDigest != want.Policy.PreviousDigest:
		return fmt.Sprintf("the approval is for an update after %s, not after %s", got.Policy.PreviousDigest, want.Policy.PreviousDigest)
	}
	return ""
}

// ScanPredicateTypes are the predicate types read as scan results:
// cosign's vulnerability scan (hallmark's gate result) and in-toto's.
var ScanPredicateTypes = []string{attest.PredicateVuln, "https://in-toto.io/attestation/vulns/v0.1"}

// Scans verifies scan result bundles under the policy's principals: each
// must be signed by a principal (the scanner), be in the trusted root's
// log, be of a [ScanPredicateTypes] type, and be about one of subjects
// ("gitCommit:<hex>" for the commit, "sha256:<hex>" for an image).
func (p *Policy) Scans(root verify.TrustedRoot, subjects []string, bundles [][]byte) ([]ScanFact, []Evidence, error) {
	signers, err := principalSigners(p, root)
	if err != nil {
		return nil, nil, fmt.Errorf("signpolicy: scans: %w", err)
	}
	var (
		facts    []ScanFact
		evidence []Evidence
	)
	for i, b := range bundles {
		ev := Evidence{Fact: "scan", Source: fmt.Sprintf("scan %d", i+1)}
		var (
			id      *identified
			lastErr error
		)
		for _, pt := range ScanPredicateTypes {
			if id, lastErr = signers.identify(ev.Source, b, pt); lastErr == nil {
				break
			}
		}
		if lastErr != nil {
			ev.Result, ev.Detail = Rejected, lastErr.Error()
			evidence = append(evidence, ev)
			continue
		}
		ev.Principal = id.name
		subject := ""
		for _, s := range id.att.Statement.Subject {
			for _, want := range subjects {
				alg, hexDigest, _ := strings.Cut(want, ":")
				if d, ok := s.Digest[alg]; ok && d == hexDigest {
					subject = want
				}
			}
		}
		if subject == "" {
			ev.Result, ev.Detail = Rejected, fmt.Sprintf("signed by %s, but about none of %s", id.name, strings.Join(subjects, ", "))
			evidence = append(evidence, ev)
			continue
		}
		var pred any
		if err := json.Unmarshal(id.att.Statement.Predicate, &pred); err != nil {
			ev.Result, ev.Detail = Rejected, fmt.Sprintf("signed by %s, but the predicate is not JSON: %v", id.name, err)
			evidence = append(evidence, ev)
			continue
		}
		facts = append(facts, ScanFact{Scanner: id.name, PredicateType: id.att.Statement.PredicateType, Subject: subject, Predicate: pred})
		ev.Result, ev.Detail = Verified, fmt.Sprintf("%s scan by %s about %s: %s", id.att.Statement.PredicateType, id.name, subject, id.how)
		evidence = append(evidence, ev)
	}
	return facts, evidence, nil
}
