package tsa_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/internal/tsa"
)

// opaqueSigner hides its key behind crypto.Signer, as an HSM or KMS
// client does, and counts its signatures.
type opaqueSigner struct {
	key   crypto.Signer
	signs atomic.Int64
}

func (s *opaqueSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s *opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.signs.Add(1)
	return s.key.Sign(r, digest, opts)
}

// chainOptions shape the leaf certificate testChain issues.
type chainOptions struct {
	leafKey       crypto.Signer
	ekuCritical   bool
	extraEKU      bool
	leafIsCA      bool
	skipTimestamp bool
}

// testChain returns a leaf and root certificate for a TSA, shaped by o.
func testChain(t *testing.T, o chainOptions) []*x509.Certificate {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test root"},
		NotBefore:             testTime.Add(-time.Hour),
		NotAfter:              testTime.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootCert, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	purposes := []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}}
	if o.skipTimestamp {
		purposes = []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}}
	}
	if o.extraEKU {
		purposes = append(purposes, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3})
	}
	eku, err := asn1.Marshal(purposes)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "test tsa"},
		NotBefore:             testTime.Add(-time.Hour),
		NotAfter:              testTime.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: o.leafIsCA,
		IsCA:                  o.leafIsCA,
		ExtraExtensions:       []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: o.ekuCritical, Value: eku}},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, rootCert, o.leafKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{leaf, rootCert}
}

// TestSigner runs the TSA on a signer it cannot see into, with a P-384 key
// (so ECDSA with SHA-384), and checks sigstore-go verifies its tokens.
func TestSigner(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := &opaqueSigner{key: key}
	timestampVerifies(t, signer, testChain(t, chainOptions{leafKey: key, ekuCritical: true}))
	if n := signer.signs.Load(); n != 1 {
		t.Errorf("signatures by the signer: got %d, want 1", n)
	}
}

// timestampVerifies runs the TSA on signer with chain and checks that
// sigstore-go verifies the token it issues.
func timestampVerifies(t *testing.T, signer crypto.Signer, chain []*x509.Certificate) {
	t.Helper()
	a, err := tsa.NewWithSigner(signer, chain, fixedClock(testTime))
	if err != nil {
		t.Fatalf("NewWithSigner: %v", err)
	}
	sig := []byte("signature bytes")
	resp, err := a.Timestamp(createRequest(t, sig, &timestamp.RequestOptions{Certificates: true}))
	if err != nil {
		t.Fatalf("Timestamp: %v", err)
	}
	authority := &root.SigstoreTimestampingAuthority{Leaf: chain[0], Root: chain[1]}
	if _, err := authority.Verify(resp, sig); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestSignerErrors(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
		chain  chainOptions
		now    time.Time
		want   string
	}{
		{"ed25519 key", ed, chainOptions{leafKey: ed, ekuCritical: true}, testTime, "unsupported signing key type"},
		{"p-224 key", p224, chainOptions{leafKey: p224, ekuCritical: true}, testTime, "unsupported ECDSA curve"},
		{"key of another leaf", p256, chainOptions{leafKey: p224, ekuCritical: true}, testTime, "does not match"},
		{"EKU not critical", p256, chainOptions{leafKey: p256}, testTime, "critical"},
		{"two EKUs", p256, chainOptions{leafKey: p256, ekuCritical: true, extraEKU: true}, testTime, "single extended key usage"},
		{"no timestamping EKU", p256, chainOptions{leafKey: p256, ekuCritical: true, skipTimestamp: true}, testTime, "single extended key usage"},
		{"leaf is a CA", p256, chainOptions{leafKey: p256, ekuCritical: true, leafIsCA: true}, testTime, "is a CA"},
		{"leaf expired", p256, chainOptions{leafKey: p256, ekuCritical: true}, testTime.Add(2 * time.Hour), "leaf certificate is valid from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tsa.NewWithSigner(tc.signer, testChain(t, tc.chain), fixedClock(tc.now))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewWithSigner: got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestMessageSigner: the TSA gives a crypto.MessageSigner the signed
// attributes themselves, not their digest.
func TestMessageSigner(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	timestampVerifies(t, lite.MessageOnlySigner{Key: key}, testChain(t, chainOptions{leafKey: key, ekuCritical: true}))
}

// TestConfigSigner: a key held elsewhere (a token) is certified by the
// root New creates on first start, and required on every later start; it
// is never written to the directory.
func TestConfigSigner(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer := &opaqueSigner{key: key}
	a, err := tsa.New(tsa.Config{Dir: dir, Now: fixedClock(testTime), Signer: signer})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	chain := a.CertChain()
	if !key.PublicKey.Equal(chain[0].PublicKey) {
		t.Fatal("the leaf does not certify the signer's key")
	}
	if _, err := os.Stat(filepath.Join(dir, "leaf-key.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leaf-key.pem: got %v, want no such file (the key is held elsewhere)", err)
	}
	sig := []byte("signature bytes")
	resp, err := a.Timestamp(createRequest(t, sig, &timestamp.RequestOptions{}))
	if err != nil {
		t.Fatalf("Timestamp: %v", err)
	}
	authority := &root.SigstoreTimestampingAuthority{Leaf: chain[0], Root: chain[1]}
	if _, err := authority.Verify(resp, sig); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if _, err := tsa.New(tsa.Config{Dir: dir, Now: fixedClock(testTime), Signer: signer}); err != nil {
		t.Errorf("second start with the same key: %v", err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
		want   string
	}{
		{"another key", other, "tsa: the signing key given is not the one " + filepath.Join(dir, "chain.pem") + " certifies"},
		{"no key", nil, "tsa: reading the signing key: open " + filepath.Join(dir, "leaf-key.pem")},
		{"an Ed25519 key", ed25519.NewKeyFromSeed(make([]byte, 32)), "tsa: unsupported signing key type ed25519.PublicKey; want ECDSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dir
			if tc.name == "an Ed25519 key" {
				d = t.TempDir()
			}
			_, err := tsa.New(tsa.Config{Dir: d, Now: fixedClock(testTime), Signer: tc.signer})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
