// Package keys reads and writes cosign's key files.
//
// A private key file (cosign.key) is one PEM block (RFC 7468) of type
// "ENCRYPTED SIGSTORE PRIVATE KEY"; files written by older cosign releases
// use "ENCRYPTED COSIGN PRIVATE KEY". Both are read; only the first is
// written. The block's body is the JSON envelope of
// github.com/secure-systems-lab/go-securesystemslib/encrypted:
//
//	{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<base64>"},
//	 "cipher":{"name":"nacl/secretbox","nonce":"<base64>"},
//	 "ciphertext":"<base64>"}
//
// The password, stretched with scrypt (RFC 7914) over the salt, is the key
// with which NaCl secretbox seals the PKCS #8 DER (RFC 5208) of the private
// key. Keys are written with the scrypt cost cosign v3 uses (N=2^16, r=8,
// p=1, the library's "standard" level); the library's "legacy" (N=2^15) and
// "owasp" (N=2^17) levels are read too. The empty password is allowed, as
// in cosign. The format is described in the "Signature Specification"
// section of cosign's README
// (https://github.com/sigstore/cosign/blob/main/README.md#signature-specification)
// and implemented by its pkg/cosign/keys.go.
//
// A public key file (cosign.pub) is one PEM block of type "PUBLIC KEY"
// holding a PKIX SubjectPublicKeyInfo (RFC 5280, section 4.1.2.7).
//
// The supported keys are those of Sigstore's algorithm registry
// (https://github.com/sigstore/architecture-docs/blob/main/algorithm-registry.md)
// that cosign accepts for key files: ECDSA on P-256, P-384 and P-521,
// Ed25519, and RSA of 2048 to 4096 bits. Every parser rejects other keys
// with [ErrUnsupportedKey], and rejects input that holds anything but
// whitespace after its PEM block.
package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// Algorithm names a key type hallmark can generate.
type Algorithm string

// The algorithms [Generate] accepts.
const (
	ECDSAP256 Algorithm = "ecdsa-p256" // ECDSA on NIST P-256, cosign's default
	ECDSAP384 Algorithm = "ecdsa-p384" // ECDSA on NIST P-384
	ECDSAP521 Algorithm = "ecdsa-p521" // ECDSA on NIST P-521
	Ed25519   Algorithm = "ed25519"    // Ed25519 (RFC 8032)
	RSA3072   Algorithm = "rsa-3072"   // RSA with a 3072-bit modulus
	RSA4096   Algorithm = "rsa-4096"   // RSA with a 4096-bit modulus
)

// Errors callers branch on.
var (
	// ErrWrongPassword means an encrypted private key did not decrypt: the
	// password is wrong or the ciphertext was altered. The two cannot be
	// told apart.
	ErrWrongPassword = errors.New("keys: wrong password or corrupted key")

	// ErrUnsupportedKey means a key's type, curve or size is not one
	// hallmark supports (for example RSA under 2048 bits, P-224 or DSA), or
	// an [Algorithm] is unknown.
	ErrUnsupportedKey = errors.New("keys: unsupported key")
)

// PEM block types.
const (
	sigstoreKeyType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignKeyType   = "ENCRYPTED COSIGN PRIVATE KEY" // written by older cosign
	publicKeyType   = "PUBLIC KEY"
	pkcs1PublicType = "RSA PUBLIC KEY"
	certificateType = "CERTIFICATE"
	pkcs8Type       = "PRIVATE KEY"
	sec1Type        = "EC PRIVATE KEY"
	pkcs1Type       = "RSA PRIVATE KEY"
	encPKCS8Type    = "ENCRYPTED PRIVATE KEY"
)

// kdfStrength is the scrypt cost of the keys EncryptPrivateKey writes:
// cosign v3 calls encrypted.Encrypt, whose default is the standard level
// (N=2^16, r=8, p=1). Tests lower it in export_test.go.
var kdfStrength = encrypted.Standard

// Generate returns a new private key of the given algorithm: an
// *ecdsa.PrivateKey, an *rsa.PrivateKey or an ed25519.PrivateKey. The empty
// Algorithm means [ECDSAP256].
func Generate(alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case "", ECDSAP256:
		return generateECDSA(elliptic.P256())
	case ECDSAP384:
		return generateECDSA(elliptic.P384())
	case ECDSAP521:
		return generateECDSA(elliptic.P521())
	case Ed25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generating Ed25519 key: %v", err)
		}
		return key, nil
	case RSA3072:
		return generateRSA(3072)
	case RSA4096:
		return generateRSA(4096)
	}
	return nil, fmt.Errorf("%w: unknown algorithm %q (want %s, %s, %s, %s, %s or %s)",
		ErrUnsupportedKey, alg, ECDSAP256, ECDSAP384, ECDSAP521, Ed25519, RSA3072, RSA4096)
}

