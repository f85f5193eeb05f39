package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
	// WithoutPredicate says the caller does not read the predicates: each
	// is checked (strict JSON, an object) but not kept, so that
	// VerifiedAttestation.Payload and Statement.Predicate are nil, and a
	// bundle of 1 MiB or more is verified in two reads, in memory
	// independent of its size (an SBOM of hundreds of megabytes), up to
	// oci.MaxStreamedBundleSize rather than oci.MaxBundleSize.
	WithoutPredicate bool
}

// VerifiedAttestation is one attestation that verified.
type VerifiedAttestation struct {
	Source    string            `json:"source"`
	Signer    Signer            `json:"signer"`
	Statement *attest.Statement `json:"statement"`
	// Payload is the signed statement, byte for byte; nil, as the
	// statement's predicate, when the policy asked for the statement
	// without it (AttestationPolicy.WithoutPredicate).
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
	return attestations(digestTarget(digest), sigs, streamed, p)
}

// BlobAttestation verifies one attestation bundle, read as a stream (see
// [BundleSource]), about a blob: its statement must name the blob as a
// subject. A blob given by its content is read once, when the statement
// is checked, and hashed with the algorithms of
// [attest.ArtifactDigestAlgorithms] that the statement's subjects use:
// npm's provenance, for one, names a package by its SHA-512 alone. The
// result's Digest is the blob's digest that was looked for.
func BlobAttestation(src BundleSource, a Artifact, p AttestationPolicy) (*AttestationResult, error) {
	var t target
	switch {
	case a.Content != nil:
		t = &contentTarget{r: a.Content}
	case a.Digest != "":
		if _, _, err := attest.SplitDigest(a.Digest); err != nil {
			return nil, err
		}
		t = digestTarget(a.Digest)
	default:
		return nil, errors.New("no artifact or digest given")
	}
	return attestations(t, nil, []BundleSource{src}, p)
}

func attestations(t target, sigs []oci.Signature, streamed []BundleSource, p AttestationPolicy) (*AttestationResult, error) {
	if p.Authority == nil {
		return nil, ErrNoAuthority
	}
	if p.PredicateType == "" {
		return nil, errors.New("no predicate type given")
	}
	// named is the artifact's digest for results and messages.
	named := func() string {
		d, err := t.digest(nil)
		if err != nil {
			return "the artifact"
		}
		return d
	}
	if len(sigs)+len(streamed) == 0 {
		return nil, fmt.Errorf("%s: %w", named(), ErrNoSignatures)
	}
	res := &AttestationResult{PredicateType: p.PredicateType}
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
		res.add(s.Source, p)(verifyStatementBundle(t, s, p.Authority, p.WithoutPredicate))
	}
	for _, src := range streamed {
		res.add(src.Source, p)(verifyStatementSource(t, src, p.Authority, p.WithoutPredicate))
	}
	res.Digest = named()
	if len(res.Verified) == 0 {
		return res, &NoValidSignatureError{Subject: res.Digest, Rejected: res.Rejected}
	}
	return res, nil
}

// target is the artifact a statement must be about.
type target interface {
	// digest returns the artifact's digest ("alg:hex") to look for among
	// the subjects of st, the statement as read before its signature is
	// checked (nil when it did not parse). Which digest is looked for
	// does not decide the verdict: the verified statement must name it.
	digest(st *attest.Statement) (string, error)
}

// digestTarget is an artifact known by its digest.
type digestTarget string

func (d digestTarget) digest(*attest.Statement) (string, error) { return string(d), nil }

// contentTarget is an artifact known by its content, read when the first
// statement is checked, with the algorithms its subjects use.
type contentTarget struct {
	r    io.Reader
	done bool
	d    string
	err  error
}

func (c *contentTarget) digest(st *attest.Statement) (string, error) {
	if !c.done {
		var subjects []attest.Subject
		if st != nil {
			subjects = st.Subject
		}
		c.d, _, c.err = attest.MatchReader(c.r, subjects)
		if c.err != nil {
			c.err = fmt.Errorf("read artifact: %w", c.err)
		}
		c.done = true
	}
	return c.d, c.err
}

// add returns a function that records one attestation's outcome.
func (res *AttestationResult) add(source string, p AttestationPolicy) func(*attest.Statement, []byte, Signer, *SignatureError) {
	return func(st *attest.Statement, payload []byte, signer Signer, serr *SignatureError) {
		switch {
		case serr != nil:
			res.Rejected = append(res.Rejected, serr)
		case st.PredicateType != p.PredicateType:
			res.Rejected = append(res.Rejected, &SignatureError{Source: source, Step: StepPayload,
				Err: &OtherPredicateTypeError{Got: st.PredicateType, Want: p.PredicateType}})
		default:
			if p.WithoutPredicate {
				st.Predicate, payload = nil, nil
			}
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
