package admission

// This file is the one place the webhook calls hallmark's verification,
// registry and policy APIs (verify, oci/store, policy, gate, slsa,
// signpolicy). The rest of the package sees only the small types below, so that
// a change of those APIs is a change of this file.

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/gate"
	"hallmark.dev/internal/admission/cip"
	"hallmark.dev/oci"
	"hallmark.dev/oci/store"
	"hallmark.dev/policy"
	"hallmark.dev/signpolicy"
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

// checker verifies signatures and attestations under one authority.
type checker struct{ a verify.Authority }

// keySpec is a key authority: the keys, and the trusted root whose logs
// must hold the signatures (logs) or whose timestamp authorities must
// have timestamped them in place of a log entry (timestamps), if any.
type keySpec struct {
	keys       []crypto.PublicKey
	logs       *trustMaterial
	timestamps *trustMaterial
}

func newKeyChecker(s keySpec) (*checker, error) {
	cfg := verify.AuthorityConfig{Keys: s.keys}
	switch {
	case s.timestamps != nil:
		cfg.TrustedRoot = combineTrust(s.timestamps, s.logs).tm
		// policy-controller's rfc3161timestamp: the signed timestamp
		// stands for the log entry.
		cfg.InsecureIgnoreTlogUnsafe, cfg.RequireSignedTimestamps = true, true
	case s.logs != nil:
		cfg.TrustedRoot = s.logs.tm
	}
	a, err := verify.NewAuthority(cfg)
	if err != nil {
		return nil, err
	}
	return &checker{a}, nil
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
	ids := make([]verify.Identity, len(s.identities))
	for i, id := range s.identities {
		ids[i] = verify.Identity{Issuer: id.Issuer, IssuerRegexp: id.IssuerRegExp, Subject: id.Subject, SubjectRegexp: id.SubjectRegExp}
	}
	a, err := verify.NewAuthority(verify.AuthorityConfig{
		Identities:               ids,
		TrustedRoot:              s.root.tm,
		InsecureIgnoreTlogUnsafe: s.timestampOnly,
		RequireSignedTimestamps:  s.timestampOnly,
		InsecureIgnoreSCTUnsafe:  s.ignoreSCT,
	})
	if err != nil {
		return nil, err
	}
	return &checker{a}, nil
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

type session struct {
	c  *store.Client
	kc authn.Keychain
}

func (r *registry) session(kc authn.Keychain) *session {
	if kc == nil {
		kc = authn.NewMultiKeychain()
	}
	return &session{c: store.New(store.Options{AllowHTTP: r.allowHTTP, Timeout: r.timeout, Keychain: kc, Transport: r.transport}), kc: kc}
}

// tagKey returns what the tag cache keys a reference by: its full name
// (registry/repository:tag) and an identity of the credentials the session
// pulls it with (a SHA-256 of what the keychain gives for its registry,
// anonymous included), so that no secret is kept in the key.
func (s *session) tagKey(ctx context.Context, image string) (reference, credentials string, err error) {
	ref, err := s.c.ParseReference(image)
	if err != nil {
		return "", "", err
	}
	auth, err := authn.Resolve(ctx, s.kc, ref.Context())
	if err != nil {
		return "", "", err
	}
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return "", "", err
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		return "", "", err
	}
	h := sha256.Sum256(j)
	return ref.Name(), hex.EncodeToString(h[:]), nil
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

// statement is an attestation that verified and passed its checks: its
// signer and its statement's predicate type.
type statement struct {
	signer
	PredicateType string
}

// attestationChecks are the checks an attestation of a ClusterImagePolicy
// runs, in order: hallmark's requirements that apply to its predicate type,
// then its cue or rego policy, if any. Requirements and policies are one
// shape, policy.Check, run by policy.Run.
type attestationChecks struct {
	checks []policy.Check
	// cip is the cue or rego policy's check, or nil.
	cip *cipCheck
}

func newAttestationChecks(name, predicateType string, p *cip.CompiledPolicy, reqs []requirement) attestationChecks {
	var out attestationChecks
	for _, r := range reqs {
		if slices.Contains(r.predicateTypes(), predicateType) {
			out.checks = append(out.checks, r.check)
		}
	}
	if p != nil {
		out.cip = &cipCheck{attestation: name, p: p}
		out.checks = append(out.checks, out.cip)
	}
	return out
}

// checkAttestations verifies the attestations of the predicate type found
// for the image (repository@digest) and runs the checks over those that
// verified, judged at now. It returns the statements the authority
// reports: those that passed the cue or rego policy (as policy-controller,
// one suffices), or every verified one when there is none; and the rego
// policy's warnings. Errors name the attestation (name).
func (c *checker) checkAttestations(ctx context.Context, name, image, digest string, f *fetched, predicateType string, cs attestationChecks, now time.Time) ([]statement, []string, error) {
	res, err := verify.Attestations(digest, f.sigs, verify.AttestationPolicy{Authority: c.a, PredicateType: predicateType})
	if err != nil {
		return nil, nil, fmt.Errorf("attestation %s (%s) check failed: %w", name, predicateType, oneLine(err))
	}
	in := policy.Input{
		Subjects:     []policy.Subject{{Name: image, Digests: []string{digest}}},
		Attestations: res.Verified,
		Time:         now,
	}
	results, err := policy.Run(ctx, in, cs.checks...)
	var warnings []string
	if cs.cip != nil {
		for _, r := range results {
			if r.Check != cs.cip.Name() {
				continue
			}
			for _, f := range r.Findings {
				if f.Name == cipWarning {
					warnings = append(warnings, f.Detail)
				}
			}
		}
	}
	if err != nil {
		return nil, warnings, fmt.Errorf("attestation %s: %w", name, oneLine(err))
	}
	var out []statement
	for _, v := range res.Verified {
		if cs.cip != nil && !cs.cip.passed(results, v.Source) {
			continue
		}
		out = append(out, statement{signer: signerOf(v.Source, v.Signer), PredicateType: v.Statement.PredicateType})
	}
	return out, warnings, nil
}

// cipCheck is a ClusterImagePolicy attestation's cue or rego policy as a
// policy.Check, with cosign's semantics (cip.CompiledPolicy): as in
// policy-controller, one verified statement that passes suffices.
type cipCheck struct {
	attestation string
	p           *cip.CompiledPolicy
}

var _ policy.Check = (*cipCheck)(nil)

// cipWarning names the findings that carry a rego policy's warning.
const cipWarning = "warning"

func (c *cipCheck) Name() string { return "policy " + c.attestation }

func (c *cipCheck) Evaluate(ctx context.Context, in policy.Input) (policy.Result, error) {
	res := policy.Result{Check: c.Name(), Findings: []policy.Finding{}}
	first := ""
	for _, a := range in.Attestations {
		out, err := c.p.Evaluate(ctx, a.Payload)
		if err != nil {
			return policy.Result{}, err
		}
		if out.Warning != "" {
			res.Findings = append(res.Findings, policy.Finding{Attestation: a.Source, Name: cipWarning, Passed: true, Detail: out.Warning})
		}
		res.Findings = append(res.Findings, policy.Finding{Attestation: a.Source, Passed: out.Passed, Detail: out.Reason})
		res.Passed = res.Passed || out.Passed
		if !out.Passed && first == "" {
			first = out.Reason
		}
	}
	if !res.Passed {
		res.Err = fmt.Errorf("failed its policy: %s", first)
	}
	return res, nil
}

// passed reports whether the attestation passed the policy, by its
// finding in the results.
func (c *cipCheck) passed(results []policy.Result, source string) bool {
	for _, r := range results {
		if r.Check != c.Name() {
			continue
		}
		for _, f := range r.FindingsFor(source) {
			if f.Name == "" {
				return f.Passed
			}
		}
	}
	return false
}

// requirement is one of hallmark's own checks of an attestation, set by a
// ClusterImagePolicy's admission.hallmark.dev/ annotations.
type requirement struct {
	// annotation names the annotation that set it, for messages.
	annotation string
	check      policy.Check
}

// predicateTypes are the predicate types the requirement checks.
func (r requirement) predicateTypes() []string {
	if t, ok := r.check.(policy.ForPredicateTypes); ok {
		return t.PredicateTypes()
	}
	return nil
}

// GatePredicateType is the predicate type of hallmark's gate attestations.
const GatePredicateType = gate.PredicateType

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
	AnnotationSigningPolicyDigest    = AnnotationPrefix + "signing-policy-digest"
)

