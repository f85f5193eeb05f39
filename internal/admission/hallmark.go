package admission

// This file is the one place the webhook calls hallmark's verification,
// registry and policy APIs (verify, oci/store, internal/ops, internal/gate,
// slsa). The rest of the package sees only the small types below, so that
// a change of those APIs is a change of this file.

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/admission/cip"
	"hallmark.dev/internal/gate"
	"hallmark.dev/internal/ops"
	"hallmark.dev/oci"
	"hallmark.dev/oci/store"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// trustMaterial is a parsed trusted root (or several, combined).
type trustMaterial struct{ tm root.TrustedMaterial }

// parseTrust parses a trusted_root.json.
func parseTrust(data []byte) (*trustMaterial, error) {
	tr, err := verify.ParseTrustedRoot(data)
	if err != nil {
		return nil, err
	}
	return &trustMaterial{tr}, nil
}

// combineTrust trusts what any of ts trusts; nil entries are skipped.
func combineTrust(ts ...*trustMaterial) *trustMaterial {
	var c root.TrustedMaterialCollection
	for _, t := range ts {
		if t != nil {
			c = append(c, t.tm)
		}
	}
	switch len(c) {
	case 0:
		return nil
	case 1:
		return &trustMaterial{c[0]}
	}
	return &trustMaterial{c}
}

// hasTimestampAuthorities reports whether the material lists a TSA.
func (t *trustMaterial) hasTimestampAuthorities() bool {
	return t != nil && len(t.tm.TimestampingAuthorities()) > 0
}

// withoutCTLogs is trusted material whose CT logs are not trusted, so that
// certificates need no SCT (insecureIgnoreSCT).
type withoutCTLogs struct{ root.TrustedMaterial }

func (withoutCTLogs) CTLogs() map[string]*root.TransparencyLog { return nil }

// checker verifies signatures and attestations under one authority.
type checker struct{ a verify.Authority }

// keySpec is a key authority: the keys, and the trusted root whose logs
// must hold the signatures (logs) or whose timestamp authorities must
// have timestamped them (timestamps), if any.
type keySpec struct {
	keys       []crypto.PublicKey
	logs       *trustMaterial
	timestamps *trustMaterial
}

func newKeyChecker(s keySpec) (*checker, error) {
	ks, err := verify.NewKeys(s.keys...)
	if err != nil {
		return nil, err
	}
	switch {
	case s.timestamps != nil:
		ks, err = ks.WithTrustedRoot(combineTrust(s.timestamps, s.logs).tm).TimestampOnly()
		if err != nil {
			return nil, err
		}
	case s.logs != nil:
		ks = ks.WithTrustedRoot(s.logs.tm)
	}
	return &checker{ks}, nil
}

// keylessSpec is a keyless authority.
type keylessSpec struct {
	root          *trustMaterial
	identities    []cip.Identity
	timestampOnly bool
	ignoreSCT     bool
}

func newKeylessChecker(s keylessSpec) (*checker, error) {
	if s.root == nil {
		return nil, errors.New("no trusted root")
	}
	tm := s.root.tm
	if s.ignoreSCT {
		tm = withoutCTLogs{tm}
	}
	ids := make([]verify.Identity, len(s.identities))
	for i, id := range s.identities {
		ids[i] = verify.Identity{Issuer: id.Issuer, IssuerRegexp: id.IssuerRegExp, Subject: id.Subject, SubjectRegexp: id.SubjectRegExp}
	}
	k, err := verify.NewKeyless(tm, ids...)
	if err != nil {
		return nil, err
	}
	if s.timestampOnly {
		if k, err = k.TimestampOnly(); err != nil {
			return nil, err
		}
	}
	return &checker{k}, nil
}

// registry reaches registries; a session adds the credentials of one
// request.
type registry struct {
	transport http.RoundTripper
	timeout   time.Duration
	allowHTTP bool
}

func newRegistry(timeout time.Duration, allowHTTP bool, transport http.RoundTripper) *registry {
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &registry{transport: transport, timeout: timeout, allowHTTP: allowHTTP}
}

type session struct{ c *store.Client }

func (r *registry) session(kc authn.Keychain) *session {
	if kc == nil {
		kc = authn.NewMultiKeychain()
	}
	return &session{store.New(store.Options{AllowHTTP: r.allowHTTP, Timeout: r.timeout, Keychain: kc, Transport: r.transport})}
}

