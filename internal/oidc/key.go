package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"

	"hallmark.dev/internal/keyfile"
)

// keyFile is the signing key's name in IssuerConfig.Dir.
const keyFile = "oidc-signing-key.pem"

// keyBits is the size of the RSA signing key.
const keyBits = 2048

// loadOrCreateKey reads the RSA signing key from dir, creating it (and dir,
// mode 0700) on first use, refusing a key file that others may read.
func loadOrCreateKey(dir string) (*rsa.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("oidc: key directory: %w", err)
	}
	path := filepath.Join(dir, keyFile)
	generate := func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, keyBits) }
	k, err := keyfile.LoadOrCreate(path, generate)
	if err != nil {
		return nil, fmt.Errorf("oidc: signing key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok || rk.N.BitLen() < keyBits {
		return nil, fmt.Errorf("oidc: %s: not an RSA key of at least %d bits", path, keyBits)
	}
	return rk, nil
}
