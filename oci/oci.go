// Package oci names where signatures live in an OCI registry and builds and
// reads the manifests that carry them. It does no I/O.
//
// Two layouts are used:
//
//   - The Sigstore bundle layout (cosign v3's default, what hallmark writes):
//     each signature is an OCI 1.1 artifact manifest whose subject is the
//     signed manifest, whose artifactType is [BundleMediaType], whose config
//     is the empty descriptor and whose single layer is the bundle JSON. It is
//     found through the referrers API (OCI distribution spec v1.1,
//     "Listing Referrers") or, on registries without it, through the
//     referrers tag schema: an index tagged "sha256-<hex>".
//     https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#referrers-tag-schema
//   - cosign's legacy layout (read only): a manifest tagged
//     "sha256-<hex>.sig" whose layers are simple-signing payloads with the
//     signature, certificate and log bundle in layer annotations.
//     https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md
package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotation keys of the two layouts.
const (
	BundleMediaType      = "application/vnd.dev.sigstore.bundle.v0.3+json"
	EmptyConfigMediaType = "application/vnd.oci.empty.v1+json"

	AnnotationBundleContent       = "dev.sigstore.bundle.content"
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
	AnnotationCreated             = "org.opencontainers.image.created"

	SimpleSigningMediaType      = "application/vnd.dev.cosign.simplesigning.v1+json"
	AnnotationLegacySignature   = "dev.cosignproject.cosign/signature"
	AnnotationLegacyCertificate = "dev.sigstore.cosign/certificate"
	AnnotationLegacyChain       = "dev.sigstore.cosign/chain"
	AnnotationLegacyBundle      = "dev.sigstore.cosign/bundle"
	AnnotationLegacyRFC3161     = "dev.sigstore.cosign/rfc3161timestamp"
	LegacySignatureTagSuffix    = ".sig"
	LegacyAttestationTagSuffix  = ".att"
	LegacyAttestationMediaType  = "application/vnd.dsse.envelope.v1+json"
	MaxManifestSize             = 4 << 20
	MaxBundleSize               = 64 << 20
	emptyConfigContent          = "{}"
	emptyConfigDigest           = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
)

// MaxBundleSize (above) bounds a bundle held in memory. MaxStreamedBundleSize
// bounds one read as a stream, whose DSSE payload is never held in memory
// (verify.AttestationPolicy.WithoutPredicate): memory does not bound it,
// the time and bandwidth a verifier gives one attestation do. It admits a
// statement of 1 GiB (attest.MaxStreamedPayloadSize), 1.33 GiB in base64,
// with the rest of its bundle.
const MaxStreamedBundleSize = 3 << 29

// ErrNotBundle is returned for a referrer manifest that holds no bundle.
var ErrNotBundle = errors.New("oci: referrer manifest has 0 bundle layers, want 1")

// EmptyConfig is the content of the OCI empty descriptor.
var EmptyConfig = []byte(emptyConfigContent)

// LegacyTag returns cosign's legacy tag for a digest and suffix
// ("sha256:ab…" and ".sig" give "sha256-ab….sig").
func LegacyTag(digest v1.Hash, suffix string) string {
	return digest.Algorithm + "-" + digest.Hex + suffix
}

// Signature is one signature found for an image, as fetched. Nothing in it
// is trusted: verification decides.
type Signature struct {
	// Source says where it was found, for messages: "referrer sha256:…"
	// or "tag sha256-….sig layer 0".
	Source string
	// Bundle is the Sigstore bundle JSON (bundle layout).
	Bundle []byte
	// Legacy is set for cosign's legacy layout.
	Legacy *Legacy
}

// Legacy is a signature in cosign's legacy layout: a payload and the layer
// annotations that accompany it.
type Legacy struct {
	// DSSE is set for an attestation (".att" tag): Payload is then a DSSE
	// envelope (JSON) that carries its own signature.
	DSSE             bool
	Payload          []byte
	Signature        string // base64, from dev.cosignproject.cosign/signature
	Certificate      []byte // PEM, optional
	Chain            []byte // PEM, optional
	RekorBundle      []byte // JSON, optional
	RFC3161Timestamp []byte // JSON, optional
}

// referrerManifest is an OCI 1.1 image manifest with the top-level
// artifactType that go-containerregistry's v1.Manifest lacks.
type referrerManifest struct {
	SchemaVersion int64             `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Subject       *v1.Descriptor    `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// BundleReferrer returns the manifest that attaches a bundle (whose
// descriptor is layer) to subject, in the layout cosign v3 writes.
func BundleReferrer(subject, layer v1.Descriptor, predicateType string, created time.Time) ([]byte, error) {
	cfgDigest, err := v1.NewHash(emptyConfigDigest)
	if err != nil {
		return nil, err
	}
	layer.MediaType = BundleMediaType
	m := referrerManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  BundleMediaType,
		Config: v1.Descriptor{
			MediaType:    EmptyConfigMediaType,
			Digest:       cfgDigest,
			Size:         int64(len(emptyConfigContent)),
			ArtifactType: BundleMediaType, // as cosign v3 writes it
		},
		Layers: []v1.Descriptor{layer},
		Subject: &v1.Descriptor{
			MediaType: subject.MediaType,
			Digest:    subject.Digest,
			Size:      subject.Size,
		},
		Annotations: map[string]string{
			AnnotationCreated:             created.UTC().Format(time.RFC3339),
			AnnotationBundleContent:       "dsse-envelope",
			AnnotationBundlePredicateType: predicateType,
		},
	}
	return json.Marshal(m)
}

// BundleLayer returns the descriptor of the bundle layer in a referrer
// manifest, checking that the manifest is a bundle referrer of subject
// and that its layer is within MaxStreamedBundleSize (a layer over
// MaxBundleSize is only read as a stream).
func BundleLayer(manifest []byte, subject v1.Hash) (v1.Descriptor, error) {
	var m referrerManifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return v1.Descriptor{}, fmt.Errorf("oci: referrer manifest is not valid JSON: %w", err)
	}
	if m.Subject == nil || m.Subject.Digest != subject {
		return v1.Descriptor{}, fmt.Errorf("oci: referrer manifest does not refer to %s", subject)
	}
	var found []v1.Descriptor
	for _, l := range m.Layers {
		if strings.HasPrefix(string(l.MediaType), "application/vnd.dev.sigstore.bundle") {
			found = append(found, l)
		}
	}
	if len(found) == 0 {
		return v1.Descriptor{}, ErrNotBundle
	}
	if len(found) != 1 {
		return v1.Descriptor{}, fmt.Errorf("oci: referrer manifest has %d bundle layers, want 1", len(found))
	}
	if found[0].Size < 0 || found[0].Size > MaxStreamedBundleSize {
		return v1.Descriptor{}, fmt.Errorf("oci: bundle layer size %d is outside 0..%d (over the limit)", found[0].Size, MaxStreamedBundleSize)
	}
	return found[0], nil
}

// IsBundleArtifact reports whether a referrer descriptor's artifact type is
// a Sigstore bundle (any version).
func IsBundleArtifact(artifactType string) bool {
	return strings.HasPrefix(artifactType, "application/vnd.dev.sigstore.bundle")
}