func generateECDSA(curve elliptic.Curve) (crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keys: generating ECDSA %s key: %v", curve.Params().Name, err)
	}
	return key, nil
}

func generateRSA(bits int) (crypto.Signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("keys: generating RSA %d key: %v", bits, err)
	}
	return key, nil
}

// EncryptPrivateKey encrypts key under password and returns a cosign.key
// file: a PEM block of type "ENCRYPTED SIGSTORE PRIVATE KEY". The password
// may be empty. key must be a supported *ecdsa.PrivateKey, *rsa.PrivateKey
// or ed25519.PrivateKey; other signers (hardware or KMS keys) cannot be
// exported and give [ErrUnsupportedKey].
func EncryptPrivateKey(key crypto.Signer, password []byte) ([]byte, error) {
	if _, err := publicOf(key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding private key as PKCS #8: %v", err)
	}
	defer clear(der)
	body, err := encrypted.EncryptWithCustomKDFParameters(der, password, kdfStrength)
	if err != nil {
		return nil, fmt.Errorf("keys: encrypting private key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: sigstoreKeyType, Bytes: body}), nil
}

// DecryptPrivateKey decrypts a cosign.key file (PEM type "ENCRYPTED SIGSTORE
// PRIVATE KEY" or the older "ENCRYPTED COSIGN PRIVATE KEY") with password.
// A wrong password or altered ciphertext gives [ErrWrongPassword]; a key
// hallmark does not support gives [ErrUnsupportedKey].
func DecryptPrivateKey(pemBytes, password []byte) (crypto.Signer, error) {
	block, err := decodePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case sigstoreKeyType, cosignKeyType:
	case pkcs8Type, sec1Type, pkcs1Type:
		return nil, fmt.Errorf("keys: PEM type %q is an unencrypted private key (want %s; import it instead)", block.Type, sigstoreKeyType)
	default:
		return nil, fmt.Errorf("keys: PEM type %q is not a private key (want %s)", block.Type, sigstoreKeyType)
	}
	// encrypted.Decrypt reports every failure the same way, and runs scrypt
	// before it can notice a bad nonce or a short ciphertext; checking the
	// envelope first gives precise errors, spares the scrypt cost on
	// malformed input, and leaves only authentication failure afterwards.
	if err := checkEnvelope(block.Bytes); err != nil {
		return nil, err
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, ErrWrongPassword
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: decrypted key is not valid PKCS #8: %v", err)
	}
	return signer(key)
}

// secretboxOverhead is the size of a NaCl secretbox authenticator
// (golang.org/x/crypto/nacl/secretbox.Overhead).
const secretboxOverhead = 16

// envelope is the JSON that go-securesystemslib/encrypted writes.
type envelope struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// checkEnvelope checks what encrypted.Decrypt checks, and the sizes it
// checks only after running scrypt.
func checkEnvelope(body []byte) error {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("keys: malformed encrypted key: %v", err)
	}
	if env.KDF.Name != "scrypt" {
		return fmt.Errorf("keys: unsupported key derivation function %q (want scrypt)", env.KDF.Name)
	}
	// The three levels encrypted.Decrypt accepts: legacy, standard, owasp.
	if p := env.KDF.Params; p.R != 8 || p.P != 1 || (p.N != 1<<15 && p.N != 1<<16 && p.N != 1<<17) {
		return fmt.Errorf("keys: unsupported scrypt parameters N=%d r=%d p=%d (want N=32768, 65536 or 131072, r=8, p=1)", p.N, p.R, p.P)
	}
	if env.Cipher.Name != "nacl/secretbox" {
		return fmt.Errorf("keys: unsupported cipher %q (want nacl/secretbox)", env.Cipher.Name)
	}
	if n := len(env.Cipher.Nonce); n != 24 {
		return fmt.Errorf("keys: secretbox nonce is %d bytes (want 24)", n)
	}
	if n := len(env.Ciphertext); n < secretboxOverhead {
		return fmt.Errorf("keys: ciphertext is %d bytes, too short to hold a key", n)
	}
	return nil
}

// MarshalPublicKey returns a cosign.pub file for pub: a PEM block of type
// "PUBLIC KEY" holding its PKIX encoding.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding public key as PKIX: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicKeyType, Bytes: der}), nil
}

