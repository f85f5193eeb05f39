package tlog

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Errors from building note keys.
var (
	// ErrUnsupportedKey means the key is neither Ed25519 nor ECDSA P-256.
	ErrUnsupportedKey = errors.New("unsupported log key: want ed25519 or ecdsa p-256")
	// ErrInvalidOrigin means the origin cannot name a note key: it is
	// empty, not UTF-8, or has a space or a plus sign.
	ErrInvalidOrigin = errors.New("invalid origin: a note key name must be non-empty utf-8 without spaces or '+'")
)

// algEd25519 is the C2SP signed-note signature type of Ed25519.
const algEd25519 = 0x01

// LogID returns the 32-byte log ID of the log named origin with public key
// pub: SHA-256(origin || "\n" || 0x01 || key) for Ed25519, SHA-256 of the PKIX
// public key for ECDSA P-256. It is what sigstore-go looks up in the trusted
// root's tlogs[].logId.keyId for a bundle's logId.keyId, and its first four
// bytes are the key ID of the log's note signatures.
func LogID(origin string, pub crypto.PublicKey) ([]byte, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 key is %d bytes", ErrUnsupportedKey, len(k))
		}
		if !validName(origin) {
			return nil, ErrInvalidOrigin
		}
		h := sha256.New()
		h.Write([]byte(origin))
		h.Write([]byte{'\n', algEd25519})
		h.Write(k)
		return h.Sum(nil), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ecdsa curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
		}
		h := sha256.Sum256(der)
		return h[:], nil
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
}

// validName is the signed-note rule for key names.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// NewNoteVerifier returns the note verifier of the log named origin whose
// public key is pub (ed25519.PublicKey or *ecdsa.PublicKey on P-256), in the
// form sigstore-go checks Rekor v2 checkpoints with. See the package
// documentation for the two signature forms.
func NewNoteVerifier(origin string, pub crypto.PublicKey) (note.Verifier, error) {
	if !validName(origin) {
		return nil, ErrInvalidOrigin
	}
	id, err := LogID(origin, pub)
	if err != nil {
		return nil, err
	}
	v := &noteKey{name: origin, hash: binary.BigEndian.Uint32(id)}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		v.verify = func(msg, sig []byte) bool { return ed25519.Verify(k, msg, sig) }
	case *ecdsa.PublicKey:
		v.verify = func(msg, sig []byte) bool {
			d := sha256.Sum256(msg)
			return ecdsa.VerifyASN1(k, d[:], sig)
		}
	}
	return v, nil
}

// NewNoteSigner returns the note signer of the log named origin whose
// private key is key (an ed25519.PrivateKey or *ecdsa.PrivateKey on P-256, or
// any crypto.Signer whose public key is one of those). Its signatures verify
// with NewNoteVerifier(origin, key.Public()).
func NewNoteSigner(origin string, key crypto.Signer) (note.Signer, error) {
	if !validName(origin) {
		return nil, ErrInvalidOrigin
	}
	pub := key.Public()
	id, err := LogID(origin, pub)
	if err != nil {
		return nil, err
	}
	s := &noteKey{name: origin, hash: binary.BigEndian.Uint32(id)}
	switch pub.(type) {
	case ed25519.PublicKey:
		s.sign = func(msg []byte) ([]byte, error) { return key.Sign(rand.Reader, msg, crypto.Hash(0)) }
	case *ecdsa.PublicKey:
		// SignMessage: a key that hashes itself (a token with only
		// CKM_ECDSA_SHA256) gets the note; others its SHA-256.
		s.sign = func(msg []byte) ([]byte, error) { return crypto.SignMessage(key, rand.Reader, msg, crypto.SHA256) }
	}
	return s, nil
}

// noteKey is both a note.Signer and a note.Verifier; only one of sign and
// verify is set.
type noteKey struct {
	name   string
	hash   uint32
	sign   func(msg []byte) ([]byte, error)
	verify func(msg, sig []byte) bool
}

var (
	_ note.Verifier = (*noteKey)(nil)
	_ note.Signer   = (*noteKey)(nil)
)

func (k *noteKey) Name() string    { return k.name }
func (k *noteKey) KeyHash() uint32 { return k.hash }

func (k *noteKey) Verify(msg, sig []byte) bool {
	return k.verify != nil && k.verify(msg, sig)
}

func (k *noteKey) Sign(msg []byte) ([]byte, error) {
	if k.sign == nil {
		return nil, errors.New("note key has no private key")
	}
	return k.sign(msg)
}
