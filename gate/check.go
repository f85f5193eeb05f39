package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"hallmark.dev/policy"
)

// CheckName is the name of the gate attestation check in reports.
const CheckName = "gate"

// attestationCheck is the gate attestation policy as a [policy.Check].
type attestationCheck struct {
	req AttestationRequirements
}

var (
	_ policy.Check             = (*attestationCheck)(nil)
	_ policy.ForPredicateTypes = (*attestationCheck)(nil)
)

// NewCheck returns the gate attestation policy as a verification policy
// over the verified gate attestations of one image (the input's only
// subject, named by its digest): one of them must pass every check of
// [AttestationRequirements], judged at the input's time. Who must have
// signed them is the verifier's authority, not this check's concern.
func NewCheck(req AttestationRequirements) (policy.Check, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return &attestationCheck{req: req}, nil
}

func (c *attestationCheck) Name() string { return CheckName }

// PredicateTypes says the check applies to gate attestations only.
func (c *attestationCheck) PredicateTypes() []string { return []string{PredicateType} }

// judged is one gate attestation and its findings.
type judged struct {
	source   string
	signedAt time.Time
	findings []policy.Finding
	passed   bool
}

func (c *attestationCheck) Evaluate(ctx context.Context, in policy.Input) (policy.Result, error) {
	if err := ctx.Err(); err != nil {
		return policy.Result{}, fmt.Errorf("gate: %w", err)
	}
	subject, digest, err := imageSubject(in.Subjects)
	if err != nil {
		return policy.Result{}, err
	}
	now := in.Now()
	res := policy.Result{Check: CheckName, Findings: []policy.Finding{}}
	var all []judged
	for _, a := range in.Attestations {
		var pred json.RawMessage
		if a.Statement != nil {
			pred = a.Statement.Predicate
		}
		signedAt := a.Signer.EarliestVerifiedTime()
		findings, _ := checkAttestation(pred, digest, signedAt, now, c.req)
		j := judged{source: a.Source, signedAt: signedAt, findings: findings, passed: true}
		for i := range findings {
			findings[i].Attestation = a.Source
			j.passed = j.passed && findings[i].Passed
		}
		res.Findings = append(res.Findings, findings...)
		all = append(all, j)
		res.Passed = res.Passed || j.passed
	}
	if !res.Passed {
		res.Err = c.noPassing(subject, all, now)
	}
	return res, nil
}

// imageSubject returns the one image the check is about and its digest.
func imageSubject(subjects []policy.Subject) (string, string, error) {
	if len(subjects) != 1 {
		return "", "", fmt.Errorf("gate: the attestation check is about one image, not %d subjects", len(subjects))
	}
	for _, d := range subjects[0].Digests {
		if ValidDigest(d) {
			return subjects[0].Name, d, nil
		}
	}
	return "", "", fmt.Errorf("gate: %s has no image digest (sha256:…)", subjects[0].Name)
}

// noPassing says why no verified gate attestation let the image through,
// by the newest of them.
func (c *attestationCheck) noPassing(subject string, all []judged, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "no passing gate attestation newer than %s", FormatAge(c.req.MaxAge))
	if c.req.PolicyDigest != "" {
		fmt.Fprintf(&b, " under policy %s", c.req.PolicyDigest)
	}
	fmt.Fprintf(&b, " for %s: ", subject)
	var newest *judged
	for i, j := range all {
		if !j.signedAt.IsZero() && (newest == nil || j.signedAt.After(newest.signedAt)) {
			newest = &all[i]
		}
	}
	if newest == nil {
		return fmt.Errorf("%snone of the %d verified has a verified signing time (%w)", b.String(), len(all), ErrNoTrustedTime)
	}
	fmt.Fprintf(&b, "newest is from %s (%s ago), %s", newest.signedAt.Format(time.RFC3339), FormatAge(now.Sub(newest.signedAt)), newest.source)
	var failed []string
	for _, f := range newest.findings {
		if !f.Passed {
			failed = append(failed, f.Name+": "+f.Detail)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "; it failed %s", strings.Join(failed, "; "))
	}
	return fmt.Errorf("%s", b.String())
}
