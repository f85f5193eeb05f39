package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/attest"
	"hallmark.dev/gate"
	"hallmark.dev/internal/policyops"
	"hallmark.dev/oci/store"
	"hallmark.dev/sbom"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
)

// ReleaseRequest says what to release: an image, the evidence to attach,
// and the gates it must pass before anything is signed.
type ReleaseRequest struct {
	Reference  string
	Repository string
	// Gate is how the image is gated: its policy, exceptions and scanner,
	// and ReportPath, the scan report, unless ScanImage. Its Image (and,
	// with ScanImage, Scan) are the digest resolved once; a report for
	// another digest is refused. A release is never signed ungated.
	Gate GateRequest
	// ScanImage scans the resolved digest with Gate.Scanner instead of
	// reading Gate.ReportPath.
	ScanImage bool
	// Invocation describes the run in the attested gate result (a CI
	// job's URL and run id); a scan's times are the scan's.
	Invocation gate.Invocation
	// BeforeSign, if set, is the signing policy check, run after the gate
	// and before signing; an error stops the release with nothing signed,
	// and the policy version that allowed the release is recorded in the
	// provenance attached.
	BeforeSign SigningPolicy
	// SBOM (CycloneDX or SPDX JSON) and Provenance (a SLSA predicate) are
	// attached when set. The SBOM is checked (well-formed, supported
	// version, about this image) before signing; its predicate type
	// follows its format.
	SBOM           []byte
	Provenance     []byte
	ProvenanceType string
	Annotations    map[string]string
	Signer         sgsign.Keypair
	// Options sign the image and its attestations. TimestampOnly, if set,
	// signs attestations whose statement exceeds LogLimit bytes instead
	// (no log entry, a signed timestamp), as seed 000 does for its SBOM.
	Options       sign.Options
	TimestampOnly *sign.Options
	LogLimit      int
	Now           func() time.Time
	// Events, if set, is told of each step as it happens: the gate's
	// result before anything is signed.
	Events func(Event)
}

// SigningPolicy checks a release against its source repository's signing
// policy (policyops.ReleasePolicy), after the gate passed and before
// anything is signed.
type SigningPolicy interface {
	// Check returns the check's report and, when the release must not be
	// signed (a denial, no policy where one is required, a check that
	// could not be made), an error. The report's Record, when set, is the
	// policy version that allowed the release: the provenance attached
	// records it.
	Check(ctx context.Context, f policyops.ReleaseFacts) (*policyops.CheckReport, error)
}

// SigningPolicyFunc is a function as a SigningPolicy.
type SigningPolicyFunc func(ctx context.Context, f policyops.ReleaseFacts) (*policyops.CheckReport, error)

// Check calls f.
func (f SigningPolicyFunc) Check(ctx context.Context, facts policyops.ReleaseFacts) (*policyops.CheckReport, error) {
	return f(ctx, facts)
}

var _ SigningPolicy = (*policyops.ReleasePolicy)(nil)

// EventKind names a step of a release.
type EventKind string

// The steps.
const (
	// EventGated: the gate evaluated the image (it may have blocked it).
	EventGated EventKind = "gated"
	// EventSigningPolicy: the signing policy was checked (it may have
	// denied the release).
	EventSigningPolicy EventKind = "signing-policy"
)

// Event is a step of a release, reported as it happens.
type Event struct {
	Kind EventKind
	// Gate is the gate's result (EventGated).
	Gate *GateResult
	// SigningPolicy is the signing policy check's report
	// (EventSigningPolicy); nil when the check could not be made.
	SigningPolicy *policyops.CheckReport
}

// Attachment is one thing a release attached, or was to attach.
type Attachment struct {
	Kind          string `json:"kind"` // signature, gate, sbom, provenance
	PredicateType string `json:"predicateType"`
	Referrer      string `json:"referrer,omitempty"`
	TimestampOnly bool   `json:"timestampOnly,omitempty"`
	Size          int    `json:"size,omitempty"`
	Error         string `json:"error,omitempty"`
	// SigningPolicy is the policy version the attachment records as
	// having allowed the release (the provenance).
	SigningPolicy *signpolicy.ReleaseRecord `json:"signingPolicy,omitempty"`
}

// ReleaseResult reports what a release attached and what it did not.
type ReleaseResult struct {
	Image    string       `json:"image"`
	Digest   string       `json:"digest"`
	Attached []Attachment `json:"attached"`
	// NotAttached lists what was planned but not attached after a failure.
	NotAttached []Attachment `json:"notAttached,omitempty"`
	// SBOM says what the SBOM was found to be.
	SBOM *SBOMCheck `json:"sbom,omitempty"`
	// Gate is the gate's result, once the gate ran.
	Gate *GateResult `json:"gate,omitempty"`
	// SigningPolicy is the signing policy check's report, once it ran.
	SigningPolicy *policyops.CheckReport `json:"signingPolicy,omitempty"`
}

