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
// subject, named by its digest), judged at the input's time. Of those
// within the window (a gate predicate for this digest, under the required
// gate policy, signed and scanned within [AttestationRequirements.MaxAge])
// the newest decides: it must say the gate passed. An older pass does not
// outweigh a newer block. Newest is by the scan's finish time, which the
// signer signed, then by the verified signing time: a key signature can be
// timestamped again at any time, so a fresh timestamp on an old result
// does not make it new (and its scan time must be inside the window
// anyway); on a tie a block decides. Who must have signed the attestations
// is the verifier's authority, not this check's concern.
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
	read     *attestedResult // nil when the predicate is not the gate's
	// inWindow: every check but the gate's result passed.
	inWindow bool
}

// newer reports whether a is a newer gate result than b: by scan finish
// time, then by signing time; on a tie a block is newer than a pass.
func newer(a, b *judged) bool {
	if c := a.read.scanFinishedOn.Compare(b.read.scanFinishedOn); c != 0 {
		return c > 0
	}
	if c := a.signedAt.Compare(b.signedAt); c != 0 {
		return c > 0
	}
	return !a.read.passed && b.read.passed
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
	all := make([]judged, 0, len(in.Attestations))
	var decider *judged
	for _, a := range in.Attestations {
		var pred json.RawMessage
		if a.Statement != nil {
			pred = a.Statement.Predicate
		}
		signedAt := a.Signer.EarliestVerifiedTime()
		findings, read := checkAttestation(pred, digest, signedAt, now, c.req)
		j := judged{source: a.Source, signedAt: signedAt, findings: findings, read: read, inWindow: read != nil}
		for i := range findings {
			findings[i].Attestation = a.Source
			if !findings[i].Passed && findings[i].Name != CheckPassed {
				j.inWindow = false
			}
		}
		all = append(all, j)
	}
	for i := range all {
		if all[i].inWindow && (decider == nil || newer(&all[i], decider)) {
			decider = &all[i]
		}
	}
	res := policy.Result{Check: CheckName, Findings: []policy.Finding{}}
	for i := range all {
		j := &all[i]
		if j.inWindow {
			f := policy.Finding{Attestation: j.source, Name: CheckNewest, Passed: j == decider}
			if j == decider {
				f.Detail = fmt.Sprintf("the newest gate result within %s: it decides", FormatAge(c.req.MaxAge))
			} else {
				f.Detail = fmt.Sprintf("%s has a newer gate result (scan finished at %s), which decides", decider.source, decider.read.scanFinishedOn.UTC().Format(time.RFC3339))
			}
			j.findings = append(j.findings, f)
		}
		res.Findings = append(res.Findings, j.findings...)
	}
	res.Passed = decider != nil && decider.read.passed
	if !res.Passed {
		res.Err = c.noPassing(subject, all, decider, now)
	}
	return res, nil
}

// signedLater reports whether a was signed after b; attestations signed in
// the same instant are ordered by scan finish time, then by source, so the
// one a refusal names does not depend on the order the registry listed them.
func signedLater(a, b *judged) bool {
	if c := a.signedAt.Compare(b.signedAt); c != 0 {
		return c > 0
	}
	if a.read != nil && b.read != nil {
		if c := a.read.scanFinishedOn.Compare(b.read.scanFinishedOn); c != 0 {
			return c > 0
		}
	} else if a.read != nil || b.read != nil {
		return a.read != nil
	}
	return a.source > b.source
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

// noPassing says why no verified gate attestation let the image through:
// by the one that decided, or else by the newest signed.
func (c *attestationCheck) noPassing(subject string, all []judged, decider *judged, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "no passing gate attestation newer than %s", FormatAge(c.req.MaxAge))
	if c.req.PolicyDigest != "" {
		fmt.Fprintf(&b, " under policy %s", c.req.PolicyDigest)
	}
	fmt.Fprintf(&b, " for %s: ", subject)
	newest := decider
	for i, j := range all {
		if decider == nil && !j.signedAt.IsZero() && (newest == nil || signedLater(&all[i], newest)) {
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
