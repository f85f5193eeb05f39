// Package ops composes the registry client, the signer, the verifier and
// the policies into the actions a user runs: sign and verify an image,
// verify a blob, attest an image or files and verify those attestations,
// verify provenance, download verified attestations and SBOMs, gate an
// image on its vulnerability scan, and release it. Each action is one
// function that returns a value describing what happened; printing is the
// caller's.
package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/attest"
	"hallmark.dev/oci"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// SignImageRequest says what to sign.
type SignImageRequest struct {
	// Reference is the image as the user wrote it (tag or digest).
	Reference string
	// Annotations are signed with the image digest.
	Annotations map[string]string
	// Recursive also signs every manifest an index lists.
	Recursive bool
	// Repository, if set, stores signatures there instead of the image's
	// own repository.
	Repository string
	// Signer signs.
	Signer sgsign.Keypair
	// Options are passed to the bundle builder.
	Options sign.Options
}

// Signed is one manifest that was signed.
type Signed struct {
	// Image is repository@digest of the signed manifest.
	Image string `json:"image"`
	// Referrer is repository@digest of the manifest holding the signature.
	Referrer string `json:"referrer"`
}

// SignImageResult reports what was signed.
type SignImageResult struct {
	// Reference is the reference as given; ResolvedFrom is non-empty when
	// it was a tag, which was resolved once to Digest.
	Reference string   `json:"reference"`
	Digest    string   `json:"digest"`
	Signed    []Signed `json:"signed"`
}

// SignImage resolves the reference to a digest once, signs that digest
// (and, if asked, each manifest of an index) and then attaches each
// signature as a referrer; if one signature fails, none is attached. A tag that moves after it was resolved does not change what is
// signed: the digest resolved first is.
func SignImage(ctx context.Context, c *store.Client, req SignImageRequest) (*SignImageResult, error) {
	if req.Signer == nil {
		return nil, errors.New("no signing key")
	}
	d, desc, sigRepo, err := resolve(ctx, c, req.Reference, req.Repository)
	if err != nil {
		return nil, err
	}
	res := &SignImageResult{Reference: req.Reference, Digest: d.DigestStr()}
	targets := []v1.Descriptor{desc}
	if req.Recursive && desc.MediaType.IsIndex() {
		children, err := c.Children(ctx, d)
		if err != nil {
			return nil, err
		}
		targets = append(targets, children...)
	}
	// Every manifest is signed before any signature is stored: a signer
	// that fails midway (a token removed) leaves nothing behind.
	bundles := make([][]byte, len(targets))
	for i, t := range targets {
		bundle, _, err := sign.Image(ctx, req.Signer, t.Digest.String(), req.Annotations, req.Options)
		if err != nil {
			return res, fmt.Errorf("sign %s: %w", t.Digest, err)
		}
		bundles[i] = bundle
	}
	for i, t := range targets {
		referrer, err := c.AttachBundle(ctx, sigRepo, t, bundles[i], attest.CosignSignPredicateType)
		if err != nil {
			return res, fmt.Errorf("signed %s but could not store the signature: %w", t.Digest, err)
		}
		res.Signed = append(res.Signed, Signed{
			Image:    d.Context().Digest(t.Digest.String()).String(),
			Referrer: referrer.String(),
		})
	}
	return res, nil
}

// VerifyImageRequest says what to verify.
type VerifyImageRequest struct {
	Reference  string
	Repository string
	Policy     verify.ImagePolicy
}

// VerifyImageResult is the verification result with the image named.
type VerifyImageResult struct {
	Image string `json:"image"`
	*verify.ImageResult
}

// VerifyImage resolves the reference, fetches every signature stored for
// the digest (both layouts) and verifies them. The result lists rejected
// signatures too; the error is non-nil unless one verified.
func VerifyImage(ctx context.Context, c *store.Client, req VerifyImageRequest) (*VerifyImageResult, error) {
	d, h, sigRepo, sigs, err := fetch(ctx, c, req.Reference, req.Repository, c.Signatures)
	if err != nil {
		return nil, err
	}
	res, err := verify.Image(d.DigestStr(), sigs, req.Policy)
	out := &VerifyImageResult{Image: d.String(), ImageResult: res}
	if err != nil {
		if errors.Is(err, verify.ErrNoSignatures) {
			return out, fmt.Errorf("no signatures found for %s (looked for referrers and the %s tag in %s)", d, oci.LegacyTag(h, oci.LegacySignatureTagSuffix), sigRepo)
		}
		return out, err
	}
	return out, nil
}

// resolve resolves a reference to its digest, once, and names the
// repository its signatures live in: repository if set, else the image's.
func resolve(ctx context.Context, c *store.Client, reference, repository string) (name.Digest, v1.Descriptor, name.Repository, error) {
	ref, err := c.ParseReference(reference)
	if err != nil {
		return name.Digest{}, v1.Descriptor{}, name.Repository{}, err
	}
	d, desc, err := c.Resolve(ctx, ref)
	if err != nil {
		return name.Digest{}, v1.Descriptor{}, name.Repository{}, err
	}
	sigRepo := d.Context()
	if repository != "" {
		if sigRepo, err = c.ParseRepository(repository); err != nil {
			return name.Digest{}, v1.Descriptor{}, name.Repository{}, err
		}
	}
	return d, desc, sigRepo, nil
}

// fetch resolves a reference once and reads what get finds for its digest
// in the signature repository.
func fetch(ctx context.Context, c *store.Client, reference, repository string,
	get func(context.Context, name.Repository, v1.Hash) ([]oci.Signature, error),
) (name.Digest, v1.Hash, name.Repository, []oci.Signature, error) {
	d, _, sigRepo, err := resolve(ctx, c, reference, repository)
	if err != nil {
		return name.Digest{}, v1.Hash{}, name.Repository{}, nil, err
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return name.Digest{}, v1.Hash{}, name.Repository{}, nil, err
	}
	found, err := get(ctx, sigRepo, h)
	if err != nil {
		return name.Digest{}, v1.Hash{}, name.Repository{}, nil, err
	}
	return d, h, sigRepo, found, nil
}
