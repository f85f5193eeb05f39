package lite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"hallmark.dev/keys"
)

// NewECDSAKey returns a new ECDSA P-256 key.
func NewECDSAKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewPEMKey returns a new ECDSA P-256 signer and its public key as PEM,
// as a key file, a --key flag or a policy's principal names it.
func NewPEMKey(t testing.TB) (crypto.Signer, string) {
	t.Helper()
	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.MarshalPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return s, string(pub)
}
