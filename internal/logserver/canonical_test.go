package logserver

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestCanonicalEntryDirect: the entry body written directly
// (appendCanonical) is byte for byte protojson's encoding of the entry put
// through the JCS canonicaliser, for every kind of key the log accepts,
// given as a public key and as a certificate.
func TestCanonicalEntryDirect(t *testing.T) {
	algs, err := newAlgorithmRegistry()
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("canonical entry")
	for _, c := range []struct {
		name    string
		key     crypto.Signer
		hash    crypto.Hash
		details protocommon.PublicKeyDetails
	}{
		{"P-256", p256, crypto.SHA256, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256},
		{"P-384", p384, crypto.SHA384, protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384},
		{"P-521", p521, crypto.SHA512, protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512},
		{"RSA", rsaKey, crypto.SHA256, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256},
		{"Ed25519ph", edKey, crypto.SHA512, protocommon.PublicKeyDetails_PKIX_ED25519_PH},
	} {
		for _, asCert := range []bool{false, true} {
			name := c.name + "/key"
			if asCert {
				name = c.name + "/certificate"
			}
			t.Run(name, func(t *testing.T) {
				var digest []byte
				switch c.hash {
				case crypto.SHA256:
					d := sha256.Sum256(msg)
					digest = d[:]
				case crypto.SHA384:
					d := sha512.Sum384(msg)
					digest = d[:]
				default:
					d := sha512.Sum512(msg)
					digest = d[:]
				}
				var opts crypto.SignerOpts = c.hash
				if _, ok := c.key.(ed25519.PrivateKey); ok {
					opts = &ed25519.Options{Hash: crypto.SHA512}
				}
				sig, err := c.key.Sign(rand.Reader, digest, opts)
				if err != nil {
					t.Fatal(err)
				}
				v := &rekorpb.Verifier{KeyDetails: c.details}
				if asCert {
					v.Verifier = &rekorpb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: selfSigned(t, c.key)}}
				} else {
					der, err := x509.MarshalPKIXPublicKey(c.key.Public())
					if err != nil {
						t.Fatal(err)
					}
					v.Verifier = &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}}
				}
				hr := &rekorpb.HashedRekordRequestV002{Digest: digest, Signature: &rekorpb.Signature{Content: sig, Verifier: v}}
				entry, err := hashedrekord.ToLogEntry(hr, algs)
				if err != nil {
					t.Fatalf("ToLogEntry: %v", err)
				}
				got, ok := appendCanonical(nil, entry)
				if !ok {
					t.Fatal("appendCanonical left a valid entry to the general path")
				}
				j, err := protojson.Marshal(entry)
				if err != nil {
					t.Fatal(err)
				}
				want, err := jsoncanonicalizer.Transform(j)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("got\n%s\nwant\n%s", got, want)
				}
				body, err := canonicalEntry(hr, algs)
				if err != nil || !bytes.Equal(body, want) {
					t.Errorf("canonicalEntry: %s, %v; want %s", body, err, want)
				}
			})
		}
	}
}

func selfSigned(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "entry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
