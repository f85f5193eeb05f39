package verify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"

	"hallmark.dev/attest"
	"hallmark.dev/oci"
)

var zeroTime time.Time

// ImagePolicy is what an image signature must satisfy.
type ImagePolicy struct {
	// Authority says who may sign: trusted keys ([Keys]) or certificate
	// identities under a trusted root ([Keyless]). Required.
	Authority Authority
	// Annotations must all be signed with exactly these values.
	Annotations map[string]string
}

// ImageResult is the outcome of verifying an image's signatures.
type ImageResult struct {
	// Digest is the manifest digest that was verified.
	Digest string `json:"digest"`
	// Verified lists the signatures that verified.
	Verified []VerifiedSignature `json:"verified"`
	// Rejected lists the signatures that did not, with the reason.
	Rejected []*SignatureError `json:"rejected,omitempty"`
}

// VerifiedSignature is one signature that verified.
type VerifiedSignature struct {
	Source string `json:"source"`
	// Layout is "bundle" (Sigstore bundle referrer) or "legacy" (cosign's
	// .sig tag).
	Layout string `json:"layout"`
	Signer Signer `json:"signer"`
	// Annotations are the signed annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Payload is the signed statement or simple-signing payload.
	Payload json.RawMessage `json:"payload"`
}

// Image verifies the signatures found for an image manifest digest
// ("sha256:<hex>"). It returns a result when at least one signature
// verified; otherwise [ErrNoSignatures] or a [*NoValidSignatureError].
func Image(digest string, sigs []oci.Signature, p ImagePolicy) (*ImageResult, error) {
	if _, _, err := attest.SplitDigest(digest); err != nil {
		return nil, err
	}
	if p.Authority == nil {
		return nil, ErrNoAuthority
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%s: %w", digest, ErrNoSignatures)
	}
	res := &ImageResult{Digest: digest}
	for _, s := range sigs {
		v, err := verifyImageSignature(digest, s, p)
		if err != nil {
			res.Rejected = append(res.Rejected, err)
			continue
		}
		res.Verified = append(res.Verified, *v)
	}
	if len(res.Verified) == 0 {
		return res, &NoValidSignatureError{Subject: digest, Rejected: res.Rejected}
	}
	return res, nil
}

func verifyImageSignature(digest string, s oci.Signature, p ImagePolicy) (*VerifiedSignature, *SignatureError) {
	fail := func(step Step, err error) (*VerifiedSignature, *SignatureError) {
		return nil, &SignatureError{Source: s.Source, Step: step, Err: err}
	}
	switch {
	case s.Bundle != nil:
		return verifyImageBundle(digest, s, p, fail)
	case s.Legacy != nil:
		return verifyImageLegacy(digest, s, p, fail)
	default:
		return fail(StepBundle, errors.New("signature could not be read"))
	}
}

type failFunc func(Step, error) (*VerifiedSignature, *SignatureError)

func verifyImageBundle(digest string, s oci.Signature, p ImagePolicy, fail failFunc) (*VerifiedSignature, *SignatureError) {
	st, payload, signer, serr := verifyStatementBundle(digestTarget(digest), s, p.Authority, false)
	if serr != nil {
		return nil, serr
	}
	if st.PredicateType != attest.CosignSignPredicateType {
		return fail(StepPayload, fmt.Errorf("predicate type %q is not an image signature (%s)", st.PredicateType, attest.CosignSignPredicateType))
	}
	// verifyStatementBundle already failed StepSubject unless the statement
	// names digest, so the subject is always found here.
	subj, _ := st.SubjectFor(digest)
	ann, nonString := subj.StringAnnotations()
	if err := checkAnnotations(p.Annotations, ann, nonString); err != nil {
		return fail(StepAnnotations, err)
	}
	return &VerifiedSignature{Source: s.Source, Layout: "bundle", Signer: signer, Annotations: ann, Payload: payload}, nil
}

