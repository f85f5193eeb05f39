package verify

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"hallmark.dev/attest"
	"hallmark.dev/internal/jsonstrict"
	"hallmark.dev/oci"
)

// StatementPolicy is what a signed statement read from a file must
// satisfy.
type StatementPolicy struct {
	// Authority says who may sign; required.
	Authority Authority
	// PredicateTypes are the predicate types the statement may have; at
	// least one.
	PredicateTypes []string
}

// ErrNoSigningTime is returned (in a *SignatureError at the timestamp
// step) for a bare DSSE envelope signed with a short-lived certificate: it
// carries no transparency log entry and no signed timestamp, so nothing
// offline says when it was signed, and the certificate cannot be checked.
var ErrNoSigningTime = errors.New("the envelope carries a signing certificate but no transparency log entry or signed timestamp: " +
	"no signing time can be established offline, so its short-lived certificate cannot be checked " +
	"(slsa-verifier looks the entry up in Rekor online); verify a Sigstore bundle of this provenance, or a key-signed envelope with a key")

// Statement verifies one signed in-toto statement read from a file: a
// Sigstore bundle (JSON) holding a DSSE envelope, or a bare DSSE envelope
// (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md) as
// slsa-github-generator writes one per line in .intoto.jsonl files, whose
// signatures may carry their signing certificate (PEM) in a "cert" field.
// source names the statement in errors.
//
// A bare envelope verifies with trusted keys; with a keyless authority it
// is rejected with [ErrNoSigningTime], since it holds no log entry or
// timestamp.
//
// Statement checks who signed the statement and that its predicate type is
// allowed; it does not check what the statement is about: the caller must
// match its subjects to the artifacts (slsa.Check does).
func Statement(source string, data []byte, p StatementPolicy) (*VerifiedAttestation, error) {
	fail := func(step Step, err error) (*VerifiedAttestation, error) {
		return nil, &SignatureError{Source: source, Step: step, Err: err}
	}
	if p.Authority == nil {
		return nil, ErrNoAuthority
	}
	if len(p.PredicateTypes) == 0 {
		return nil, errors.New("no predicate type given")
	}
	if len(data) > oci.MaxBundleSize {
		return fail(StepBundle, fmt.Errorf("%d bytes, over the %d byte limit", len(data), oci.MaxBundleSize))
	}
	var b *bundle.Bundle
	if isBareEnvelope(data) {
		var err error
		b, err = envelopeBundle(data, p.Authority)
		if err != nil {
			var se *SignatureError
			if errors.As(err, &se) {
				se.Source = source
				return nil, se
			}
			return fail(StepBundle, err)
		}
	} else {
		var err error
		b, err = ParseBundle(data)
		if err != nil {
			return fail(StepBundle, err)
		}
	}
	payload, step, err := statementPayload(b)
	if err != nil {
		return fail(step, err)
	}
	// The signature covers the whole statement; what it is about is the
	// caller's check (see above), so no artifact is bound here.
	signer, step, err := p.Authority.check(signed{entity: b, artifact: noArtifact()})
	if err != nil {
		return fail(step, err)
	}
	st, err := attest.ParseStatement(payload)
	if err != nil {
		return fail(StepPayload, err)
	}
	if !slices.Contains(p.PredicateTypes, st.PredicateType) {
		return fail(StepPayload, fmt.Errorf("predicate type %s, want %s", st.PredicateType, strings.Join(p.PredicateTypes, " or ")))
	}
	return &VerifiedAttestation{Source: source, Signer: signer, Statement: st, Payload: payload}, nil
}

// isBareEnvelope reports whether data is a DSSE envelope rather than a
// bundle: a JSON object with a payloadType and no mediaType.
func isBareEnvelope(data []byte) bool {
	var probe struct {
		MediaType   *string `json:"mediaType"`
		PayloadType *string `json:"payloadType"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return false
	}
	return probe.MediaType == nil && probe.PayloadType != nil
}

// envelopeBundle turns a bare DSSE envelope into the equivalent bundle:
// with trusted keys, a bundle whose verification material is the key; with
// a keyless authority there is no signing time to check the certificate
// at, and the envelope is refused.
func envelopeBundle(data []byte, a Authority) (*bundle.Bundle, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
			Cert  string `json:"cert"`
		} `json:"signatures"`
	}
	if err := jsonstrict.Unmarshal(data, &env, jsonstrict.Rules{Fields: jsonstrict.FieldsOf(&env)}); err != nil {
		return nil, fmt.Errorf("DSSE envelope is not valid: %w", err)
	}
	if len(env.Signatures) == 0 {
		return nil, errors.New("DSSE envelope has no signature")
	}
	if _, keyed := a.(*Keys); !keyed {
		hasCert := false
		for _, s := range env.Signatures {
			if blk, _ := pem.Decode([]byte(s.Cert)); blk != nil {
				hasCert = true
			}
		}
		if !hasCert {
			return nil, &SignatureError{Step: StepCertificate, Err: errors.New("the DSSE envelope carries no signing certificate: verify it with the key that signed it")}
		}
		return nil, &SignatureError{Step: StepTimestamp, Err: ErrNoSigningTime}
	}
	de := &protodsse.Envelope{Payload: env.Payload, PayloadType: env.PayloadType}
	for _, s := range env.Signatures {
		de.Signatures = append(de.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
	}
	pb := &protobundle.Bundle{
		// v0.1 allows verification material without a log entry.
		MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: de},
	}
	return bundle.NewBundle(pb)
}
