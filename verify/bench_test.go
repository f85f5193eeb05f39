package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"hallmark.dev/keys"
	"hallmark.dev/oci"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// The benchmarks below verify what hallmark signs with an ECDSA P-256 key
// (cosign's default) and no log or timestamp, as `hallmark sign-blob` and
// `hallmark sign` do. BenchmarkSigstoreGo* run the same bundles through
// sigstore-go's verifier directly, so the difference is what hallmark adds
// on top of it.

// benchBlob is one signed blob: its content, digest and bundle.
type benchBlob struct {
	name   string
	data   []byte
	digest string // "sha256:<hex>"
	sum    []byte
	bundle []byte
}

// benchKey returns a new signer and its public key.
func benchKey(b *testing.B) (*sign.KeySigner, crypto.PublicKey) {
	b.Helper()
	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		b.Fatal(err)
	}
	k, err := sign.NewKeySigner(s)
	if err != nil {
		b.Fatal(err)
	}
	return k, s.Public()
}

// benchBlobs signs a 1 KiB and a 1 MiB blob of deterministic content.
func benchBlobs(b *testing.B, k *sign.KeySigner) []benchBlob {
	b.Helper()
	rng := rand.New(rand.NewChaCha8([32]byte{'h', 'a', 'l', 'l', 'm', 'a', 'r', 'k'}))
	var out []benchBlob
	for _, c := range []struct {
		name string
		size int
	}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}} {
		data := make([]byte, c.size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		bun, err := sign.Blob(context.Background(), k, data, sign.Options{})
		if err != nil {
			b.Fatal(err)
		}
		sum := sha256.Sum256(data)
		out = append(out, benchBlob{
			name:   c.name,
			data:   data,
			digest: "sha256:" + hex.EncodeToString(sum[:]),
			sum:    sum[:],
			bundle: bun,
		})
	}
	return out
}

// benchImage signs a made-up manifest digest as `hallmark sign` does.
func benchImage(b *testing.B, k *sign.KeySigner) (digest string, sum, bun []byte) {
	b.Helper()
	s := sha256.Sum256([]byte("hallmark bench manifest"))
	digest = "sha256:" + hex.EncodeToString(s[:])
	bun, _, err := sign.Image(context.Background(), k, digest, nil, sign.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return digest, s[:], bun
}

func benchKeys(b *testing.B, pub crypto.PublicKey) *verify.Keys {
	b.Helper()
	ks, err := verify.NewKeys(pub)
	if err != nil {
		b.Fatal(err)
	}
	return ks
}

func BenchmarkBlobBundleVerify(b *testing.B) {
	k, pub := benchKey(b)
	ks := benchKeys(b, pub)
	for _, bl := range benchBlobs(b, k) {
		b.Run(bl.name+"/content", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bl.data)))
			for b.Loop() {
				if _, err := verify.Blob("b", bl.bundle, verify.Artifact{Content: bytes.NewReader(bl.data)}, verify.BlobPolicy{Authority: ks}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bl.name+"/digest", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := verify.Blob("b", bl.bundle, verify.Artifact{Digest: bl.digest}, verify.BlobPolicy{Authority: ks}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkImageVerify(b *testing.B) {
	k, pub := benchKey(b)
	ks := benchKeys(b, pub)
	digest, _, bun := benchImage(b, k)
	sigs := []oci.Signature{{Source: "b", Bundle: bun}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verify.Image(digest, sigs, verify.ImagePolicy{Authority: ks}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSigstoreGoVerifier builds, once, the verifier a sigstore-go user
// would keep for one trusted key.
func benchSigstoreGoVerifier(b *testing.B, pub crypto.PublicKey) *sgverify.Verifier {
	b.Helper()
	sv, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
	if err != nil {
		b.Fatal(err)
	}
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(sv, time.Time{}, time.Time{}), nil
	})
	v, err := sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps())
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// benchSigstoreGoVerify parses the bundle JSON, as verify.Blob does on each
// call, and verifies it.
func benchSigstoreGoVerify(b *testing.B, v *sgverify.Verifier, bundleJSON []byte, artifact sgverify.ArtifactPolicyOption) {
	var bun bundle.Bundle
	if err := bun.UnmarshalJSON(bundleJSON); err != nil {
		b.Fatal(err)
	}
	if _, err := v.Verify(&bun, sgverify.NewPolicy(artifact, sgverify.WithKey())); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkSigstoreGoBlobVerify(b *testing.B) {
	k, pub := benchKey(b)
	v := benchSigstoreGoVerifier(b, pub)
	for _, bl := range benchBlobs(b, k) {
		b.Run(bl.name+"/content", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bl.data)))
			for b.Loop() {
				benchSigstoreGoVerify(b, v, bl.bundle, sgverify.WithArtifact(bytes.NewReader(bl.data)))
			}
		})
		b.Run(bl.name+"/digest", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchSigstoreGoVerify(b, v, bl.bundle, sgverify.WithArtifactDigest("sha256", bl.sum))
			}
		})
	}
}

// BenchmarkSigstoreGoImageVerify checks only the DSSE signature over the
// manifest digest; verify.Image also parses the in-toto statement and
// checks its subject, type and annotations.
func BenchmarkSigstoreGoImageVerify(b *testing.B) {
	k, pub := benchKey(b)
	v := benchSigstoreGoVerifier(b, pub)
	_, sum, bun := benchImage(b, k)
	b.ReportAllocs()
	for b.Loop() {
		benchSigstoreGoVerify(b, v, bun, sgverify.WithArtifactDigest("sha256", sum))
	}
}
