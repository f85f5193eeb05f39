package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/attest"
	"hallmark.dev/oci"
	"hallmark.dev/oci/store"
	"hallmark.dev/policy"
	"hallmark.dev/sbom"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// AttestImageRequest says what to attest.
type AttestImageRequest struct {
	Reference     string
	PredicateType string // URI
	Predicate     []byte // the predicate file's content
	Repository    string
	Signer        sgsign.Keypair
	Options       sign.Options
	Now           func() time.Time
}

// AttestImageResult reports the attestation attached.
type AttestImageResult struct {
	Image         string `json:"image"`
	PredicateType string `json:"predicateType"`
	Referrer      string `json:"referrer"`
	// SBOM is set for CycloneDX and SPDX predicates, which are checked
	// before signing.
	SBOM *SBOMCheck `json:"sbom,omitempty"`
}

// SBOMCheck says what an SBOM predicate was found to be.
type SBOMCheck struct {
	Format      sbom.Format `json:"format"`
	SpecVersion string      `json:"specVersion"`
	Components  int         `json:"components"`
	// Subject is the claim that names the attested image, nil when the
	// SBOM names no image digest (then its subject could not be checked).
	Subject *sbom.Claim `json:"subject"`
}

// AttestImage resolves the reference once and attaches an in-toto
// statement about that digest (subject: the repository and digest, as
// cosign writes it), signed in a DSSE envelope in a Sigstore bundle, as an
// OCI referrer.
func AttestImage(ctx context.Context, c *store.Client, req AttestImageRequest) (*AttestImageResult, error) {
	if req.Signer == nil {
		return nil, errors.New("no signing key")
	}
	if err := attest.CheckAttestationType(req.PredicateType); err != nil {
		return nil, err
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	pred, err := attest.Predicate(req.PredicateType, req.Predicate, now())
	if err != nil {
		return nil, err
	}
	doc, err := parseSBOM(req.PredicateType, pred)
	if err != nil {
		return nil, err
	}
	d, desc, sigRepo, err := resolve(ctx, c, req.Reference, req.Repository)
	if err != nil {
		return nil, err
	}
	var check *SBOMCheck
	if doc != nil {
		if check, err = checkSBOM(ctx, c, doc, d, desc); err != nil {
			return nil, err
		}
	}
	alg, hexDigest, err := attest.SplitDigest(d.DigestStr())
	if err != nil {
		return nil, err
	}
	st, err := attest.NewStatement(req.PredicateType, pred, attest.Subject{Name: d.Context().Name(), Digest: map[string]string{alg: hexDigest}})
	if err != nil {
		return nil, err
	}
	bundle, err := sign.Statement(ctx, req.Signer, st, req.Options)
	if err != nil {
		return nil, err
	}
	ref, err := c.AttachBundle(ctx, sigRepo, desc, bundle, req.PredicateType)
	if err != nil {
		return nil, fmt.Errorf("signed the attestation for %s but could not store it: %w", d, err)
	}
	return &AttestImageResult{Image: d.String(), PredicateType: req.PredicateType, Referrer: ref.String(), SBOM: check}, nil
}

// parseSBOM parses a CycloneDX or SPDX predicate, refusing a malformed one
// and one of the other format; other predicate types are not SBOMs (nil).
func parseSBOM(predicateType string, pred []byte) (*sbom.Document, error) {
	var want sbom.Format
	switch predicateType {
	case attest.PredicateCycloneDX:
		want = sbom.CycloneDX
	case attest.PredicateSPDX:
		want = sbom.SPDX
	default:
		return nil, nil
	}
	doc, err := sbom.Parse(pred)
	var me *sbom.MalformedError
	if errors.As(err, &me) && me.Format == "" {
		return nil, &sbom.MalformedError{Format: want, Err: me.Err}
	}
	if err != nil {
		return nil, err
	}
	if doc.Format != want {
		return nil, fmt.Errorf("sbom: the predicate type is %s (%s) but the predicate is %s JSON", want, predicateType, doc.Format)
	}
	return doc, nil
}

// checkSBOM checks that the SBOM claims to describe the image resolved. The
// image's config digest is read only when the SBOM names one (trivy's image
// ID) or a hash that may be one.
func checkSBOM(ctx context.Context, c *store.Client, doc *sbom.Document, d name.Digest, desc v1.Descriptor) (*SBOMCheck, error) {
	img := sbom.Image{Digest: d.DigestStr()}
	if desc.MediaType.IsImage() && slices.ContainsFunc(doc.Claims(), func(cl sbom.Claim) bool { return cl.Kind != sbom.Manifest }) {
		cfg, err := c.ConfigDigest(ctx, d)
		if err != nil {
			return nil, err
		}
		img.Config = cfg.String()
	}
	claim, err := sbom.CheckSubject(doc, img)
	if err != nil {
		return nil, err
	}
	return &SBOMCheck{Format: doc.Format, SpecVersion: doc.SpecVersion, Components: doc.Components, Subject: claim}, nil
}

// streamedLayerSize is the size from which an attestation layer is read
// as a stream rather than whole.
const streamedLayerSize = 1 << 20

// VerifyAttestationsRequest says what to verify.
type VerifyAttestationsRequest struct {
	Reference  string
	Repository string
	Policy     verify.AttestationPolicy
	// Checks are the verification policies run, in order, over the
	// attestations that verified, with the image as their subject: CUE
	// and Rego policies ([policy.Parse]), SLSA provenance requirements
	// (slsa.NewCheck), the gate attestation policy (gate.NewCheck). A
	// check that applies to other predicate types than Policy's is refused
	// before anything is fetched.
	Checks []policy.Check
	// Now is the clock checks judge ages by; nil means time.Now.
	Now func() time.Time
}

// VerifyAttestationsResult names the image with the result.
type VerifyAttestationsResult struct {
	Image string `json:"image"`
	*verify.AttestationResult
	// Checks holds each check's result, in the request's order, when the
	// attestations verified.
	Checks []policy.Result `json:"checks,omitempty"`
}

// VerifyAttestations resolves the reference, fetches the attestations of
// the digest (referrers and cosign's legacy .att tag) and verifies those of
// the policy's predicate type. Then it runs the checks over the verified
// attestations; when checks fail the error is a *policy.Error naming them.
// A policy WithoutPredicate (an SBOM of hundreds of megabytes verified in
// memory independent of its size) admits no checks: they read the
// predicates.
func VerifyAttestations(ctx context.Context, c *store.Client, req VerifyAttestationsRequest) (*VerifyAttestationsResult, error) {
	if req.Policy.WithoutPredicate && len(req.Checks) > 0 {
		return nil, errors.New("the checks read the predicates: verify the attestations with them (not WithoutPredicate)")
	}
	if err := validateChecks(req.Checks, req.Policy.PredicateType); err != nil {
		return nil, err
	}
	f, err := fetchAttestations(ctx, c, req.Reference, req.Repository)
	if err != nil {
		return nil, err
	}
	return verifyFetched(ctx, f, req)
}

// fetched is an image resolved once and the attestations found for it:
// small ones read, large ones (SBOMs of tens of megabytes) to be read as
// streams, in about their own size of memory.
type fetched struct {
	d        name.Digest
	h        v1.Hash
	sigRepo  name.Repository
	atts     []oci.Signature
	streamed []verify.BundleSource
}

func fetchAttestations(ctx context.Context, c *store.Client, reference, repository string) (*fetched, error) {
	var streamed []verify.BundleSource
	get := func(ctx context.Context, repo name.Repository, h v1.Hash) ([]oci.Signature, error) {
		sigs, large, err := c.AttestationsStreamed(ctx, repo, h, streamedLayerSize)
		for _, l := range large {
			streamed = append(streamed, verify.BundleSource{Source: l.Source, Size: l.Size, Open: l.Open})
		}
		return sigs, err
	}
	d, h, sigRepo, atts, err := fetch(ctx, c, reference, repository, get)
	if err != nil {
		return nil, err
	}
	return &fetched{d: d, h: h, sigRepo: sigRepo, atts: atts, streamed: streamed}, nil
}

// verifyFetched verifies fetched attestations against req's policy (its
// Reference and Repository are not used).
func verifyFetched(ctx context.Context, f *fetched, req VerifyAttestationsRequest) (*VerifyAttestationsResult, error) {
	d, h, sigRepo := f.d, f.h, f.sigRepo
	res, err := verify.AttestationsFrom(d.DigestStr(), f.atts, f.streamed, req.Policy)
	out := &VerifyAttestationsResult{Image: d.String(), AttestationResult: res}
	if errors.Is(err, verify.ErrNoSignatures) {
		return out, fmt.Errorf("no attestations found for %s (looked for referrers and the %s tag in %s)", d, oci.LegacyTag(h, oci.LegacyAttestationTagSuffix), sigRepo)
	}
	if err != nil {
		return out, err
	}
	return out, runChecks(ctx, out, req.Checks, req.Now, imageSubject(res, d.String()))
}
