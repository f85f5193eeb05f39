package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// KeySigner signs with a long-lived key held by a [crypto.Signer]: a key
// file, or a key in a hardware module. It implements sigstore-go's
// sign.Keypair, choosing the algorithm cosign chooses for the key type:
// ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, RSA PKCS#1 v1.5 with
// SHA-256, and Ed25519ph (pre-hashed with SHA-512).
type KeySigner struct {
	signer crypto.Signer
	alg    signature.AlgorithmDetails
	hint   []byte
	keyAlg string
}

var _ sgsign.Keypair = (*KeySigner)(nil)

// AlgorithmFor returns the signature algorithm hallmark (like cosign) uses
// for a public key.
func AlgorithmFor(pub crypto.PublicKey) (signature.AlgorithmDetails, error) {
	alg, err := signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
	if err != nil {
		return signature.AlgorithmDetails{}, fmt.Errorf("sign: unsupported key: %w", err)
	}
	return alg, nil
}

// NewKeySigner wraps a signer.
func NewKeySigner(s crypto.Signer) (*KeySigner, error) {
	pub := s.Public()
	alg, err := AlgorithmFor(pub)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sign: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	var keyAlg string
	switch pub.(type) {
	case *ecdsa.PublicKey:
		keyAlg = "ECDSA"
	case *rsa.PublicKey:
		keyAlg = "RSA"
	case ed25519.PublicKey:
		keyAlg = "ED25519"
	}
	return &KeySigner{
		signer: s,
		alg:    alg,
		hint:   []byte(base64.StdEncoding.EncodeToString(sum[:])),
		keyAlg: keyAlg,
	}, nil
}

// GetHashAlgorithm returns the hash of the digest that is signed.
func (k *KeySigner) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }

// GetSigningAlgorithm returns the signature algorithm.
func (k *KeySigner) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}

// GetHint returns the key hint written in bundles: the base64 SHA-256 of
// the PKIX public key, as cosign writes it.
func (k *KeySigner) GetHint() []byte { return k.hint }

// GetKeyAlgorithm returns the key family: ECDSA, RSA or ED25519.
func (k *KeySigner) GetKeyAlgorithm() string { return k.keyAlg }

// GetPublicKey returns the public key.
func (k *KeySigner) GetPublicKey() crypto.PublicKey { return k.signer.Public() }

// GetPublicKeyPem returns the public key as PEM.
func (k *KeySigner) GetPublicKeyPem() (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// SignData signs data and returns the signature and the digest that was
// signed (nil for pure Ed25519, which signs the data itself). A failure is
// the key's error as it is.
func (k *KeySigner) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	h := k.alg.GetHashType()
	if h == crypto.Hash(0) {
		sig, err := k.signer.Sign(rand.Reader, data, crypto.Hash(0))
		if err != nil {
			return nil, nil, err // the bundle's builder says "sign: "
		}
		return sig, nil, nil
	}
	hasher := h.New()
	hasher.Write(data)
	digest := hasher.Sum(nil)
	var opts crypto.SignerOpts = h
	if _, ok := k.signer.Public().(ed25519.PublicKey); ok {
		opts = &ed25519.Options{Hash: h}
	}
	// A key that hashes itself (crypto.MessageSigner: a token with only
	// CKM_ECDSA_SHA256) gets the data; others the digest.
	var sig []byte
	var err error
	if ms, ok := k.signer.(crypto.MessageSigner); ok {
		sig, err = ms.SignMessage(rand.Reader, data, opts)
	} else {
		sig, err = k.signer.Sign(rand.Reader, digest, opts)
	}
	if err != nil {
		return nil, nil, err // the bundle's builder says "sign: "
	}
	return sig, digest, nil
}
