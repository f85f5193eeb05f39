package verify

import (
	"encoding/json"
	"errors"
	"fmt"

	"hallmark.dev/attest"
	"hallmark.dev/oci"
)

// AttestationPolicy is what an attestation must satisfy.
type AttestationPolicy struct {
	// Authority says who may sign; required.
	Authority Authority
	// PredicateType is the predicate type URI the statement must have
	// (see attest.PredicateType); required.
	PredicateType string
}

// VerifiedAttestation is one attestation that verified.
type VerifiedAttestation struct {
	Source    string            `json:"source"`
	Signer    Signer            `json:"signer"`
	Statement *attest.Statement `json:"statement"`
	// Payload is the signed statement, byte for byte.
	Payload json.RawMessage `json:"-"`
}

// AttestationResult is the outcome of verifying an artifact's attestations.
type AttestationResult struct {
	Digest        string                `json:"digest"`
	PredicateType string                `json:"predicateType"`
	Verified      []VerifiedAttestation `json:"verified"`
	Rejected      []*SignatureError     `json:"rejected,omitempty"`
}

// Attestations verifies the attestations found for a digest
// ("sha256:<hex>") and keeps those of the requested predicate type. It
// returns a result when at least one verified; otherwise ErrNoSignatures or
// a *NoValidSignatureError naming, for each, what failed. Attestations of
// other predicate types are rejected at the payload step, so the report
// says they were seen.
func Attestations(digest string, sigs []oci.Signature, p AttestationPolicy) (*AttestationResult, error) {
	return AttestationsFrom(digest, sigs, nil, p)
}

// AttestationsFrom is [Attestations] over attestations held in memory
// (sigs) and bundles read as streams (see [BundleSource]): an attestation
// of tens of megabytes is then verified in about its own size of memory,
// with the same checks.
func AttestationsFrom(digest string, sigs []oci.Signature, streamed []BundleSource, p AttestationPolicy) (*AttestationResult, error) {
	if _, _, err := attest.SplitDigest(digest); err != nil {
		return nil, err
	}
	if p.Authority == nil {
		return nil, ErrNoAuthority
	}
	if p.PredicateType == "" {
		return nil, errors.New("no predicate type given")
	}
	if len(sigs)+len(streamed) == 0 {
		return nil, fmt.Errorf("%s: %w", digest, ErrNoSignatures)
	}
	res := &AttestationResult{Digest: digest, PredicateType: p.PredicateType}
	for _, s := range sigs {
		if s.Legacy != nil && s.Legacy.DSSE {
			b, err := legacyAttestationBundle(s.Legacy)
			if err != nil {
				res.Rejected = append(res.Rejected, &SignatureError{Source: s.Source, Step: StepBundle, Err: err})
				continue
			}
			s = oci.Signature{Source: s.Source, Bundle: b}
		}
		if s.Bundle == nil {
			res.Rejected = append(res.Rejected, &SignatureError{Source: s.Source, Step: StepBundle, Err: errors.New("attestation could not be read")})
			continue
		}
		res.add(s.Source, p.PredicateType)(verifyStatementBundle(digest, s, p.Authority))
	}
	for _, src := range streamed {
		res.add(src.Source, p.PredicateType)(verifyStatementSource(digest, src, p.Authority))
	}
	if len(res.Verified) == 0 {
		return res, &NoValidSignatureError{Subject: digest, Rejected: res.Rejected}
	}
	return res, nil
}

// add returns a function that records one attestation's outcome.
func (res *AttestationResult) add(source, predicateType string) func(*attest.Statement, []byte, Signer, *SignatureError) {
	return func(st *attest.Statement, payload []byte, signer Signer, serr *SignatureError) {
		switch {
		case serr != nil:
			res.Rejected = append(res.Rejected, serr)
		case st.PredicateType != predicateType:
			res.Rejected = append(res.Rejected, &SignatureError{Source: source, Step: StepPayload,
				Err: &OtherPredicateTypeError{Got: st.PredicateType, Want: predicateType}})
		default:
			res.Verified = append(res.Verified, VerifiedAttestation{Source: source, Signer: signer, Statement: st, Payload: payload})
		}
	}
}

// OtherPredicateTypeError reports a verified attestation of another
// predicate type than the one asked for; it matches ErrOtherPredicateType.
type OtherPredicateTypeError struct{ Got, Want string }

func (e *OtherPredicateTypeError) Error() string {
	return fmt.Sprintf("predicate type %s, want %s", e.Got, e.Want)
}

// Is makes errors.Is(err, ErrOtherPredicateType) true.
func (e *OtherPredicateTypeError) Is(target error) bool { return target == ErrOtherPredicateType }
