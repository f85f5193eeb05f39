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
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"hallmark.dev/keys"
)

// Errors callers branch on.
var (
	// ErrNoSignatures means no signature was found at all.
	ErrNoSignatures = errors.New("no signatures found")
	// ErrNoKeys means a verifier was built without trusted keys.
	ErrNoKeys = errors.New("no trusted keys given")
)

// Step names the check that failed.
type Step string

// The checks, in the order they run.
const (
	StepBundle      Step = "bundle"      // parsing the bundle or legacy signature
	StepSubject     Step = "subject"     // the signature is about this artifact
	StepSignature   Step = "signature"   // the signature verifies with a trusted key
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

// Keys is a set of trusted public keys.
type Keys struct {
	keys []trustedKey
}

type trustedKey struct {
	fingerprint string
	verifiers   []signature.Verifier
}

// NewKeys returns a trusted key set. ECDSA (P-256, P-384, P-521), RSA
// (PKCS#1 v1.5 with SHA-256) and Ed25519 (Ed25519ph as cosign signs, and
// pure Ed25519) keys are supported.
func NewKeys(pubs ...crypto.PublicKey) (*Keys, error) {
	if len(pubs) == 0 {
		return nil, ErrNoKeys
	}
	ks := &Keys{}
	for i, pub := range pubs {
		fp := keys.Fingerprint(pub)
		if fp == "" {
			return nil, fmt.Errorf("key %d: unsupported public key %T", i+1, pub)
		}
		v, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
		if err != nil {
			return nil, fmt.Errorf("key %d: unsupported: %w", i+1, err)
		}
		tk := trustedKey{fingerprint: fp, verifiers: []signature.Verifier{v}}
		if ed, ok := pub.(ed25519.PublicKey); ok {
			pure, err := signature.LoadED25519Verifier(ed)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i+1, err)
			}
			tk.verifiers = append(tk.verifiers, pure)
		}
		ks.keys = append(ks.keys, tk)
	}
	return ks, nil
}

// Signer describes who made a verified signature.
type Signer struct {
	// KeyFingerprint is the fingerprint of the trusted key that verified
	// the signature.
	KeyFingerprint string `json:"keyFingerprint,omitempty"`
}

// verifySignature runs sigstore-go over a signed entity with each trusted
// key in turn and returns the signer whose key verified it.
// artifact is called once per attempt, since an artifact reader is consumed.
func (ks *Keys) verifySignature(entity sgverify.SignedEntity, artifact func() sgverify.ArtifactPolicyOption) (Signer, error) {
	if ks == nil || len(ks.keys) == 0 {
		return Signer{}, ErrNoKeys
	}
	var errs []string
	for _, k := range ks.keys {
		for _, v := range k.verifiers {
			tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
				return root.NewExpiringKey(v, zeroTime, zeroTime), nil
			})
			verifier, err := sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps())
			if err != nil {
				return Signer{}, err
			}
			if _, err := verifier.Verify(entity, sgverify.NewPolicy(artifact(), sgverify.WithKey())); err != nil {
				errs = append(errs, err.Error())
				continue
			}
			return Signer{KeyFingerprint: k.fingerprint}, nil
		}
	}
	if len(ks.keys) == 1 {
		return Signer{}, fmt.Errorf("does not verify with key %s: %s", ks.keys[0].fingerprint, cleanSigstoreError(errs[0]))
	}
	return Signer{}, fmt.Errorf("does not verify with any of the %d trusted keys", len(ks.keys))
}

// cleanSigstoreError trims sigstore-go's nested prefixes to the reason.
func cleanSigstoreError(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s[i:], "verification") {
		return s[i+2:]
	}
	return s
}
