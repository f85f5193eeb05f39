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
	if _, _, err := attest.SplitDigest(digest); err != nil {
		return nil, err
	}
	if p.Authority == nil {
		return nil, ErrNoAuthority
	}
	if p.PredicateType == "" {
		return nil, errors.New("no predicate type given")
	}
	if len(sigs) == 0 {
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
		st, payload, signer, serr := verifyStatementBundle(digest, s, p.Authority)
		if serr != nil {
			res.Rejected = append(res.Rejected, serr)
			continue
		}
		if st.PredicateType != p.PredicateType {
			res.Rejected = append(res.Rejected, &SignatureError{Source: s.Source, Step: StepPayload,
				Err: &otherTypeError{got: st.PredicateType, want: p.PredicateType}})
			continue
		}
		res.Verified = append(res.Verified, VerifiedAttestation{Source: s.Source, Signer: signer, Statement: st, Payload: payload})
	}
	if len(res.Verified) == 0 {
		return res, &NoValidSignatureError{Subject: digest, Rejected: res.Rejected}
	}
	return res, nil
}

// otherTypeError reports a verified attestation of another predicate type;
// it matches ErrOtherPredicateType.
type otherTypeError struct{ got, want string }

func (e *otherTypeError) Error() string {
	return fmt.Sprintf("predicate type %s, want %s", e.got, e.want)
}

func (e *otherTypeError) Is(target error) bool { return target == ErrOtherPredicateType }
