package verify

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"hallmark.dev/keys"
)

// Authority decides who may have made a signature: trusted keys ([Keys]),
// or certificates from a trusted CA for an expected identity ([Keyless]).
// The interface is sealed: only this package implements it.
type Authority interface {
	check(s signed) (Signer, Step, error)
	// paeHashes returns the hashes of the PAE digests that check would
	// verify d's signature over, or false when it would check the
	// envelope itself with one of its verifiers (see signed.variant).
	paeHashes(d *dsseBundle) ([]crypto.Hash, bool)
}

var (
	_ Authority = (*Keys)(nil)
	_ Authority = (*Keyless)(nil)
)

// Signer describes who made a verified signature and what vouched for it.
type Signer struct {
	// KeyFingerprint is the fingerprint of the trusted key that verified
	// the signature (key signatures).
	KeyFingerprint string `json:"keyFingerprint,omitempty"`
	// Issuer and Subject are the certificate's OIDC issuer and subject
	// (keyless signatures).
	Issuer  string `json:"issuer,omitempty"`
	Subject string `json:"subject,omitempty"`
	// SourceRepositoryURI is the certificate's Fulcio source repository
	// URI extension (OID 1.3.6.1.4.1.57264.1.12), and GitHubRepository
	// its deprecated GitHub workflow repository extension ("owner/repo",
	// OID 1.3.6.1.4.1.57264.1.5), which older GitHub certificates carry
	// alone: the repository the CA saw the signing workload run from, when
	// the CA records one.
	SourceRepositoryURI string `json:"sourceRepositoryURI,omitempty"`
	GitHubRepository    string `json:"githubRepository,omitempty"`
	// Timestamps are the verified times the signature is known to have
	// existed at: signed timestamps and log integration times.
	Timestamps []VerifiedTime `json:"timestamps,omitempty"`
	// LogEntries is the number of verified transparency log entries.
	LogEntries int `json:"logEntries,omitempty"`
	// Witnesses name the witnesses of the policy whose cosignatures on the
	// entries' checkpoints verified (see [Witnessed]).
	Witnesses []string `json:"witnesses,omitempty"`
	// LogSkipped says the transparency log was not checked because the
	// verifier waived it (AuthorityConfig.InsecureIgnoreTlogUnsafe).
	LogSkipped bool `json:"logSkipped,omitempty"`
}

// VerifiedTime is one verified time.
type VerifiedTime struct {
	Type string    `json:"type"` // "timestamp-authority" or "transparency-log"
	URI  string    `json:"uri,omitempty"`
	Time time.Time `json:"time"`
}

// EarliestVerifiedTime is the earliest verified time the signature is
// known to have existed at (a signed timestamp or a log integration time),
// the zero time when there is none. Later times prove nothing more: anyone
// may have an existing signature timestamped again.
func (s Signer) EarliestVerifiedTime() time.Time {
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

// Keys is a set of trusted public keys, optionally with a trusted root whose
// transparency logs the signatures must be in.
type Keys struct {
	keys []trustedKey
	root root.TrustedMaterial
	// timestampOnly waives the log entry and requires a signed timestamp.
	timestampOnly bool
}

type trustedKey struct {
	fingerprint string
	verifiers   []keyVerifier
}

// keyVerifier is one way to check signatures with a trusted key, with the
// hash it signs digests with (0 for pure Ed25519) and the key.
type keyVerifier struct {
	signature.Verifier
	hash crypto.Hash
	pub  crypto.PublicKey
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
		tk := trustedKey{fingerprint: fp, verifiers: []keyVerifier{{v, verifierHash(v), pub}}}
		if ed, ok := pub.(ed25519.PublicKey); ok {
			pure, err := signature.LoadED25519Verifier(ed)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i+1, err)
			}
			tk.verifiers = append(tk.verifiers, keyVerifier{pure, 0, pub})
		}
		ks.keys = append(ks.keys, tk)
	}
	return ks, nil
}

// WithTrustedRoot returns a copy of the key set that also requires each
// signature to be in one of the root's transparency logs: under a root that
// lists none, signatures are refused ([ErrNoTransparencyLog]) unless the
// log is waived ([Keys.TimestampOnly]). Timestamps are not required for key signatures: a key has no
// validity period to place the signature in. Those a signature carries that
// verify under the root's timestamp authorities are reported in
// [Signer.Timestamps], so that the signature's age can be known.
func (ks *Keys) WithTrustedRoot(tr root.TrustedMaterial) *Keys {
	c := *ks
	c.root = tr
	return &c
}

