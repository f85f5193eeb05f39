//go:build !cgo

package pkcs11key

import (
	"fmt"

	"hallmark.dev/keys"
)

// Open opens the private key a PKCS#11 URI names. This build has no
// PKCS#11 support: it returns ErrNotBuiltIn.
func Open(ref string, opts Options) (*Signer, error) {
	if _, err := ParseURI(ref); err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	return nil, fmt.Errorf("pkcs11: %w", ErrNotBuiltIn)
}

// OpenURI is Open for a parsed URI.
func OpenURI(u *URI, opts Options) (*Signer, error) {
	return nil, fmt.Errorf("pkcs11: %w", ErrNotBuiltIn)
}

// ListTokens lists the tokens of a module; see Open.
func ListTokens(modulePath string) ([]TokenInfo, error) {
	return nil, fmt.Errorf("pkcs11: %w", ErrNotBuiltIn)
}

// ListKeys lists the private keys of a token; see Open.
func ListKeys(u *URI, opts Options) ([]KeyInfo, error) {
	return nil, fmt.Errorf("pkcs11: %w", ErrNotBuiltIn)
}

// Generate creates a key pair in a token; see Open.
func Generate(u *URI, opts Options, alg keys.Algorithm) (*Signer, error) {
	return nil, fmt.Errorf("pkcs11: %w", ErrNotBuiltIn)
}
