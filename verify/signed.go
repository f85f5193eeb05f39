package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"hallmark.dev/attest"
)

// artifact is what a signature must be about: a digest, or the content
// itself (a pure Ed25519 message signature signs the message, not a
// digest of it).
type artifact struct {
	alg        string // "sha256", "sha384" or "sha512"
	digest     []byte
	content    []byte
	hasContent bool
	// none: the signature is checked, the artifact is the caller's check
	// (a provenance statement's subjects, see Statement).
	none bool
}

func digestArtifact(alg string, d []byte) artifact { return artifact{alg: alg, digest: d} }

func contentArtifact(c []byte) artifact { return artifact{content: c, hasContent: true} }

// noArtifact is the artifact of a signature whose subject the caller checks.
func noArtifact() artifact { return artifact{none: true} }

// option returns a fresh policy option each time: a reader is consumed.
func (a artifact) option() sgverify.ArtifactPolicyOption {
	if a.none {
		return sgverify.WithoutArtifactUnsafe()
	}
	if a.hasContent {
		return sgverify.WithArtifact(bytes.NewReader(a.content))
	}
	return sgverify.WithArtifactDigest(a.alg, a.digest)
}

// signed is what an authority checks: a signed entity about an artifact.
type signed struct {
	entity   sgverify.SignedEntity
	artifact artifact
	// dsse is set for a DSSE bundle read as a stream: its signature may be
	// checked over the PAE digest instead of the PAE (see variant).
	dsse *dsseBundle
}

// dsseBundle is a bundle holding a DSSE envelope whose payload was decoded
// once, into payload, by the streaming reader. sigstore-go's envelope
// checks build the pre-authentication encoding (PAE) of the payload, a copy
// of it, and re-encode it in base64 for each step; for a large
// attestation that is many times its size. A signature by ECDSA, RSA
// PKCS#1 v1.5 or Ed25519ph signs a digest of the PAE, so checking it over
// that digest, computed in one pass, is the same check: variant hands
// sigstore-go a message signature over the PAE digest, when (and only
// when) that equivalence holds, and postChecks makes the statement checks
// that sigstore-go makes of an envelope after its signature.
//
// A bundle verified without its payload in memory (digestOnly, see
// verifyStatementDigest) has its PAE digests computed as the payload
// streamed by, and the statement as checked then.
type dsseBundle struct {
	b           *bundle.Bundle
	payloadType string
	payload     []byte
	sigs        int    // number of signatures in the envelope
	keyID       string // of the first signature
	sig         []byte // the first signature
	digests     map[crypto.Hash][]byte

	digestOnly bool
	payloadLen int64             // digestOnly: the payload's length
	statement  *attest.Statement // digestOnly: nil when the strict check failed
}

func newDSSEBundle(b *bundle.Bundle, payload []byte) (*dsseBundle, error) {
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, errors.New("bundle holds a message signature, not a DSSE envelope")
	}
	for _, s := range env.GetSignatures() {
		if s == nil {
			return nil, errors.New("bundle holds a message signature, not a DSSE envelope")
		}
	}
	d := &dsseBundle{b: b, payloadType: env.GetPayloadType(), payload: payload, payloadLen: int64(len(payload)), sigs: len(env.GetSignatures()), digests: map[crypto.Hash][]byte{}}
	if d.sigs > 0 {
		d.keyID = env.GetSignatures()[0].GetKeyid()
		d.sig = env.GetSignatures()[0].GetSig()
	}
	return d, nil
}

// paeDigest hashes the PAE of the payload without building it; without
// the payload (digestOnly), it returns the digest computed as the payload
// streamed by, or false.
func (d *dsseBundle) paeDigest(h crypto.Hash) ([]byte, bool) {
	if sum, ok := d.digests[h]; ok || d.digestOnly {
		return sum, ok
	}
	w := newPAEHash(h, d.payloadType, d.payloadLen)
	w.Write(d.payload)
	sum := w.Sum(nil)
	d.digests[h] = sum
	return sum, true
}