// TimestampOnly returns a copy of the key set that accepts signatures
// without a transparency log entry but requires each to carry an RFC 3161
// timestamp from one of the trusted root's timestamp authorities (as cosign
// verify --insecure-ignore-tlog --use-signed-timestamps). It is for
// attestations too large for the log; it needs a trusted root.
func (ks *Keys) TimestampOnly() (*Keys, error) {
	if ks.root == nil || len(ks.root.TimestampingAuthorities()) == 0 {
		return nil, ErrNoTimestampAuthority
	}
	c := *ks
	c.timestampOnly = true
	return &c, nil
}

func (ks *Keys) check(s signed) (Signer, Step, error) {
	if ks == nil || len(ks.keys) == 0 {
		return Signer{}, StepSignature, ErrNoKeys
	}
	if ks.root != nil && !ks.timestampOnly && len(ks.root.RekorLogs()) == 0 {
		return Signer{}, StepLog, ErrNoTransparencyLog
	}
	opts := []sgverify.VerifierOption{sgverify.WithoutStatementPredicate()}
	switch {
	case ks.timestampOnly:
		opts = append(opts, sgverify.WithSignedTimestamps(1))
	case ks.root != nil && len(ks.root.RekorLogs()) > 0:
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithNoObserverTimestamps())
	default:
		opts = append(opts, sgverify.WithNoObserverTimestamps())
	}
	var (
		firstErr  error
		firstStep Step
	)
	for _, k := range ks.keys {
		for _, v := range k.verifiers {
			var tm root.TrustedMaterial = root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
				return root.NewExpiringKey(v.Verifier, time.Time{}, time.Time{}), nil
			})
			if ks.root != nil {
				tm = root.TrustedMaterialCollection{tm, ks.root}
			}
			verifier, err := sgverify.NewVerifier(tm, opts...)
			if err != nil {
				return Signer{}, StepSignature, err
			}
			entity, art, post := s.variant(v.hash, v.pub)
			res, err := verifier.Verify(entity, sgverify.NewPolicy(art.option(), sgverify.WithKey()))
			if err == nil && post != nil {
				err = post()
			}
			if err != nil {
				if firstErr == nil {
					firstStep, firstErr = classify(envelopeError(entity, err))
				}
				continue
			}
			signer := signerFrom(res)
			signer.KeyFingerprint = k.fingerprint
			signer.LogSkipped = ks.timestampOnly
			if ks.root != nil && !ks.timestampOnly {
				// The timestamps were not required, so the verifier did
				// not check them; those that verify under the root's
				// timestamp authorities give the signature a trusted time.
				if err := addSignedTimestamps(&signer, entity, ks.root); err != nil {
					return Signer{}, StepTimestamp, err
				}
			}
			if !ks.timestampOnly && ks.root != nil && len(ks.root.RekorLogs()) > 0 {
				if entries, err := entity.TlogEntries(); err == nil {
					signer.LogEntries = len(entries)
				}
			}
			return signer, "", nil
		}
	}
	if firstStep != StepSignature {
		return Signer{}, firstStep, firstErr
	}
	if len(ks.keys) == 1 {
		return Signer{}, StepSignature, fmt.Errorf("does not verify with key %s: %v", ks.keys[0].fingerprint, firstErr)
	}
	return Signer{}, StepSignature, fmt.Errorf("does not verify with any of the %d trusted keys", len(ks.keys))
}

func (ks *Keys) paeHashes(d *dsseBundle) ([]crypto.Hash, bool) {
	var hs []crypto.Hash
	for _, k := range ks.keys {
		for _, v := range k.verifiers {
			if !d.prehashable(v.hash, v.pub) {
				return nil, false
			}
			if !slices.Contains(hs, v.hash) {
				hs = append(hs, v.hash)
			}
		}
	}
	return hs, true
}

// Identity is an expected certificate identity: the OIDC issuer and the
// subject (the certificate's email or URI SAN), each either exact or a
// regular expression. Regular expressions must match the whole value:
// they are anchored, unlike cosign's, which match substrings.
type Identity struct {
	Issuer        string
	IssuerRegexp  string
	Subject       string
	SubjectRegexp string
}

// String describes the identity for messages.
func (id Identity) String() string {
	iss := id.Issuer
	if iss == "" {
		iss = "/" + id.IssuerRegexp + "/"
	}
	sub := id.Subject
	if sub == "" {
		sub = "/" + id.SubjectRegexp + "/"
	}
	return sub + " from " + iss
}

// An identity names its subject and its issuer each exactly or by a
// regular expression, not both and not neither.
var (
	ErrSubjectChoice = errors.New("give exactly one of the certificate identity and the certificate identity regexp")
	ErrIssuerChoice  = errors.New("give exactly one of the OIDC issuer and the OIDC issuer regexp")
)