// verifyStatementBundle verifies a bundle holding a DSSE envelope around
// an in-toto statement about the target, and returns the statement, the signed
// payload and the signer. The statement is parsed strictly, once, from the
// very bytes the signature covers. A large bundle is read as a stream (see
// verifyStatementSource), which makes the same checks in less memory.
func verifyStatementBundle(t target, s oci.Signature, authority Authority, withoutPredicate bool) (*attest.Statement, []byte, Signer, *SignatureError) {
	if len(s.Bundle) >= streamedBundleSize {
		return verifyStatementSource(t, bytesSource(s.Source, s.Bundle), authority, withoutPredicate)
	}
	b, err := ParseBundle(s.Bundle)
	if err != nil {
		return nil, nil, Signer{}, &SignatureError{Source: s.Source, Step: StepBundle, Err: err}
	}
	return verifyParsedStatement(t, s.Source, b, authority)
}

// verifyParsedStatement is verifyStatementBundle on a parsed bundle, with
// sigstore-go's envelope checks.
func verifyParsedStatement(t target, source string, b *bundle.Bundle, authority Authority) (*attest.Statement, []byte, Signer, *SignatureError) {
	fail := func(step Step, err error) (*attest.Statement, []byte, Signer, *SignatureError) {
		return nil, nil, Signer{}, &SignatureError{Source: source, Step: step, Err: err}
	}
	payload, step, err := statementPayload(b)
	if err != nil {
		return fail(step, err)
	}
	st, stErr := attest.ParseStatement(payload)
	return checkStatement(t, source, signed{entity: b}, payload, st, stErr, authority)
}

