package ctlog

import (
	"context"
	"crypto"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"

	"hallmark.dev/internal/keyfile"
)

// Storage holds the log's tree and its issuer certificates. The default is
// tessera's POSIX driver in Config.Dir/tiles, for one process; a shared
// storage (tessera's AWS driver on a MySQL database and an S3 bucket,
// hallmark.dev/internal/sharedstore) is written by several processes at
// once.
type Storage interface {
	// Driver opens tessera's driver. client reaches the witnesses.
	Driver(ctx context.Context, client *http.Client) (tessera.Driver, error)
	// Read returns a published resource by its static-ct-api path
	// ("checkpoint", "tile/data/000", "issuer/<hex>"), an error wrapping
	// fs.ErrNotExist if there is none.
	Read(ctx context.Context, path string) ([]byte, error)
	// Put stores a resource tessera does not write: an issuer
	// certificate, at issuer/<hex of its SHA-256>. The same data may be
	// put again.
	Put(ctx context.Context, path string, data []byte, contentType string) error
	// BindKey reports whether pub is the key of the log in the storage,
	// recording it when the storage has none yet. A log's published
	// checkpoints say whose it is once there are some; a shared storage
	// records it from the first start on, so that processes started at
	// once with keys of their own cannot both sign.
	BindKey(ctx context.Context, pub crypto.PublicKey) (bool, error)
	// Shared reports whether other processes may write the log at the
	// same time.
	Shared() bool
	// MinCheckpointInterval is the driver's minimum checkpoint interval.
	MinCheckpointInterval() time.Duration
}

// dirStorage is tessera's POSIX driver in a directory that one process at
// a time writes.
type dirStorage struct{ dir string }

var _ Storage = dirStorage{}

func (d dirStorage) Driver(ctx context.Context, client *http.Client) (tessera.Driver, error) {
	return posix.New(ctx, posix.Config{Path: d.dir, HTTPClient: client})
}

func (d dirStorage) Read(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(path)))
}

func (d dirStorage) Put(_ context.Context, path string, data []byte, _ string) error {
	p := filepath.Join(d.dir, filepath.FromSlash(path))
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := keyfile.WriteFileExclusive(p, data, 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// BindKey accepts any key: one process at a time opens the directory,
// and checkPublished compares the key with the published checkpoint.
func (dirStorage) BindKey(context.Context, crypto.PublicKey) (bool, error) { return true, nil }

func (dirStorage) Shared() bool { return false }

func (dirStorage) MinCheckpointInterval() time.Duration { return 100 * time.Millisecond }
