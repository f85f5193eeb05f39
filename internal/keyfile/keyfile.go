// Package keyfile keeps the private keys of hallmark's services (CA, log,
// timestamp authority, development OIDC issuer) in files, and writes other
// files of their state with the same durability.
//
// # Format
//
// A key file holds exactly one PEM block (RFC 7468) labelled "PRIVATE KEY"
// whose contents are an unencrypted PKCS #8 PrivateKeyInfo (RFC 5208,
// RFC 5958), as [x509.MarshalPKCS8PrivateKey] writes it. Text before the
// block is skipped, as [pem.Decode] does; anything but white space after it
// makes the file invalid. The key MUST be one that can sign (a
// [crypto.Signer]). Which algorithms a service accepts is the service's
// business, not this package's.
//
// A key file MUST NOT be accessible to group or others (mode & 0o077 == 0):
// [Read] refuses one that is, unless the caller passes [AllowExposed].
//
// # Durability
//
// [Write], [WriteFileExclusive] and [WriteFileAtomic] write to a temporary
// file in the target's directory (named "." + base name + ".tmp" + digits),
// set its mode, fsync it, put it in place, and fsync the directory. Once
// they return nil the file survives a crash; a crash before leaves the old
// state (and perhaps a stray temporary file), never a partial file under the
// target's name.
//
// A key is created once and never replaced: [Write] and
// [WriteFileExclusive] put the file in place with a hard link, which fails
// (with an error matching [fs.ErrExist]) if the name exists, even when
// another process created it meanwhile. [WriteFileAtomic] renames, and so
// replaces what was there; it is for files that are meant to be rewritten.
//
// Errors name the file; callers add their own context.
package keyfile

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// pemType is the label of a key file's PEM block (RFC 7468 §10).
const pemType = "PRIVATE KEY"

// An Option changes how [Read] and [LoadOrCreate] treat a key file.
type Option func(*options)

type options struct {
	allowExposed bool
	warn         func(path string, perm fs.FileMode)
}

// AllowExposed makes [Read] and [LoadOrCreate] accept a key file that group
// or others may access: they call warn (unless it is nil) with the file's
// path and permission bits instead of refusing it. It keeps the behaviour
// of services that have always accepted such files; new callers should not
// use it.
func AllowExposed(warn func(path string, perm fs.FileMode)) Option {
	return func(o *options) {
		o.allowExposed = true
		o.warn = warn
	}
}

// Read reads the key file at path. An error from opening the file (one
// matching [fs.ErrNotExist], say) is returned as the *[fs.PathError] it is.
func Read(path string, opts ...Option) (crypto.Signer, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if !o.allowExposed {
			return nil, fmt.Errorf("%s is open to other users (mode %04o); chmod 600 it", path, perm)
		}
		if o.warn != nil {
			o.warn(path, perm)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	key, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// parse parses the contents of a key file.
func parse(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, errors.New("no PKCS #8 PRIVATE KEY PEM block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after the key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", k)
	}
	return s, nil
}

// Marshal returns the contents of a key file holding key.
func Marshal(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), nil
}

// Write writes key to a new key file at path, mode 0600. It never replaces
// an existing file.
func Write(path string, key crypto.Signer) error {
	data, err := Marshal(key)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return WriteFileExclusive(path, data, 0o600)
}

// LoadOrCreate reads the key file at path as [Read] does or, if there is
// none, writes one as [Write] does with a key from generate. If another
// process creates the file in between, LoadOrCreate fails with an error
// matching [fs.ErrExist] rather than replace it.
func LoadOrCreate(path string, generate func() (crypto.Signer, error), opts ...Option) (crypto.Signer, error) {
	key, err := Read(path, opts...)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if key, err = generate(); err != nil {
		return nil, fmt.Errorf("generating %s: %w", path, err)
	}
	if err := Write(path, key); err != nil {
		return nil, err
	}
	return key, nil
}

// WriteFileExclusive writes data to a new file at path with mode perm,
// durably. It never replaces an existing file.
func WriteFileExclusive(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, os.Link)
}

// WriteFileAtomic writes data to path with mode perm, durably, replacing
// the file there atomically: readers see the old contents or the new, never
// a mix.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, os.Rename)
}

// writeFile writes data to a temporary file, puts it at path with place
// (os.Link or os.Rename) and syncs the directory.
func writeFile(path string, data []byte, perm fs.FileMode, place func(oldname, newname string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// After a link the temporary name goes; after a rename this fails
	// harmlessly.
	defer os.Remove(f.Name())
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs directory dir, making the creation, renaming and removal of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// ErrLocked means another holder, in this process or another, has the lock
// file locked.
var ErrLocked = errors.New("locked by another process")

// Lock takes an exclusive advisory lock on the file at path, creating it,
// so that one owner at a time uses what it guards (a log's directory). The
// kernel drops the lock when the process dies, so a killed process leaves
// nothing to clean up; closing the returned file releases it. A lock held
// elsewhere is an error wrapping [ErrLocked].
func Lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}