// newPAEHash returns a hash with h of a DSSE pre-authentication encoding
// that has been written up to its payload of n bytes.
func newPAEHash(h crypto.Hash, payloadType string, n int64) hash.Hash {
	w := h.New()
	fmt.Fprintf(w, "DSSEv1 %d %s %d ", len(payloadType), payloadType, n)
	return w
}

// variant returns what to hand sigstore-go for a signature verifier that
// hashes with h over pub (h is 0 for pure Ed25519): the PAE-digest entity
// and artifact with the checks to make after it, when they are equivalent
// to the envelope's, else the envelope itself.
func (s signed) variant(h crypto.Hash, pub crypto.PublicKey) (sgverify.SignedEntity, artifact, func() error) {
	d := s.dsse
	if d == nil || !d.prehashable(h, pub) {
		// Without its payload (digestOnly), the envelope fails the
		// signature check: paeHashes made sure this does not happen.
		return s.entity, s.artifact, nil
	}
	sum, ok := d.paeDigest(h)
	if !ok {
		return s.entity, s.artifact, nil
	}
	if testHookPrehashed != nil {
		testHookPrehashed()
	}
	e := &prehashedEntity{Bundle: d.b, content: messageContent{digest: sum, alg: hashAlgorithmName(h), sig: d.sig}}
	return e, digestArtifact(hashName(h), sum), func() error { return d.postChecks(s.artifact) }
}

// testHookPrehashed, set by tests, is called when a signature is checked
// over the PAE digest.
var testHookPrehashed func()

// prehashable says whether checking the signature over the PAE digest is
// the check sigstore-go makes of the envelope: one signature, whose key ID
// (if any) matches the key as the DSSE verifier computes it; a verifier
// that hashes (not pure Ed25519); and only Rekor v2 log entries, whose
// hash sigstore-go rebuilds from the PAE digest with the key's default
// hash, the same h. Rekor v1 entries are compared with the envelope's
// payload hash instead.
func (d *dsseBundle) prehashable(h crypto.Hash, pub crypto.PublicKey) bool {
	if h == 0 || pub == nil || d.sigs != 1 {
		return false
	}
	if d.keyID != "" {
		if fp, err := dsse.SHA256KeyID(pub); err == nil && fp != d.keyID {
			return false
		}
	}
	if len(d.b.GetVerificationMaterial().GetTlogEntries()) > 0 {
		entries, err := d.b.TlogEntries()
		if err != nil {
			return false
		}
		for _, e := range entries {
			if !e.IsRekorV2() {
				return false
			}
		}
		ad, err := signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
		if err != nil || ad.GetHashType() != h {
			return false
		}
	}
	return true
}

// certificateHash is the hash of the verifier sigstore-go builds for a
// DSSE envelope signed with a certificate's key, or 0 when that verifier
// is not one prehashable can stand for: pure Ed25519, and ECDSA P-384 and
// P-521, which sigstore-go also tries with SHA-256 (for old clients).
func certificateHash(pub crypto.PublicKey) crypto.Hash {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return crypto.SHA256
		}
	case *rsa.PublicKey:
		if ad, err := signature.GetDefaultAlgorithmDetails(k); err == nil {
			return ad.GetHashType()
		}
	}
	return 0
}

// verifierHash is the hash a trusted key's verifier signs digests with,
// or 0 for pure Ed25519.
func verifierHash(v signature.Verifier) crypto.Hash {
	if _, ok := v.(*signature.ED25519Verifier); ok {
		return 0
	}
	pub, err := v.PublicKey()
	if err != nil {
		return 0
	}
	ad, err := signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
	if err != nil {
		return 0
	}
	return ad.GetHashType()
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	}
	return ""
}

func hashAlgorithmName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return protocommon.HashAlgorithm_SHA2_256.String()
	case crypto.SHA384:
		return protocommon.HashAlgorithm_SHA2_384.String()
	case crypto.SHA512:
		return protocommon.HashAlgorithm_SHA2_512.String()
	}
	return ""
}

// Limits sigstore-go puts on a statement's subjects.
const (
	maxStatementSubjects       = 1024
	maxStatementSubjectDigests = 32
)