// statementPayload returns the payload of a bundle's DSSE envelope, which
// must be an in-toto statement's; on failure it names the step that failed.
func statementPayload(b *bundle.Bundle) ([]byte, Step, error) {
	env, err := b.Envelope()
	if err != nil || env == nil {
		return nil, StepBundle, errors.New("bundle holds a message signature, not a DSSE envelope")
	}
	raw := env.RawEnvelope()
	if raw.PayloadType != attest.PayloadType {
		return nil, StepPayload, fmt.Errorf("DSSE payload type %q, want %q", raw.PayloadType, attest.PayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(raw.Payload)
	if err != nil {
		return nil, StepBundle, fmt.Errorf("DSSE payload is not base64: %w", err)
	}
	return payload, "", nil
}

// verifyStreamedStatement is verifyParsedStatement on a bundle whose DSSE
// payload the streaming reader decoded: the signature is checked over the
// PAE digest where that is the same check, and the statement is parsed in
// place.
func verifyStreamedStatement(t target, source string, b *bundle.Bundle, payload []byte, authority Authority) (*attest.Statement, []byte, Signer, *SignatureError) {
	fail := func(step Step, err error) (*attest.Statement, []byte, Signer, *SignatureError) {
		return nil, nil, Signer{}, &SignatureError{Source: source, Step: step, Err: err}
	}
	d, err := newDSSEBundle(b, payload)
	if err != nil {
		return fail(StepBundle, err)
	}
	if d.payloadType != attest.PayloadType {
		return fail(StepPayload, fmt.Errorf("DSSE payload type %q, want %q", d.payloadType, attest.PayloadType))
	}
	st, stErr := attest.ParseStatementInPlace(payload)
	return checkStatement(t, source, signed{entity: b, dsse: d}, payload, st, stErr, authority)
}

// checkStatement makes the checks common to both: the subject, the
// signature and authority, then the statement.
func checkStatement(t target, source string, s signed, payload []byte, st *attest.Statement, stErr error, authority Authority) (*attest.Statement, []byte, Signer, *SignatureError) {
	fail := func(step Step, err error) (*attest.Statement, []byte, Signer, *SignatureError) {
		return nil, nil, Signer{}, &SignatureError{Source: source, Step: step, Err: err}
	}
	unverified := st
	if stErr != nil {
		unverified = nil
	}
	digest, err := t.digest(unverified)
	if err != nil {
		return fail(StepSubject, err)
	}
	// Looking at the subject before the signature check only serves to
	// name a copied signature in the error; the verdict comes after it.
	if stErr == nil {
		if _, ok := st.SubjectFor(digest); !ok {
			return fail(StepSubject, fmt.Errorf("signature is for %s, not %s (copied from another image?)", subjectDigests(st), digest))
		}
	}
	alg, hexDigest, err := attest.SplitDigest(digest)
	if err != nil {
		return fail(StepSubject, err)
	}
	d, err := decodeHex(hexDigest)
	if err != nil {
		return fail(StepSubject, err)
	}
	s.artifact = digestArtifact(alg, d)
	signer, step, err := authority.check(s)
	if err != nil {
		return fail(step, err)
	}
	if stErr != nil {
		return fail(StepPayload, stErr)
	}
	if _, ok := st.SubjectFor(digest); !ok {
		return fail(StepSubject, fmt.Errorf("signed statement is for %s, not %s", subjectDigests(st), digest))
	}
	return st, payload, signer, nil
}

func verifyImageLegacy(digest string, s oci.Signature, p ImagePolicy, fail failFunc) (*VerifiedSignature, *SignatureError) {
	l := s.Legacy
	// Unverified look, only to name a copied signature in the error.
	if pl, err := attest.ParseSimpleSigning(l.Payload); err == nil && pl.Critical.Image.DockerManifestDigest != digest {
		return fail(StepSubject, fmt.Errorf("signature is for %s, not %s (copied from another image?)", pl.Critical.Image.DockerManifestDigest, digest))
	}
	b, err := legacyBundle(l)
	if err != nil {
		return fail(StepBundle, err)
	}
	signer, step, err := p.Authority.check(signed{entity: b, artifact: contentArtifact(l.Payload)})
	if err != nil {
		return fail(step, err)
	}
	pl, err := attest.ParseSimpleSigning(l.Payload)
	if err != nil {
		return fail(StepPayload, err)
	}
	if pl.Critical.Image.DockerManifestDigest != digest {
		return fail(StepSubject, fmt.Errorf("signed payload is for %s, not %s", pl.Critical.Image.DockerManifestDigest, digest))
	}
	ann, nonString := pl.StringOptional()
	if err := checkAnnotations(p.Annotations, ann, nonString); err != nil {
		return fail(StepAnnotations, err)
	}
	return &VerifiedSignature{Source: s.Source, Layout: "legacy", Signer: signer, Annotations: ann, Payload: l.Payload}, nil
}

// ParseBundle parses a Sigstore bundle (JSON), with a clear error.
func ParseBundle(data []byte) (*bundle.Bundle, error) {
	if len(data) == 0 {
		return nil, errors.New("empty bundle")
	}
	if len(data) > oci.MaxBundleSize {
		return nil, fmt.Errorf("bundle is %d bytes, over the %d byte limit", len(data), oci.MaxBundleSize)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("malformed bundle: %w", err)
	}
	return &b, nil
}

func checkAnnotations(want, got map[string]string, nonString []string) error {
	var missing []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v, ok := got[k]
		switch {
		case !ok && slices.Contains(nonString, k):
			missing = append(missing, fmt.Sprintf("%s is signed but not as a string", k))
		case !ok:
			missing = append(missing, fmt.Sprintf("%s=%s is not signed", k, want[k]))
		case v != want[k]:
			missing = append(missing, fmt.Sprintf("%s is signed as %q, want %q", k, v, want[k]))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("required annotation: %s", strings.Join(missing, "; "))
	}
	return nil
}

func subjectDigests(st *attest.Statement) string {
	var ds []string
	for _, s := range st.Subject {
		for alg, d := range s.Digest {
			ds = append(ds, alg+":"+d)
		}
	}
	sort.Strings(ds)
	return strings.Join(ds, "; ")
}
