package ops

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"hallmark.dev/gate"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// The built-in verification policies of VerifyAttestations: SLSA
// provenance requirements every verified provenance statement must meet,
// and a gate attestation policy at least one verified gate attestation
// must satisfy.

// ProvenancePolicyResult is the SLSA checks of one verified provenance
// statement.
type ProvenancePolicyResult struct {
	Attestation string       `json:"attestation"`
	Checks      *slsa.Result `json:"checks"`
}

// ProvenancePolicyError is returned when verified provenance statements
// fail the SLSA requirements; it names each and its failed checks.
type ProvenancePolicyError struct {
	Failed []ProvenanceFailure
}

func (e *ProvenancePolicyError) Error() string {
	if len(e.Failed) == 1 {
		return e.Failed[0].Source + ": " + e.Failed[0].Err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d verified provenance statements failed the SLSA checks", len(e.Failed))
	for _, f := range e.Failed {
		for _, c := range f.Err.Failed {
			fmt.Fprintf(&b, "\n  %s: %s: %s", f.Source, c.Name, c.Detail)
		}
	}
	return b.String()
}

// GatePolicyResult is the checks of one verified gate attestation.
type GatePolicyResult struct {
	Attestation string `json:"attestation"`
	// SignedAt is the earliest verified signing time, zero when there is
	// none.
	SignedAt time.Time               `json:"signedAt,omitzero"`
	Passed   bool                    `json:"passed"`
	Checks   []gate.AttestationCheck `json:"checks"`
}

// GatePolicyError is returned when no verified gate attestation satisfies
// the gate attestation policy.
type GatePolicyError struct {
	Subject string
	Policy  gate.AttestationRequirements
	// Results are the checks of every verified gate attestation.
	Results []GatePolicyResult
	// Now is the time the ages were judged at.
	Now time.Time
}

// NoTrustedTime reports whether no verified gate attestation has a
// verified signing time (key signatures verified without a trusted root
// whose timestamp authority timestamped them).
func (e *GatePolicyError) NoTrustedTime() bool {
	return !slices.ContainsFunc(e.Results, func(r GatePolicyResult) bool { return !r.SignedAt.IsZero() })
}

func (e *GatePolicyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no passing gate attestation newer than %s", gate.FormatAge(e.Policy.MaxAge))
	if e.Policy.PolicyDigest != "" {
		fmt.Fprintf(&b, " under policy %s", e.Policy.PolicyDigest)
	}
	fmt.Fprintf(&b, " for %s: ", e.Subject)
	var newest *GatePolicyResult
	for i, r := range e.Results {
		if !r.SignedAt.IsZero() && (newest == nil || r.SignedAt.After(newest.SignedAt)) {
			newest = &e.Results[i]
		}
	}
	if newest == nil {
		fmt.Fprintf(&b, "none of the %d verified has a verified signing time (%v)", len(e.Results), gate.ErrNoTrustedTime)
		return b.String()
	}
	fmt.Fprintf(&b, "newest is from %s (%s ago), %s", newest.SignedAt.Format(time.RFC3339), gate.FormatAge(e.Now.Sub(newest.SignedAt)), newest.Attestation)
	var failed []string
	for _, c := range newest.Checks {
		if !c.Passed {
			failed = append(failed, c.Name+": "+c.Detail)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "; it failed %s", strings.Join(failed, "; "))
	}
	return b.String()
}

// checkPolicies runs the built-in policies the request asks for over the
// verified attestations.
func checkPolicies(out *VerifyAttestationsResult, req VerifyAttestationsRequest, subject, digest string) error {
	var errs []error
	if req.Provenance != nil {
		r := *req.Provenance
		r.Artifacts = []slsa.Artifact{{Name: subject, Digests: []string{digest}}}
		failed, err := checkProvenance(out.Verified, r, func(v verify.VerifiedAttestation, res *slsa.Result) {
			out.Provenance = append(out.Provenance, ProvenancePolicyResult{Attestation: v.Source, Checks: res})
		})
		if err != nil {
			return err
		}
		if len(failed) > 0 {
			errs = append(errs, &ProvenancePolicyError{Failed: failed})
		}
	}
	if req.Gate != nil {
		now := time.Now
		if req.Now != nil {
			now = req.Now
		}
		t := now()
		passed := false
		for _, v := range out.Verified {
			signedAt := earliestTrustedTime(v.Signer)
			checks, err := gate.CheckAttestation(v.Statement.Predicate, digest, signedAt, t, *req.Gate)
			var ae *gate.AttestationError
			if err != nil && !errors.As(err, &ae) {
				return fmt.Errorf("%s: %w", v.Source, err)
			}
			out.Gate = append(out.Gate, GatePolicyResult{Attestation: v.Source, SignedAt: signedAt, Passed: err == nil, Checks: checks})
			passed = passed || err == nil
		}
		if !passed {
			errs = append(errs, &GatePolicyError{Subject: subject, Policy: *req.Gate, Results: out.Gate, Now: t})
		}
	}
	return errors.Join(errs...)
}

// earliestTrustedTime is the earliest verified time the signature is known
// to have existed at (a signed timestamp or log integration time), zero
// when there is none.
func earliestTrustedTime(s verify.Signer) time.Time {
	var t time.Time
	for _, ts := range s.Timestamps {
		if ts.Type != "timestamp-authority" && ts.Type != "transparency-log" {
			continue
		}
		if t.IsZero() || ts.Time.Before(t) {
			t = ts.Time
		}
	}
	return t
}

// validatePolicies checks that the built-in policies apply to the
// predicate type verified.
func validatePolicies(req VerifyAttestationsRequest) error {
	if req.Provenance != nil {
		if !slices.Contains(slsa.PredicateTypes, req.Policy.PredicateType) {
			return fmt.Errorf("provenance requirements apply to SLSA provenance (%s), not %s", strings.Join(slsa.PredicateTypes, " or "), req.Policy.PredicateType)
		}
		if err := req.Provenance.Validate(); err != nil {
			return err
		}
	}
	if req.Gate != nil {
		if req.Policy.PredicateType != gate.PredicateType {
			return fmt.Errorf("the gate attestation policy applies to gate attestations (%s), not %s", gate.PredicateType, req.Policy.PredicateType)
		}
		if err := req.Gate.Validate(); err != nil {
			return err
		}
	}
	return nil
}
