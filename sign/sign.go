// Package sign produces Sigstore bundles
// (https://github.com/sigstore/protobuf-specs, media type
// application/vnd.dev.sigstore.bundle.v0.3+json) for container images,
// blobs and attestations.
//
// An image signature is a DSSE envelope around an in-toto statement about the
// image manifest digest (see [hallmark.dev/attest]); an attestation is a
// DSSE envelope around any other in-toto statement; a blob signature is a
// message signature over the blob's digest (SHA-256, or the hash the key's
// algorithm signs with, [AlgorithmFor]). These are the forms cosign v3
// writes, so cosign verifies them and hallmark verifies cosign's.
//
// The package never talks to a registry: it turns a digest (and annotations)
// into bundle bytes. Storing them is [hallmark.dev/oci/store]'s concern.
package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/attest"
)

// Options are the services a signature may involve beyond the key. The zero
// value signs with the key alone: no certificate, no log entry, no
// timestamp.
type Options struct {
	// BundleOptions is passed to sigstore-go's bundle builder: certificate
	// provider, transparency logs and timestamp authorities.
	BundleOptions sgsign.BundleOptions
}

// Image signs an image manifest digest ("sha256:<hex>") with annotations and
// returns the bundle JSON. The statement it signs is returned too.
func Image(ctx context.Context, k sgsign.Keypair, digest string, annotations map[string]string, opts Options) (bundle, statement []byte, err error) {
	statement, err = attest.ImageSignatureStatement(digest, annotations)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: %w", err)
	}
	bundle, err = build(ctx, &sgsign.DSSEData{Data: statement, PayloadType: attest.PayloadType}, k, opts)
	if err != nil {
		return nil, nil, err
	}
	return bundle, statement, nil
}

// Statement signs an in-toto statement (an attestation) as a DSSE envelope
// and returns the bundle JSON. It refuses a statement of the image
// signature's predicate type (attest.ErrImageSignatureType): only [Image]
// signs those, about a digest and with the annotations asked for.
func Statement(ctx context.Context, k sgsign.Keypair, statement []byte, opts Options) ([]byte, error) {
	st, err := attest.CheckStatement(statement)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := attest.CheckAttestationType(st.PredicateType); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return build(ctx, &sgsign.DSSEData{Data: statement, PayloadType: attest.PayloadType}, k, opts)
}

// ErrImagePayloadBlob is returned by [Blob] for a blob whose signature
// would also verify as an image signature: a blob signature is a signature
// over the blob's bytes, so signing a DSSE pre-authentication encoding or a
// cosign simple-signing payload as a blob would sign an image.
var ErrImagePayloadBlob = errors.New("sign: refusing to sign this blob: its signature would also be a valid image signature (it is a DSSE pre-authentication encoding or a cosign image signature payload); sign images with hallmark sign")

// Blob signs data as a message signature and returns the bundle JSON. It
// refuses data whose signature would double as an image signature
// ([ErrImagePayloadBlob]).
func Blob(ctx context.Context, k sgsign.Keypair, data []byte, opts Options) ([]byte, error) {
	if looksLikeImagePayload(data) {
		return nil, ErrImagePayloadBlob
	}
	return build(ctx, &sgsign.PlainData{Data: data}, k, opts)
}

// looksLikeImagePayload reports whether data is a DSSE pre-authentication
// encoding or parses, as leniently as any verifier might parse it, as a
// cosign simple-signing payload.
func looksLikeImagePayload(data []byte) bool {
	if bytes.HasPrefix(data, []byte("DSSEv1 ")) {
		return true
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return false
	}
	var p attest.SimpleSigning // encoding/json: field names match in any case
	if err := json.Unmarshal(trimmed, &p); err != nil {
		return false
	}
	return p.Critical.Image.DockerManifestDigest != "" ||
		strings.EqualFold(strings.TrimSpace(p.Critical.Type), attest.SimpleSigningType)
}

func build(ctx context.Context, content sgsign.Content, k sgsign.Keypair, opts Options) ([]byte, error) {
	if k == nil {
		return nil, errors.New("sign: no signing key")
	}
	bo := opts.BundleOptions
	bo.Context = ctx
	pb, err := sgsign.Bundle(content, k, bo)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	out, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("sign: marshal bundle: %w", err)
	}
	return out, nil
}