// anchor makes a user's regular expression match whole values only.
func anchor(re string) string { return `^(?:` + re + `)$` }

func (id Identity) certificateIdentity() (sgverify.CertificateIdentity, error) {
	if (id.Subject == "") == (id.SubjectRegexp == "") {
		return sgverify.CertificateIdentity{}, ErrSubjectChoice
	}
	if (id.Issuer == "") == (id.IssuerRegexp == "") {
		return sgverify.CertificateIdentity{}, ErrIssuerChoice
	}
	var subRe, issRe string
	if id.SubjectRegexp != "" {
		if _, err := regexp.Compile(id.SubjectRegexp); err != nil {
			return sgverify.CertificateIdentity{}, fmt.Errorf("certificate identity regexp: %w", err)
		}
		subRe = anchor(id.SubjectRegexp)
	}
	if id.IssuerRegexp != "" {
		if _, err := regexp.Compile(id.IssuerRegexp); err != nil {
			return sgverify.CertificateIdentity{}, fmt.Errorf("OIDC issuer regexp: %w", err)
		}
		issRe = anchor(id.IssuerRegexp)
	}
	return sgverify.NewShortCertificateIdentity(id.Issuer, issRe, id.Subject, subRe)
}

// Keyless trusts certificates issued by a trusted root's certificate
// authorities to one of the expected identities. A signature must carry a
// trusted time (a signed timestamp or a log integration time) inside the
// certificate's validity, must be in one of the root's transparency logs
// (under a root that lists none, signatures are refused with
// [ErrNoTransparencyLog] unless the log is waived, [Keyless.TimestampOnly]),
// and its certificate must carry an SCT from the root's CT logs when it
// lists any.
type Keyless struct {
	root          root.TrustedMaterial
	identities    []sgverify.CertificateIdentity
	described     []string
	timestampOnly bool
	// cache is shared by the copies TimestampOnly makes.
	cache *keylessCache
	// full and cached verify a signature (see keylessVerifier); cached
	// is nil when only the full verification runs.
	full   keylessVerifier
	cached keylessVerifier
}

// NewKeyless returns the keyless authority. It refuses to be built without
// an identity ([ErrNoIdentity]) or with a contradictory one.
func NewKeyless(tr root.TrustedMaterial, ids ...Identity) (*Keyless, error) {
	if tr == nil {
		return nil, ErrNoAuthority
	}
	if len(ids) == 0 {
		return nil, ErrNoIdentity
	}
	k := &Keyless{root: tr}
	for _, id := range ids {
		ci, err := id.certificateIdentity()
		if err != nil {
			return nil, err
		}
		k.identities = append(k.identities, ci)
		k.described = append(k.described, id.String())
	}
	opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1), sgverify.WithoutStatementPredicate()}
	requireTlog, requireSCTs := len(tr.RekorLogs()) > 0, len(tr.CTLogs()) > 0
	if requireTlog {
		opts = append(opts, sgverify.WithTransparencyLog(1))
	}
	if requireSCTs {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	k.cache = newKeylessCache(tr)
	if err := k.setVerifiers(opts, requireTlog, requireSCTs); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keyless) setVerifiers(opts []sgverify.VerifierOption, requireTlog, requireSCTs bool) error {
	full, cached, err := newKeylessVerifiers(k.root, k.cache, k.identities, opts, requireTlog, requireSCTs)
	if err != nil {
		return err
	}
	k.full, k.cached = full, cached
	return nil
}

