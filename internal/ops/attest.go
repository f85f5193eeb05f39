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
	"hallmark.dev/oci"
	"hallmark.dev/oci/store"
	"hallmark.dev/policy"
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
}

// AttestImage resolves the reference once and attaches an in-toto
// statement about that digest (subject: the repository and digest, as
// cosign writes it), signed in a DSSE envelope in a Sigstore bundle, as an
// OCI referrer.
func AttestImage(ctx context.Context, c *store.Client, req AttestImageRequest) (*AttestImageResult, error) {
	if req.Signer == nil {
		return nil, errors.New("no signing key")
	}
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	pred, err := attest.Predicate(req.PredicateType, req.Predicate, now())
	if err != nil {
		return nil, err
	}
	d, desc, sigRepo, err := resolve(ctx, c, req.Reference, req.Repository)
	if err != nil {
		return nil, err
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
	return &AttestImageResult{Image: d.String(), PredicateType: req.PredicateType, Referrer: ref.String()}, nil
}

// streamedLayerSize is the size from which an attestation layer is read
// as a stream rather than whole.
const streamedLayerSize = 1 << 20

// VerifyAttestationsRequest says what to verify.
type VerifyAttestationsRequest struct {
	Reference  string
	Repository string
	Policy     verify.AttestationPolicy
	// Policies (CUE or Rego) every verified statement must satisfy.
	Policies []policy.Policy
}

// VerifyAttestationsResult names the image with the result.
type VerifyAttestationsResult struct {
	Image string `json:"image"`
	*verify.AttestationResult
	// Policies holds one result per verified attestation and policy.
	Policies []PolicyResult `json:"policies,omitempty"`
}

// PolicyResult is one policy evaluated over one verified attestation.
type PolicyResult struct {
	Attestation string   `json:"attestation"`
	Policy      string   `json:"policy"`
	Passed      bool     `json:"passed"`
	Messages    []string `json:"messages,omitempty"`
}

// PolicyError is returned when verified attestations fail a policy.
type PolicyError struct {
	Failed []PolicyResult
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d policy check(s) failed", len(e.Failed))
	for _, f := range e.Failed {
		for _, m := range f.Messages {
			fmt.Fprintf(&b, "\n  %s: policy %s: %s", f.Attestation, f.Policy, m)
		}
	}
	return b.String()
}

// VerifyAttestations resolves the reference, fetches the attestations of
// the digest (referrers and cosign's legacy .att tag) and verifies those of
// the policy's predicate type.
func VerifyAttestations(ctx context.Context, c *store.Client, req VerifyAttestationsRequest) (*VerifyAttestationsResult, error) {
	// Large bundle layers (SBOMs of tens of megabytes) are read as
	// streams, in about their own size of memory.
	var streamed []verify.BundleSource
	get := func(ctx context.Context, repo name.Repository, h v1.Hash) ([]oci.Signature, error) {
		sigs, large, err := c.AttestationsStreamed(ctx, repo, h, streamedLayerSize)
		for _, l := range large {
			streamed = append(streamed, verify.BundleSource{Source: l.Source, Size: l.Size, Open: l.Open})
		}
		return sigs, err
	}
	d, h, sigRepo, atts, err := fetch(ctx, c, req.Reference, req.Repository, get)
	if err != nil {
		return nil, err
	}
	res, err := verify.AttestationsFrom(d.DigestStr(), atts, streamed, req.Policy)
	out := &VerifyAttestationsResult{Image: d.String(), AttestationResult: res}
	if errors.Is(err, verify.ErrNoSignatures) {
		return out, fmt.Errorf("no attestations found for %s (looked for referrers and the %s tag in %s)", d, oci.LegacyTag(h, oci.LegacyAttestationTagSuffix), sigRepo)
	}
	if err != nil {
		return out, err
	}
	var failed []PolicyResult
	for _, v := range res.Verified {
		for _, p := range req.Policies {
			r, err := p.Evaluate(ctx, json.RawMessage(v.Payload))
			if err != nil {
				return out, fmt.Errorf("%s: policy %s: %w", v.Source, p.Name(), err)
			}
			pr := PolicyResult{Attestation: v.Source, Policy: p.Name(), Passed: r.Passed, Messages: r.Messages}
			out.Policies = append(out.Policies, pr)
			if !r.Passed {
				failed = append(failed, pr)
			}
		}
	}
	if len(failed) > 0 {
		return out, &PolicyError{Failed: failed}
	}
	return out, nil
}