// statementSummary is what sigstore-go reads of an envelope's statement.
type statementSummary struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// postChecks makes the checks sigstore-go makes of an envelope's statement
// once its signature verifies, in the same order: the statement decodes
// (leniently, as sigstore-go's summary does), has at most 1024 subjects
// of at most 32 digests each, all in hex, and one of them is the
// artifact's digest.
//
// Without the payload (digestOnly), they are made of the statement as
// checked strictly as it streamed by: a statement that passes the strict
// check decodes leniently to the same fields (its keys are spelled
// exactly, none repeats, and it has no others). One that failed the
// strict check is rejected after the signature, with that check's error
// (verifyStatementDigest leaves it to the in-memory path where it can).
func (d *dsseBundle) postChecks(a artifact) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("failed to verify signature: "+format, args...)
	}
	if d.payloadType != attest.PayloadType {
		return fail("could not verify artifact: unable to extract statement from envelope: unsupported DSSE payload type: %s", d.payloadType)
	}
	var summary statementSummary
	switch {
	case d.digestOnly && d.statement == nil:
		return nil
	case d.digestOnly:
		summary = summaryOf(d.statement)
	default:
		if err := json.Unmarshal(d.payload, &summary); err != nil {
			return fail("could not verify artifact: unable to extract statement from envelope: parsing in-toto statement: %v", err)
		}
	}
	if len(summary.Subject) > maxStatementSubjects {
		return fail("too many subjects: %d > %d", len(summary.Subject), maxStatementSubjects)
	}
	for _, s := range summary.Subject {
		if len(s.Digest) > maxStatementSubjectDigests {
			return fail("too many digests: %d > %d", len(s.Digest), maxStatementSubjectDigests)
		}
	}
	byAlg := map[string][][]byte{}
	for _, s := range summary.Subject {
		for alg, h := range s.Digest {
			b, err := hex.DecodeString(h)
			if err != nil {
				return fail("could not verify artifact: unable to decode subject digest: %v", err)
			}
			byAlg[alg] = append(byAlg[alg], b)
		}
	}
	if a.hasContent {
		return fail("a statement is checked against an artifact digest")
	}
	ds, ok := byAlg[a.alg]
	if !ok {
		return fail("provided artifact digests does not match digests in statement")
	}
	for _, b := range ds {
		if bytes.Equal(b, a.digest) {
			return nil
		}
	}
	return fail("provided artifact digest does not match any digest in statement")
}

func summaryOf(st *attest.Statement) statementSummary {
	sum := statementSummary{Type: st.Type, PredicateType: st.PredicateType}
	for _, s := range st.Subject {
		sum.Subject = append(sum.Subject, struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		}{s.Name, s.Digest})
	}
	return sum
}

// envelopeError gives a signature that failed over the PAE digest
// (entity a prehashedEntity) the words sigstore-go gives it when it fails
// over the envelope, whose one signature is checked by dsse with one
// verifier: an attestation is refused in the same words whether it was
// read whole, as a stream, or without its payload in memory.
func envelopeError(entity sgverify.SignedEntity, err error) error {
	const (
		message  = "failed to verify signature: could not verify message: "
		envelope = "failed to verify signature: could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1"
	)
	if _, ok := entity.(*prehashedEntity); !ok || !strings.HasPrefix(err.Error(), message) {
		return err
	}
	return errors.New(envelope)
}

// prehashedEntity is a DSSE bundle presented to sigstore-go as a message
// signature over the envelope's PAE digest.
type prehashedEntity struct {
	*bundle.Bundle
	content messageContent
}

var _ sgverify.SignedEntity = (*prehashedEntity)(nil)

func (e *prehashedEntity) SignatureContent() (sgverify.SignatureContent, error) {
	return e.content, nil
}

type messageContent struct {
	digest []byte
	alg    string
	sig    []byte
}

var (
	_ sgverify.SignatureContent        = messageContent{}
	_ sgverify.MessageSignatureContent = messageContent{}
)

func (m messageContent) Signature() []byte                                         { return m.sig }
func (m messageContent) Digest() []byte                                            { return m.digest }
func (m messageContent) DigestAlgorithm() string                                   { return m.alg }
func (m messageContent) EnvelopeContent() sgverify.EnvelopeContent                 { return nil }
func (m messageContent) MessageSignatureContent() sgverify.MessageSignatureContent { return m }