// ErrReleaseIncomplete is returned (wrapped) when the image was signed but
// not everything could be attached; the result says what was. Running the
// release again attaches a fresh, complete set.
var ErrReleaseIncomplete = errors.New("release incomplete")

// Release resolves the reference once and, for that digest: runs the gate,
// validates the SBOM and provenance and runs the signing policy, and only if
// all pass signs the image and attaches the gate result, the SBOM and the
// provenance as attestations. Nothing is signed when any step before
// signing fails. The gate's policy and exceptions are read, and a
// weakening flag refused, before the image is resolved.
//
// The signing policy check sees the gate's result as hallmark's own scan
// of the digest. When a policy allowed the release, the SLSA v1
// provenance attached records that policy version
// (signpolicy.AddToProvenance); a provenance given that records a signing
// policy already is refused, with or without a check, since only the
// release that made the check writes the record.
func Release(ctx context.Context, c *store.Client, req ReleaseRequest) (*ReleaseResult, error) {
	if req.Signer == nil {
		return nil, errors.New("no signing key")
	}
	if (req.Gate.ReportPath == "") == !req.ScanImage {
		return nil, errors.New("release: give the scan report of the image or scan it, not both or neither: a release is signed only after its scan passed the gate")
	}
	gateIn, err := loadGate(req.Gate)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	d, desc, sigRepo, err := resolve(ctx, c, req.Reference, req.Repository)
	if err != nil {
		return nil, err
	}
	digest := d.DigestStr()
	res := &ReleaseResult{Image: d.String(), Digest: digest}
	if desc.MediaType.IsIndex() {
		// trivy and grype scan one platform of an index, and their report
		// names the index digest: a pass would vouch for platforms never
		// scanned.
		return res, fmt.Errorf("%s is an image index: a scan covers only one of its platforms; release each platform's image by its digest; nothing was signed", d)
	}

	// Everything that can refuse the release runs before signing.
	greq := req.Gate
	greq.Image = d.String()
	if req.ScanImage {
		greq.Scan = d.String()
	}
	if res.Gate, err = evaluateGate(ctx, greq, gateIn, digest); err != nil {
		return res, fmt.Errorf("gate: %w; nothing was signed", err)
	}
	if req.Events != nil {
		req.Events(Event{Kind: EventGated, Gate: res.Gate})
	}
	if !res.Gate.Passed {
		return res, fmt.Errorf("gate: %d blocking finding(s); nothing was signed", len(res.Gate.Blocking))
	}
	gatePred, err := res.Gate.Predicate(req.Invocation)
	if err != nil {
		return res, fmt.Errorf("gate: %w; nothing was signed", err)
	}
	type planned struct {
		a         Attachment
		statement []byte
	}
	var plan []planned
	add := func(kind, predicateType string, predicate []byte) error {
		if err := attest.CheckAttestationType(predicateType); err != nil {
			return fmt.Errorf("%s: %w; nothing was signed", kind, err)
		}
		pred, err := attest.Predicate(predicateType, predicate, now())
		if err != nil {
			return fmt.Errorf("%s: %w; nothing was signed", kind, err)
		}
		alg, h, err := attest.SplitDigest(digest)
		if err != nil {
			return err
		}
		st, err := attest.NewStatement(predicateType, pred, attest.Subject{Name: d.Context().Name(), Digest: map[string]string{alg: h}})
		if err != nil {
			return err
		}
		plan = append(plan, planned{a: Attachment{Kind: kind, PredicateType: predicateType, Size: len(st)}, statement: st})
		return nil
	}
	if err := add("gate", attest.PredicateVuln, gatePred); err != nil {
		return res, err
	}
	if len(req.SBOM) > 0 {
		doc, err := sbom.Parse(req.SBOM)
		if err != nil {
			return res, fmt.Errorf("%w; nothing was signed", err)
		}
		pt := attest.PredicateCycloneDX
		if doc.Format == sbom.SPDX {
			pt = attest.PredicateSPDX
		}
		check, err := checkSBOM(ctx, c, doc, d, desc)
		if err != nil {
			return res, fmt.Errorf("%w; nothing was signed", err)
		}
		res.SBOM = check
		if err := add("sbom", pt, req.SBOM); err != nil {
			return res, err
		}
	}
	provType := req.ProvenanceType
	if provType == "" {
		provType = attest.PredicateSLSAProvenance1
	}
	if provType == attest.PredicateSLSAProvenance1 && signpolicy.Recorded(req.Provenance) {
		return res, fmt.Errorf("provenance: it records a signing policy already (buildDefinition.internalParameters[%q]): only the release that checks the policy writes that; nothing was signed", signpolicy.ProvenanceParameter)
	}
	var record *signpolicy.ReleaseRecord
	if req.BeforeSign != nil {
		var gateFact any
		if err := json.Unmarshal(gatePred, &gateFact); err != nil {
			return res, fmt.Errorf("gate: %w; nothing was signed", err)
		}
		facts := policyops.ReleaseFacts{Digest: digest, Gate: &signpolicy.ScanFact{
			Scanner: signpolicy.ReservedPrincipal, PredicateType: attest.PredicateVuln, Subject: digest, Predicate: gateFact,
		}}
		rep, err := req.BeforeSign.Check(ctx, facts)
		res.SigningPolicy = rep
		if req.Events != nil {
			req.Events(Event{Kind: EventSigningPolicy, SigningPolicy: rep})
		}
		if err != nil {
			return res, fmt.Errorf("signing policy: %w; nothing was signed", err)
		}
		record = rep.Record()
	}
	if len(req.Provenance) > 0 {
		prov := req.Provenance
		if record != nil {
			if provType != attest.PredicateSLSAProvenance1 {
				return res, fmt.Errorf("provenance: the signing policy that allowed the release is recorded in SLSA v1 provenance, not %s; nothing was signed", provType)
			}
			var err error
			if prov, err = signpolicy.AddToProvenance(prov, *record); err != nil {
				return res, fmt.Errorf("provenance: %w; nothing was signed", err)
			}
		}
		if err := add("provenance", provType, prov); err != nil {
			return res, err
		}
		plan[len(plan)-1].a.SigningPolicy = record
	}

	// Sign, then attach each attestation.
	bundle, _, err := sign.Image(ctx, req.Signer, digest, req.Annotations, req.Options)
	if err != nil {
		return res, fmt.Errorf("nothing was attached: could not sign %s: %w", digest, err)
	}
	sigRef, err := c.AttachBundle(ctx, sigRepo, desc, bundle, attest.CosignSignPredicateType)
	if err != nil {
		res.NotAttached = append(res.NotAttached, Attachment{Kind: "signature", PredicateType: attest.CosignSignPredicateType, Error: err.Error()})
		for _, p := range plan {
			res.NotAttached = append(res.NotAttached, p.a)
		}
		return res, fmt.Errorf("%w: signed %s but could not store the signature: %v", ErrReleaseIncomplete, digest, err)
	}
	res.Attached = append(res.Attached, Attachment{Kind: "signature", PredicateType: attest.CosignSignPredicateType, Referrer: sigRef.String()})
	var failed []string
	for _, p := range plan {
		a := p.a
		ref, err := attachStatement(ctx, c, sigRepo, desc, p.statement, a.PredicateType, req, &a)
		if err != nil {
			a.Error = err.Error()
			res.NotAttached = append(res.NotAttached, a)
			failed = append(failed, fmt.Sprintf("%s (%v)", a.Kind, err))
			continue
		}
		a.Referrer = ref.String()
		res.Attached = append(res.Attached, a)
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%w: %s is signed, but these were not attached: %s; run the release again to attach a complete set",
			ErrReleaseIncomplete, d, strings.Join(failed, "; "))
	}
	return res, nil
}

// attachStatement signs a statement (timestamp-only when it is over the
// log limit and timestamp-only options are given) and attaches it.
func attachStatement(ctx context.Context, c *store.Client, sigRepo name.Repository, desc v1.Descriptor, st []byte, predicateType string, req ReleaseRequest, a *Attachment) (name.Digest, error) {
	opts := req.Options
	if req.TimestampOnly != nil && req.LogLimit > 0 && len(st) > req.LogLimit {
		opts = *req.TimestampOnly
		a.TimestampOnly = true
	}
	b, err := sign.Statement(ctx, req.Signer, st, opts)
	if err != nil {
		return name.Digest{}, err // sign's errors say "sign: "
	}
	return c.AttachBundle(ctx, sigRepo, desc, b, predicateType)
}

// RecordsSigningPolicy reports whether an attachment records the signing
// policy version that allowed the release.
func (r *ReleaseResult) RecordsSigningPolicy() bool {
	for _, a := range r.Attached {
		if a.SigningPolicy != nil {
			return true
		}
	}
	return false
}