// resolve returns the digest reference (repository@sha256:…) an image
// reference names now.
func (s *session) resolve(ctx context.Context, image string) (string, error) {
	ref, err := s.c.ParseReference(image)
	if err != nil {
		return "", err
	}
	d, _, err := s.c.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// fetched is what was found for a digest: signatures or attestations.
type fetched struct{ sigs []oci.Signature }

func (s *session) fetch(ctx context.Context, repository, digest string, attestations bool) (*fetched, error) {
	repo, err := s.c.ParseRepository(repository)
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, err
	}
	get := s.c.Signatures
	if attestations {
		get = s.c.Attestations
	}
	sigs, err := get(ctx, repo, h)
	if err != nil {
		return nil, err
	}
	return &fetched{sigs}, nil
}

// signer is who made a verified signature or attestation, as
// policy-controller reports it to a ClusterImagePolicy-level policy.
type signer struct {
	ID      string
	Subject string
	Issuer  string
	Repo    string
}

func signerOf(source string, s verify.Signer) signer {
	h := sha256.Sum256([]byte(source))
	return signer{ID: hex.EncodeToString(h[:]), Subject: s.Subject, Issuer: s.Issuer, Repo: s.GitHubRepository}
}

// checkSignatures verifies the image signatures found for digest.
func (c *checker) checkSignatures(digest string, f *fetched) ([]signer, error) {
	res, err := verify.Image(digest, f.sigs, verify.ImagePolicy{Authority: c.a})
	if err != nil {
		return nil, oneLine(err)
	}
	out := make([]signer, len(res.Verified))
	for i, v := range res.Verified {
		out[i] = signerOf(v.Source, v.Signer)
	}
	return out, nil
}

// statement is a verified attestation: its signer and in-toto statement.
type statement struct {
	signer
	PredicateType string
	Payload       []byte
}

// checkAttestations verifies the attestations of the predicate type found
// for digest.
func (c *checker) checkAttestations(digest string, f *fetched, predicateType string) ([]statement, error) {
	res, err := verify.Attestations(digest, f.sigs, verify.AttestationPolicy{Authority: c.a, PredicateType: predicateType})
	if err != nil {
		return nil, oneLine(err)
	}
	return statements(res.Verified), nil
}

func statements(vs []verify.VerifiedAttestation) []statement {
	out := make([]statement, len(vs))
	for i, v := range vs {
		out[i] = statement{signer: signerOf(v.Source, v.Signer), PredicateType: v.Statement.PredicateType, Payload: v.Payload}
	}
	return out
}

// requirements are hallmark's own checks of an attestation, set by a
// ClusterImagePolicy's admission.hallmark.dev/ annotations.
type requirements struct {
	gate       *gate.AttestationRequirements
	provenance *slsa.Requirements
}

// GatePredicateType is the predicate type of hallmark's gate attestations.
const GatePredicateType = gate.PredicateType

// appliesTo reports whether the requirements check attestations of the
// predicate type.
func (r *requirements) appliesTo(predicateType string) bool {
	if r == nil {
		return false
	}
	if r.gate != nil && predicateType == gate.PredicateType {
		return true
	}
	if r.provenance != nil {
		for _, pt := range slsa.PredicateTypes {
			if pt == predicateType {
				return true
			}
		}
	}
	return false
}

// checkRequirements verifies the attestations of the predicate type for
// the image (repository@digest) with hallmark's own checks: at least one
// verified gate attestation that passed, recent enough and under the
// policy digest; every verified provenance statement from the source.
func (c *checker) checkRequirements(ctx context.Context, s *session, image, sigRepo, predicateType string, r *requirements, now time.Time) ([]statement, error) {
	req := ops.VerifyAttestationsRequest{
		Reference:  image,
		Repository: sigRepo,
		Policy:     verify.AttestationPolicy{Authority: c.a, PredicateType: predicateType},
		Now:        func() time.Time { return now },
	}
	if predicateType == gate.PredicateType {
		req.Gate = r.gate
	} else {
		req.Provenance = r.provenance
	}
	res, err := ops.VerifyAttestations(ctx, s.c, req)
	if err != nil {
		return nil, oneLine(err)
	}
	return statements(res.Verified), nil
}

