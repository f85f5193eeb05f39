package logserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"hallmark.dev/internal/keyfile"
)

const (
	keyFile  = "log-key.pem"
	lockFile = "lock"
	tilesDir = "tiles"
)

// lockDir takes an exclusive advisory lock on dir's lock file, so that one
// Log at a time serves a directory (see keyfile.Lock).
func lockDir(dir string) (*os.File, error) {
	f, err := keyfile.Lock(filepath.Join(dir, lockFile))
	if errors.Is(err, keyfile.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", ErrDirInUse, dir)
	}
	return f, err
}

// loadOrCreateKey returns the log's private key: given, else the one in
// dir, creating one of keyType ("" meaning Ed25519) if the log is new.
func loadOrCreateKey(dir, keyType string, given crypto.Signer, exists bool) (crypto.Signer, error) {
	path := filepath.Join(dir, keyFile)
	var key crypto.Signer
	var err error
	switch {
	case given != nil:
		key, path = given, "given"
	case exists:
		key, err = keyfile.Read(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: the log in %s exists but its key %s is missing", ErrKeyMismatch, dir, keyFile)
		}
	default:
		key, err = keyfile.LoadOrCreate(path, func() (crypto.Signer, error) { return generateKey(keyType) })
	}
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	switch k := key.Public().(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("log key %s: unsupported ecdsa curve %s, want P-256", path, k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("log key %s: unsupported key type %T, want ed25519 or ecdsa p-256", path, k)
	}
	if got := keyTypeOf(key); keyType != "" && got != keyType {
		where := "the key in " + dir
		if given != nil {
			where = "the key given"
		}
		return nil, fmt.Errorf("%w: %s is %s, the configuration asks for %s", ErrKeyMismatch, where, got, keyType)
	}
	return key, nil
}

func generateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case "", KeyEd25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("%w: key type %q", ErrInvalidConfig, keyType)
	}
}

func keyTypeOf(key crypto.Signer) string {
	if _, ok := key.Public().(*ecdsa.PublicKey); ok {
		return KeyECDSAP256
	}
	return KeyEd25519
}
