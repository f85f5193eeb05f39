package logserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

const (
	keyFile  = "log-key.pem"
	lockFile = "lock"
	tilesDir = "tiles"
)

// lockDir takes an exclusive advisory lock on dir's lock file, so that one
// Log at a time serves a directory. The kernel drops the lock when the
// process dies, so a killed process leaves nothing to clean up.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrDirInUse, dir)
		}
		return nil, fmt.Errorf("locking log directory %s: %w", dir, err)
	}
	return f, nil
}

// logExists reports whether dir already holds a tessera log.
func logExists(dir string) (bool, error) {
	for _, p := range []string{
		filepath.Join(dir, tilesDir, ".state", "treeState"),
		filepath.Join(dir, tilesDir, "checkpoint"),
	} {
		_, err := os.Stat(p)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("inspecting log directory: %w", err)
		}
	}
	return false, nil
}

// loadOrCreateKey returns the log's private key from dir, creating one of
// keyType ("" meaning Ed25519) if the log is new.
func loadOrCreateKey(dir, keyType string, exists bool) (crypto.Signer, error) {
	path := filepath.Join(dir, keyFile)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && exists:
		return nil, fmt.Errorf("%w: the log in %s exists but its key %s is missing", ErrKeyMismatch, dir, keyFile)
	case errors.Is(err, fs.ErrNotExist):
		key, err := generateKey(keyType)
		if err != nil {
			return nil, err
		}
		if err := writeKey(dir, key); err != nil {
			return nil, err
		}
		return key, nil
	case err != nil:
		return nil, fmt.Errorf("reading log key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading log key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("log key %s is open to other users (mode %04o); chmod 600 it", path, perm)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	if got := keyTypeOf(key); keyType != "" && got != keyType {
		return nil, fmt.Errorf("%w: the key in %s is %s, the configuration asks for %s", ErrKeyMismatch, dir, got, keyType)
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
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		return KeyECDSAP256
	}
	return KeyEd25519
}

func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PKCS #8 key: %w", err)
	}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("unsupported ecdsa curve %s, want P-256", k.Curve.Params().Name)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T, want ed25519 or ecdsa p-256", k)
	}
}

// writeKey stores key in dir durably and atomically: a temporary file,
// synced, then linked into place (never replacing a key) and the directory
// synced. A crash leaves either no key or the whole key.
func writeKey(dir string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding log key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tmp, err := os.CreateTemp(dir, keyFile+".tmp*")
	if err != nil {
		return fmt.Errorf("writing log key: %w", err)
	}
	defer os.Remove(tmp.Name()) // The link below is the key; the temporary name goes.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing log key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing log key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing log key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing log key: %w", err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(dir, keyFile)); err != nil {
		return fmt.Errorf("writing log key: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
