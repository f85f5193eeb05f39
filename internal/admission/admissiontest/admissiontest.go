// Package admissiontest helps the admission webhook's tests: it signs and
// attests images with hallmark, and reads policies written as YAML.
package admissiontest

import (
	"context"
	"crypto"
	"testing"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"sigs.k8s.io/yaml"

	"hallmark.dev/internal/admission/cip"
	"hallmark.dev/internal/ops"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
)

// Signer signs images with a key of its own.
type Signer struct {
	Key crypto.Signer
	// PublicKeyPEM is the key as a ClusterImagePolicy's key.data holds it.
	PublicKeyPEM string
	kp           sgsign.Keypair
}

// NewSigner generates a P-256 key.
func NewSigner(t testing.TB) *Signer {
	t.Helper()
	k, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.MarshalPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.NewKeySigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{Key: k, PublicKeyPEM: string(pub), kp: kp}
}

// Sign signs the image (repository@sha256:… or a tag) as cosign would,
// storing the signature as a referrer.
func (s *Signer) Sign(t testing.TB, image string) {
	t.Helper()
	if _, err := ops.SignImage(context.Background(), store.New(store.Options{}), ops.SignImageRequest{Reference: image, Signer: s.kp}); err != nil {
		t.Fatalf("sign %s: %v", image, err)
	}
}

// Attest attaches a signed attestation of the predicate type to the image.
func (s *Signer) Attest(t testing.TB, image, predicateType string, predicate []byte) {
	t.Helper()
	_, err := ops.AttestImage(context.Background(), store.New(store.Options{}), ops.AttestImageRequest{
		Reference: image, PredicateType: predicateType, Predicate: predicate, Signer: s.kp, Now: time.Now,
	})
	if err != nil {
		t.Fatalf("attest %s: %v", image, err)
	}
}

// Policy parses a ClusterImagePolicy written as YAML.
func Policy(t testing.TB, doc string) *cip.ClusterImagePolicy {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cip.ParseClusterImagePolicy(j)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
