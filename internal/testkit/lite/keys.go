package lite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
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

// MessageOnlySigner signs whole messages only, as a key in a token that
// only has mechanisms that hash (CKM_ECDSA_SHA256) does: its Sign refuses
// digests, its SignMessage hashes the message and signs with Key.
type MessageOnlySigner struct{ Key crypto.Signer }

// Public returns Key's public key.
func (s MessageOnlySigner) Public() crypto.PublicKey { return s.Key.Public() }

// Sign refuses: the signer signs whole messages only.
func (s MessageOnlySigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("this key signs whole messages only")
}

// SignMessage signs msg, hashed with opts' hash.
func (s MessageOnlySigner) SignMessage(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc().New()
	h.Write(msg)
	return s.Key.Sign(r, h.Sum(nil), opts)
}
