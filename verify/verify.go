// Package verify decides whether signatures are valid for an artifact under
// a policy. It is pure: it takes the bytes that were fetched (Sigstore
// bundles, cosign legacy signatures) and trusted keys, and returns a result
// that names, for every signature, what verified or what failed. It never
// reads the network, the environment or files.
//
// Signature checks are sigstore-go's (github.com/sigstore/sigstore-go
// pkg/verify); this package adds what an image signature means on top: the
// signed statement (or legacy payload) must name the exact manifest digest
// being verified, be of the image-signature type, and carry the annotations
// the policy requires.
//
// Formats: Sigstore bundle v0.1–v0.3 (https://github.com/sigstore/protobuf-specs),
// DSSE (https://github.com/secure-systems-lab/dsse), in-toto Statement v1,
// cosign's simple signing payload.
package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Errors callers branch on.
var (
	// ErrNoSignatures means no signature was found at all.
	ErrNoSignatures = errors.New("no signatures found")
	// ErrNoKeys means a verifier was built without trusted keys.
	ErrNoKeys = errors.New("no trusted keys given")
	// ErrNoIdentity means keyless verification was asked for without an
	// expected identity: any certificate from the CA would do, which is
	// never what a user means.
	ErrNoIdentity = errors.New("no expected identity given: name the certificate identity and OIDC issuer")
	// ErrNoAuthority means a policy names neither keys nor a trusted root.
	ErrNoAuthority = errors.New("no trusted keys or trusted root given")
	// ErrNoTimestampAuthority means timestamp-only verification was asked
	// for with a trusted root that lists no timestamp authority.
	ErrNoTimestampAuthority = errors.New("timestamp-only verification needs a trusted root that lists a timestamp authority")
	// ErrOtherPredicateType marks an attestation that verified but is of
	// another predicate type than the one asked for: not a failure of the
	// requested check, just another attestation.
	ErrOtherPredicateType = errors.New("another predicate type")
)

// Step names the check that failed.
type Step string

// The checks, in the order they run.
const (
	StepBundle      Step = "bundle"      // parsing the bundle or legacy signature
	StepSubject     Step = "subject"     // the signature is about this artifact
	StepSignature   Step = "signature"   // the signature verifies with a trusted key or the certificate's key
	StepCertificate Step = "certificate" // the certificate chains to a trusted CA at the verified time (and has an SCT where CT logs are trusted)
	StepLog         Step = "log"         // the transparency log entry, its inclusion proof and checkpoint verify
	StepTimestamp   Step = "timestamp"   // a trusted time (signed timestamp or log integration time) is present and valid
	StepIdentity    Step = "identity"    // the certificate's issuer and subject are the expected ones
	StepPayload     Step = "payload"     // the signed statement or payload is of the right type
	StepAnnotations Step = "annotations" // the required annotations are signed
)

// SignatureError says why one signature did not count.
type SignatureError struct {
	Source string // where the signature was found
	Step   Step
	Err    error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("%s: %s check failed: %v", e.Source, e.Step, e.Err)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// MarshalJSON reports the source, the failed step and the reason.
func (e *SignatureError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Source string `json:"source"`
		Step   Step   `json:"step"`
		Error  string `json:"error"`
	}{e.Source, e.Step, e.Err.Error()})
}

// NoValidSignatureError is returned when signatures were found but none
// verified; Rejected says why for each.
type NoValidSignatureError struct {
	Subject  string
	Rejected []*SignatureError
}

func (e *NoValidSignatureError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no valid signature for %s (%d found, none verified)", e.Subject, len(e.Rejected))
	for _, r := range e.Rejected {
		b.WriteString("\n  ")
		b.WriteString(r.Error())
	}
	return b.String()
}
