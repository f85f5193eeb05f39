package verify

import (
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"hallmark.dev/attest"
)

// BlobPolicy is what a blob signature must satisfy.
type BlobPolicy struct {
	// Authority says who may sign; required.
	Authority Authority
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
	if p.Authority == nil {
		return nil, ErrNoAuthority
	}
	b, entity, err := parseBundleFor(p.Authority, bundleJSON)
	if err != nil {
		return fail(StepBundle, err)
	}
	var art artifact
	switch {
	case a.Content != nil:
		art, err = streamedArtifact(b, a.Content)
		if err != nil {
			return fail(StepSubject, err)
		}
	case a.Digest != "":
		alg, hexDigest, err := attest.SplitDigest(a.Digest)
		if err != nil {
			return fail(StepSubject, err)
		}
		d, err := decodeHex(hexDigest)
		if err != nil {
			return fail(StepSubject, err)
		}
		art = digestArtifact(alg, d)
	default:
		return fail(StepSubject, errors.New("no artifact or digest given"))
	}
	signer, step, err := p.Authority.check(signed{entity: entity, artifact: art})
	if err != nil {
		return fail(step, err)
	}
	return &BlobResult{Signer: signer}, nil
}

// bundleParser is an authority that parses the bundles it checks itself:
// Keyless remembers them (keylessCache.parseBundle).
type bundleParser interface {
	parseBundle(data []byte) (*bundle.Bundle, sgverify.SignedEntity, error)
}

// parseBundleFor parses a bundle for the authority a: the bundle, and the
// entity to hand its check.
func parseBundleFor(a Authority, data []byte) (*bundle.Bundle, sgverify.SignedEntity, error) {
	if p, ok := a.(bundleParser); ok {
		return p.parseBundle(data)
	}
	b, err := ParseBundle(data)
	if err != nil {
		return nil, nil, err
	}
	return b, b, nil
}

func decodeHex(s string) ([]byte, error) {
	d, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("digest %q is not hex", s)
	}
	return d, nil
}

// streamedArtifact hashes the artifact once, in constant memory, with the
// algorithm the bundle's signature needs, and returns the digest as the
// artifact to check: the signature is then verified against what was read,
// whatever digest the bundle claims. A DSSE envelope's statement is
// matched by the digests its subjects use (see attest.MatchReader). Only a
// message signature without a digest (pure Ed25519, which signs the
// message itself) needs the whole content, and then it is read into
// memory.
func streamedArtifact(b *bundle.Bundle, content io.Reader) (artifact, error) {
	if env := b.GetDsseEnvelope(); env != nil {
		digest, _, err := attest.MatchReader(content, envelopeSubjects(env.GetPayloadType(), env.GetPayload()))
		if err != nil {
			return artifact{}, fmt.Errorf("read artifact: %w", err)
		}
		alg, hexDigest, _ := strings.Cut(digest, ":")
		d, err := decodeHex(hexDigest)
		if err != nil {
			return artifact{}, err
		}
		return digestArtifact(alg, d), nil
	}
	hashName, hashFunc := "sha256", crypto.SHA256
	if ms := b.GetMessageSignature(); ms != nil {
		switch ms.GetMessageDigest().GetAlgorithm() {
		case protocommon.HashAlgorithm_SHA2_256:
		case protocommon.HashAlgorithm_SHA2_384:
			hashName, hashFunc = "sha384", crypto.SHA384
		case protocommon.HashAlgorithm_SHA2_512:
			hashName, hashFunc = "sha512", crypto.SHA512
		default:
			data, err := io.ReadAll(content)
			if err != nil {
				return artifact{}, fmt.Errorf("read artifact: %w", err)
			}
			return contentArtifact(data), nil
		}
	}
	h := hashFunc.New()
	if _, err := io.Copy(h, content); err != nil {
		return artifact{}, fmt.Errorf("read artifact: %w", err)
	}
	return digestArtifact(hashName, h.Sum(nil)), nil
}

// envelopeSubjects reads the subjects' digests of the in-toto statement
// an envelope carries, before its signature is checked: they only say
// which digests of the artifact to compute; nil when there are none to
// read.
func envelopeSubjects(payloadType string, payload []byte) []attest.Subject {
	if payloadType != attest.PayloadType {
		return nil
	}
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if json.Unmarshal(payload, &st) != nil {
		return nil
	}
	subjects := make([]attest.Subject, len(st.Subject))
	for i, s := range st.Subject {
		subjects[i].Digest = s.Digest
	}
	return subjects
}
