package verify

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"hallmark.dev/attest"
)

// BlobPolicy is what a blob signature must satisfy.
type BlobPolicy struct {
	// Keys are the trusted keys; required.
	Keys *Keys
}

// BlobResult is the outcome of verifying a blob's bundle.
type BlobResult struct {
	Signer Signer `json:"signer"`
}

// Artifact is the blob a bundle is checked against: its content, or only
// its digest.
type Artifact struct {
	// Content is read once, to the end.
	Content io.Reader
	// Digest ("sha256:<hex>") is used when Content is nil.
	Digest string
}

// Blob verifies a bundle (JSON) over a blob. source names the bundle in
// errors (its file name).
func Blob(source string, bundleJSON []byte, a Artifact, p BlobPolicy) (*BlobResult, error) {
	fail := func(step Step, err error) (*BlobResult, error) {
		return nil, &SignatureError{Source: source, Step: step, Err: err}
	}
	if p.Keys == nil {
		return nil, ErrNoKeys
	}
	b, err := ParseBundle(bundleJSON)
	if err != nil {
		return fail(StepBundle, err)
	}
	var artifact func() sgverify.ArtifactPolicyOption
	switch {
	case a.Content != nil:
		// sigstore-go reads the artifact once per attempt; keep it in memory.
		content, err := io.ReadAll(a.Content)
		if err != nil {
			return fail(StepSubject, fmt.Errorf("read artifact: %w", err))
		}
		artifact = func() sgverify.ArtifactPolicyOption { return sgverify.WithArtifact(bytes.NewReader(content)) }
	case a.Digest != "":
		alg, hexDigest, err := attest.SplitDigest(a.Digest)
		if err != nil {
			return fail(StepSubject, err)
		}
		d, err := decodeHex(hexDigest)
		if err != nil {
			return fail(StepSubject, err)
		}
		artifact = func() sgverify.ArtifactPolicyOption { return sgverify.WithArtifactDigest(alg, d) }
	default:
		return fail(StepSubject, errors.New("no artifact or digest given"))
	}
	signer, err := p.Keys.verifySignature(b, artifact)
	if err != nil {
		return fail(StepSignature, err)
	}
	return &BlobResult{Signer: signer}, nil
}

func decodeHex(s string) ([]byte, error) {
	d, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("digest %q is not hex", s)
	}
	return d, nil
}
