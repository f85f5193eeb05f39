package pkcs11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Errors callers branch on. Every error of the package also names the
// token or key it is about, and never carries a PIN.
var (
	// ErrNotBuiltIn means this binary was built without cgo, so it cannot
	// load PKCS#11 modules.
	ErrNotBuiltIn = errors.New("this build has no PKCS#11 support: it was built without cgo (CGO_ENABLED=0)")
	// ErrNoModule means neither the URI nor Options named a module.
	ErrNoModule = errors.New("no PKCS#11 module named")
	// ErrModule means the module could not be loaded or initialised: the
	// file does not exist, or is not a PKCS#11 module.
	ErrModule = errors.New("cannot load the PKCS#11 module")
	// ErrNoToken means no token present in the module matches the URI.
	ErrNoToken = errors.New("no token matches")
	// ErrNoKey means the token holds no private key matching the URI.
	ErrNoKey = errors.New("no private key matches")
	// ErrAmbiguous means several tokens or keys match the URI.
	ErrAmbiguous = errors.New("several match")
	// ErrNoPIN means the token needs a PIN and none was given.
	ErrNoPIN = errors.New("the token needs a PIN and none was given")
	// ErrWrongPIN means the token refused the PIN (or has locked it).
	ErrWrongPIN = errors.New("wrong PIN")
	// ErrTokenGone means the token was removed or stopped answering
	// between two operations.
	ErrTokenGone = errors.New("the token is gone")
	// ErrExists means Generate was asked to create a key whose label or ID
	// the token already holds.
	ErrExists = errors.New("the token already holds an object with that label or id")
)

// Options are what a URI may leave out.
type Options struct {
	// ModulePath is the PKCS#11 module to load when the URI has no
	// module-path (cosign reads it from COSIGN_PKCS11_MODULE_PATH).
	ModulePath string
	// PIN returns the user PIN of the token labelled token when the URI
	// carries none (neither pin-value nor pin-source) and the token needs a
	// login. Nil means such a token is refused with ErrNoPIN.
	PIN func(token string) (string, error)
}

// TokenInfo describes a token present in a module's slot.
type TokenInfo struct {
	SlotID       uint   `json:"slotID"`
	Label        string `json:"label"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Serial       string `json:"serial"`
	// LoginRequired says whether the token needs a PIN to sign.
	LoginRequired bool `json:"loginRequired"`
	// URI selects the token (without an object).
	URI string `json:"uri"`
}

// KeyInfo describes a private key in a token.
type KeyInfo struct {
	Label string `json:"label"`
	// ID is CKA_ID, hexadecimal.
	ID string `json:"id"`
	// Type is the key's type and size ("ECDSA P-256", "RSA 3072",
	// "Ed25519"), or what it is when hallmark does not support it.
	Type string `json:"type"`
	// Unsupported, if not empty, says why hallmark cannot sign with it.
	Unsupported string `json:"unsupported,omitempty"`
	// URI selects the key, without a PIN.
	URI string `json:"uri"`
}

// Signer is a private key in a token. It implements crypto.Signer and
// crypto.MessageSigner: the private key never leaves the token. It is safe
// for concurrent use; signatures are made one at a time. Close releases it.
type Signer struct {
	uri *URI
	pub crypto.PublicKey
	mu  sync.Mutex
	b   backend
}

var _ crypto.MessageSigner = (*Signer)(nil)

// backend is a key in a token as the build implements it (cgo).
type backend interface {
	// sign signs in, a digest or (message) the whole message.
	sign(in []byte, opts crypto.SignerOpts, message bool) ([]byte, error)
	close() error
}

// Public returns the key's public half: an *ecdsa.PublicKey, an
// *rsa.PublicKey or an ed25519.PublicKey.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// URI returns the URI of the key, without its PIN.
func (s *Signer) URI() *URI { return s.uri }

// Sign signs digest, as crypto.Signer does: ECDSA signatures are ASN.1
// DER, RSA ones PKCS #1 v1.5 unless opts is *rsa.PSSOptions. An Ed25519
// key signs the message itself (opts.HashFunc() == 0); the token cannot
// make Ed25519ph signatures. rand is not used: the token has its own.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.sign(digest, opts, false)
}

// SignMessage signs msg, hashed with opts.HashFunc(): by the token when it
// only has mechanisms that hash (CKM_ECDSA_SHA256 and the like), by the
// caller otherwise.
func (s *Signer) SignMessage(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.sign(msg, opts, true)
}

func (s *Signer) sign(in []byte, opts crypto.SignerOpts, message bool) ([]byte, error) {
	if opts == nil {
		opts = crypto.Hash(0)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return nil, fmt.Errorf("pkcs11: %s: signer is closed", s.uri)
	}
	sig, err := s.b.sign(in, opts, message)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: signing with %s: %w", s.describe(), err)
	}
	return sig, nil
}

// Close closes the key's session; the module is unloaded when its last
// key is closed. Close is idempotent.
func (s *Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		return nil
	}
	err := s.b.close()
	s.b = nil
	return err
}

// describe names the key for messages: its label and token.
func (s *Signer) describe() string { return describeKey(s.uri) }

func describeKey(u *URI) string {
	var d string
	switch {
	case u.Object != "":
		d = fmt.Sprintf("key %q", u.Object)
	case u.ID != nil:
		d = fmt.Sprintf("key id %X", u.ID)
	default:
		d = "the key"
	}
	if u.Token != "" {
		d += fmt.Sprintf(" in token %q", u.Token)
	}
	return d
}

// publicKeyType is the family of a key, which decides the mechanisms.
type publicKeyType int

const (
	typeEC publicKeyType = iota + 1
	typeRSA
	typeEd25519
)

func typeOf(pub crypto.PublicKey) publicKeyType {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return typeEC
	case *rsa.PublicKey:
		return typeRSA
	case ed25519.PublicKey:
		return typeEd25519
	}
	return 0
}