var annotations = []string{
	AnnotationGateMaxAge, AnnotationGatePolicyDigest, AnnotationProvenanceSource, AnnotationProvenanceTag,
	AnnotationProvenanceVersionedTag, AnnotationProvenanceBranch, AnnotationProvenanceBuilder, AnnotationSigningPolicyDigest,
}

// parseRequirements reads the admission.hallmark.dev/ annotations into
// hallmark's checks: the gate attestation check (gate.NewCheck), the SLSA
// provenance requirements (slsa.NewCheck, every verified statement), the
// signing policy record (signpolicy.NewProvenanceCheck).
func parseRequirements(ann map[string]string) ([]requirement, error) {
	var gateReq *gate.AttestationRequirements
	var prov slsa.Requirements
	provGiven := false
	signingPolicy := ""
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
			if gateReq == nil {
				gateReq = &gate.AttestationRequirements{}
			}
			gateReq.MaxAge = age
		case AnnotationGatePolicyDigest:
			if gateReq == nil {
				gateReq = &gate.AttestationRequirements{}
			}
			gateReq.PolicyDigest = v
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
		case AnnotationSigningPolicyDigest:
			signingPolicy = v
		default:
			return nil, fmt.Errorf("annotation %s: unknown (hallmark reads %s)", k, strings.Join(annotations, ", "))
		}
	}
	var reqs []requirement
	if gateReq != nil {
		if gateReq.MaxAge == 0 {
			return nil, fmt.Errorf("annotation %s needs %s: say how old the gate attestation may be, e.g. 7d", AnnotationGatePolicyDigest, AnnotationGateMaxAge)
		}
		c, err := gate.NewCheck(*gateReq)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, requirement{AnnotationGateMaxAge, c})
	}
	if provGiven {
		if prov.SourceURI == "" {
			return nil, fmt.Errorf("annotation %s is required with the other provenance annotations: name the repository the image must be built from", AnnotationProvenanceSource)
		}
		c, err := slsa.NewCheck(prov, slsa.Every)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, requirement{AnnotationProvenanceSource, c})
	}
	if signingPolicy != "" {
		c, err := signpolicy.NewProvenanceCheck(signingPolicy)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", AnnotationSigningPolicyDigest, err)
		}
		reqs = append(reqs, requirement{AnnotationSigningPolicyDigest, c})
	}
	// In a fixed order, whatever the map's: the gate, the provenance, the
	// signing policy.
	return reqs, nil
}

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