// TimestampOnly returns a copy of the authority that accepts signatures
// without a transparency log entry, for attestations too large for the log
// (as cosign verify --insecure-ignore-tlog --use-signed-timestamps). Each
// signature must then carry an RFC 3161 timestamp from one of the root's
// timestamp authorities, inside the certificate's validity; the identity,
// certificate chain and SCT checks are unchanged.
func (k *Keyless) TimestampOnly() (*Keyless, error) {
	if len(k.root.TimestampingAuthorities()) == 0 {
		return nil, ErrNoTimestampAuthority
	}
	opts := []sgverify.VerifierOption{sgverify.WithSignedTimestamps(1), sgverify.WithoutStatementPredicate()}
	requireSCTs := len(k.root.CTLogs()) > 0
	if requireSCTs {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	c := *k
	c.timestampOnly = true
	if err := c.setVerifiers(opts, false, requireSCTs); err != nil {
		return nil, err
	}
	return &c, nil
}

var _ bundleParser = (*Keyless)(nil)

func (k *Keyless) parseBundle(data []byte) (*bundle.Bundle, sgverify.SignedEntity, error) {
	return k.cache.parseBundle(data)
}

func (k *Keyless) check(s signed) (Signer, Step, error) {
	if !k.timestampOnly && len(k.root.RekorLogs()) == 0 {
		return Signer{}, StepLog, ErrNoTransparencyLog
	}
	entity, art, post := keylessVariant(s)
	res, err := k.verifySigned(entity, art, post)
	if err != nil {
		step, err := classify(envelopeError(entity, err))
		if step == StepIdentity {
			err = fmt.Errorf("%w (expected %s)", err, strings.Join(k.described, " or "))
		}
		return Signer{}, step, err
	}
	return k.signer(res, entity), "", nil
}

func (k *Keyless) paeHashes(d *dsseBundle) ([]crypto.Hash, bool) {
	vc, err := d.b.VerificationContent()
	if err != nil || vc.Certificate() == nil {
		return nil, false
	}
	pub := vc.Certificate().PublicKey
	h := certificateHash(pub)
	if !d.prehashable(h, pub) {
		return nil, false
	}
	return []crypto.Hash{h}, true
}

func (k *Keyless) signer(res *sgverify.VerificationResult, entity sgverify.SignedEntity) Signer {
	signer := signerFrom(res)
	signer.LogSkipped = k.timestampOnly
	if !k.timestampOnly && len(k.root.RekorLogs()) > 0 {
		// Rekor v2 entries carry no integration time, so count the
		// entries the verifier required and checked.
		if entries, err := entity.TlogEntries(); err == nil {
			signer.LogEntries = len(entries)
		}
	}
	return signer
}

func signerFrom(res *sgverify.VerificationResult) Signer {
	var s Signer
	if res == nil {
		return s
	}
	if res.Signature != nil && res.Signature.Certificate != nil {
		s.Issuer = res.Signature.Certificate.Extensions.Issuer
		s.Subject = res.Signature.Certificate.SubjectAlternativeName
		s.SourceRepositoryURI = res.Signature.Certificate.Extensions.SourceRepositoryURI
		s.GitHubRepository = res.Signature.Certificate.Extensions.GithubWorkflowRepository
	}
	for _, t := range res.VerifiedTimestamps {
		var typ string
		switch t.Type {
		case "TimestampAuthority":
			typ = "timestamp-authority"
		case "Tlog":
			typ = "transparency-log"
		default:
			// Not an observed time (the verifier's current time): it
			// proves nothing about when the signature was made.
			continue
		}
		s.Timestamps = append(s.Timestamps, VerifiedTime{Type: typ, URI: t.URI, Time: t.Timestamp.UTC()})
	}
	return s
}

// addSignedTimestamps adds to s the RFC 3161 timestamps of the entity that
// verify under the trusted root's timestamp authorities. Timestamps that do
// not verify are left out: they give no trusted time.
func addSignedTimestamps(s *Signer, entity sgverify.SignedEntity, tm root.TrustedMaterial) error {
	if len(tm.TimestampingAuthorities()) == 0 {
		return nil
	}
	verified, _, err := sgverify.VerifySignedTimestamp(entity, tm)
	if err != nil {
		return err
	}
	for _, t := range verified {
		s.Timestamps = append(s.Timestamps, VerifiedTime{Type: "timestamp-authority", URI: t.URI, Time: t.Time.UTC()})
	}
	return nil
}

// emptyCause is what sigstore-go's threshold errors print when they wrap
// an empty list of causes (errors.Join of none is nil).
const emptyCause = "; error: %!w(<nil>)"

// classify names the check a sigstore-go verification error comes from,
// and trims its wrapping.
func classify(err error) (Step, error) {
	msg := err.Error()
	if strings.Contains(msg, emptyCause) {
		msg = strings.ReplaceAll(msg, emptyCause, "")
		err = errors.New(msg)
	}
	switch {
	case strings.Contains(msg, "failed to verify log inclusion"):
		return StepLog, err
	case strings.Contains(msg, "failed to verify timestamps"),
		strings.Contains(msg, "threshold not met"),
		strings.Contains(msg, "must provide timestamp"),
		strings.Contains(msg, "no valid observer timestamps"),
		strings.Contains(msg, "failed to verify signed timestamps"):
		return StepTimestamp, err
	case strings.Contains(msg, "failed to verify leaf certificate"),
		strings.Contains(msg, "signed certificate timestamp"),
		strings.Contains(msg, "signature time outside"),
		strings.Contains(msg, "expected key signature, not certificate"),
		strings.Contains(msg, "SCTs required"):
		return StepCertificate, err
	case strings.Contains(msg, "certificate identit"):
		return StepIdentity, err
	default:
		return StepSignature, err
	}
}