// Annotations of a ClusterImagePolicy that set hallmark's own checks.
const (
	AnnotationPrefix                 = "admission.hallmark.dev/"
	AnnotationGateMaxAge             = AnnotationPrefix + "gate-max-age"
	AnnotationGatePolicyDigest       = AnnotationPrefix + "gate-policy-digest"
	AnnotationProvenanceSource       = AnnotationPrefix + "provenance-source"
	AnnotationProvenanceTag          = AnnotationPrefix + "provenance-tag"
	AnnotationProvenanceVersionedTag = AnnotationPrefix + "provenance-versioned-tag"
	AnnotationProvenanceBranch       = AnnotationPrefix + "provenance-branch"
	AnnotationProvenanceBuilder      = AnnotationPrefix + "provenance-builder-id"
)

// parseRequirements reads the admission.hallmark.dev/ annotations; nil
// when there are none.
func parseRequirements(ann map[string]string) (*requirements, error) {
	var r requirements
	var prov slsa.Requirements
	provGiven := false
	for k, v := range ann {
		if !strings.HasPrefix(k, AnnotationPrefix) {
			continue
		}
		switch k {
		case AnnotationGateMaxAge:
			age, err := gate.ParseMaxAge(v)
			if err != nil {
				return nil, fmt.Errorf("annotation %s: %w", k, err)
			}
			if r.gate == nil {
				r.gate = &gate.AttestationRequirements{}
			}
			r.gate.MaxAge = age
		case AnnotationGatePolicyDigest:
			if r.gate == nil {
				r.gate = &gate.AttestationRequirements{}
			}
			r.gate.PolicyDigest = v
		case AnnotationProvenanceSource:
			prov.SourceURI, provGiven = v, true
		case AnnotationProvenanceTag:
			prov.SourceTag, provGiven = v, true
		case AnnotationProvenanceVersionedTag:
			prov.SourceVersionedTag, provGiven = v, true
		case AnnotationProvenanceBranch:
			prov.SourceBranch, provGiven = v, true
		case AnnotationProvenanceBuilder:
			prov.BuilderID, provGiven = v, true
		default:
			return nil, fmt.Errorf("annotation %s: unknown (hallmark reads %s)", k, strings.Join([]string{
				AnnotationGateMaxAge, AnnotationGatePolicyDigest, AnnotationProvenanceSource, AnnotationProvenanceTag,
				AnnotationProvenanceVersionedTag, AnnotationProvenanceBranch, AnnotationProvenanceBuilder}, ", "))
		}
	}
	if r.gate != nil {
		if r.gate.MaxAge == 0 {
			return nil, fmt.Errorf("annotation %s needs %s: say how old the gate attestation may be, e.g. 7d", AnnotationGatePolicyDigest, AnnotationGateMaxAge)
		}
		if err := r.gate.Validate(); err != nil {
			return nil, err
		}
	}
	if provGiven {
		if prov.SourceURI == "" {
			return nil, fmt.Errorf("annotation %s is required with the other provenance annotations: name the repository the image must be built from", AnnotationProvenanceSource)
		}
		if err := prov.Validate(); err != nil {
			return nil, err
		}
		r.provenance = &prov
	}
	if r.gate == nil && r.provenance == nil {
		return nil, nil
	}
	return &r, nil
}

// provenancePredicateTypes are the SLSA provenance predicate types.
var provenancePredicateTypes = slsa.PredicateTypes

// explain adds to a registry error what the webhook pulls with, when the
// registry refused the credentials.
func explain(err error) string {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return err.Error() + " (the webhook pulls with the workload's imagePullSecrets and those of its service account)"
	}
	return err.Error()
}

// isTransient reports whether an error may go away by itself: a registry
// that did not answer, or an evaluation cut short. Verdicts from such
// errors are not cached.
func isTransient(err error) bool {
	var re *store.RegistryError
	return errors.As(err, &re) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// oneLine joins a multi-line verification error into one line, for an
// admission message.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "\n") {
		return err
	}
	return &joinedError{msg: strings.ReplaceAll(strings.ReplaceAll(msg, "\n  ", "; "), "\n", "; "), err: err}
}

type joinedError struct {
	msg string
	err error
}

func (e *joinedError) Error() string { return e.msg }
func (e *joinedError) Unwrap() error { return e.err }