// ParsePublicKey parses a PEM public key: a "PUBLIC KEY" block (PKIX, as in
// cosign.pub), an "RSA PUBLIC KEY" block (PKCS #1), or a "CERTIFICATE"
// block, whose subject public key it returns. The key is an
// *ecdsa.PublicKey, an *rsa.PublicKey or an ed25519.PublicKey.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, err := decodePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	switch block.Type {
	case publicKeyType:
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing PKIX public key: %v", err)
		}
	case pkcs1PublicType:
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing PKCS #1 public key: %v", err)
		}
	case certificateType:
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing certificate: %v", err)
		}
		pub = cert.PublicKey
	default:
		return nil, fmt.Errorf("keys: PEM type %q is not a public key (want %s, %s or %s)",
			block.Type, publicKeyType, pkcs1PublicType, certificateType)
	}
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ParsePrivateKey parses an unencrypted PEM private key, as imported from
// other tools: a "PRIVATE KEY" block (PKCS #8 holding ECDSA, RSA or
// Ed25519), an "EC PRIVATE KEY" block (SEC 1) or an "RSA PRIVATE KEY" block
// (PKCS #1). Encrypted blocks are rejected; use [DecryptPrivateKey] for
// cosign.key files.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	block, err := decodePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, fmt.Errorf("keys: PEM block %q is encrypted with a legacy Proc-Type header, which is not supported", block.Type)
	}
	var key any
	switch block.Type {
	case pkcs8Type:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing PKCS #8 private key: %v", err)
		}
	case sec1Type:
		key, err = x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing SEC 1 EC private key: %v", err)
		}
	case pkcs1Type:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: parsing PKCS #1 RSA private key: %v", err)
		}
	case sigstoreKeyType, cosignKeyType:
		return nil, fmt.Errorf("keys: PEM type %q is an encrypted cosign key, not a plain private key", block.Type)
	case encPKCS8Type:
		return nil, fmt.Errorf("keys: PEM type %q (password-protected PKCS #8) is not supported", block.Type)
	default:
		return nil, fmt.Errorf("keys: PEM type %q is not a private key (want %s, %s or %s)",
			block.Type, pkcs8Type, sec1Type, pkcs1Type)
	}
	return signer(key)
}

// Fingerprint returns "SHA256:" and the lowercase hex SHA-256 of pub's PKIX encoding, for
// display, or "" if pub cannot be encoded.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + hex.EncodeToString(sum[:])
}

// Describe names pub's type and size for display: "ECDSA P-256", "Ed25519",
// "RSA 3072". Other keys are described as unsupported.
func Describe(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k != nil && k.Curve != nil && k.Curve.Params() != nil {
			return "ECDSA " + k.Curve.Params().Name
		}
	case *rsa.PublicKey:
		if k != nil && k.N != nil {
			return fmt.Sprintf("RSA %d", k.N.BitLen())
		}
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("unsupported key (%T)", pub)
}

// decodePEM returns the only PEM block in data.
func decodePEM(data []byte) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		if bytes.Contains(data, []byte("-----BEGIN ")) {
			return nil, errors.New("keys: malformed or truncated PEM block")
		}
		return nil, errors.New("keys: no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("keys: unexpected data after the %q PEM block", block.Type)
	}
	return block, nil
}

// signer checks a parsed private key and returns it as a crypto.Signer.
func signer(key any) (crypto.Signer, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: private key of type %T", ErrUnsupportedKey, key)
	}
	if _, err := publicOf(s); err != nil {
		return nil, err
	}
	return s, nil
}

// publicOf returns the public half of a supported private key, without
// calling Public on keys whose Public would panic.
func publicOf(key crypto.Signer) (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k == nil {
			return nil, fmt.Errorf("%w: nil ECDSA private key", ErrUnsupportedKey)
		}
		pub = &k.PublicKey
	case *rsa.PrivateKey:
		if k == nil {
			return nil, fmt.Errorf("%w: nil RSA private key", ErrUnsupportedKey)
		}
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: Ed25519 private key of %d bytes (want %d)", ErrUnsupportedKey, len(k), ed25519.PrivateKeySize)
		}
		pub = k.Public()
	default:
		return nil, fmt.Errorf("%w: private key of type %T", ErrUnsupportedKey, key)
	}
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// checkPublic reports whether pub is a key hallmark supports.
func checkPublic(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil || k.Curve.Params() == nil {
			return fmt.Errorf("%w: ECDSA public key without a curve", ErrUnsupportedKey)
		}
		switch params := k.Curve.Params(); params {
		case elliptic.P256().Params(), elliptic.P384().Params(), elliptic.P521().Params():
			return nil
		default:
			return fmt.Errorf("%w: ECDSA curve %q (want P-256, P-384 or P-521)", ErrUnsupportedKey, params.Name)
		}
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return fmt.Errorf("%w: RSA public key without a modulus", ErrUnsupportedKey)
		}
		if bits := k.N.BitLen(); bits < 2048 || bits > 4096 {
			return fmt.Errorf("%w: RSA key of %d bits (want 2048 to 4096)", ErrUnsupportedKey, bits)
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 public key of %d bytes (want %d)", ErrUnsupportedKey, len(k), ed25519.PublicKeySize)
		}
		return nil
	case nil:
		return fmt.Errorf("%w: no public key", ErrUnsupportedKey)
	default:
		return fmt.Errorf("%w: public key of type %T", ErrUnsupportedKey, pub)
	}
}
