package logserver

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/storage/posix"
)

// Storage holds the log's tree: where tessera writes it and where the
// published resources are read back. The default is tessera's POSIX driver
// in Config.Dir/tiles, for one process; a shared storage (tessera's AWS
// driver on a MySQL database and an S3 bucket, hallmark.dev/internal/sharedstore)
// is written by several processes at once.
type Storage interface {
	// Driver opens tessera's driver. client reaches the witnesses.
	Driver(ctx context.Context, client *http.Client) (tessera.Driver, error)
	// Antispam returns the persistent index of the log's entries, shared
	// by every process that writes the log; nil means none, and the log
	// builds its own in memory at start by reading the log.
	Antispam(ctx context.Context) (tessera.Antispam, error)
	// Read returns a published resource by its tlog-tiles path
	// ("checkpoint", "tile/0/x001/234", "tile/entries/000.p/5"), an error
	// wrapping fs.ErrNotExist if there is none.
	Read(ctx context.Context, path string) ([]byte, error)
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

func (dirStorage) Antispam(context.Context) (tessera.Antispam, error) { return nil, nil }

func (d dirStorage) Read(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(path)))
}

// BindKey accepts any key: one process at a time opens the directory,
// and checkPublished compares the key with the published checkpoint.
func (dirStorage) BindKey(context.Context, crypto.PublicKey) (bool, error) { return true, nil }

func (dirStorage) Shared() bool { return false }

func (dirStorage) MinCheckpointInterval() time.Duration { return 100 * time.Millisecond }

// exists reports whether s already holds a log: a published checkpoint,
// or in a directory the tree state tessera writes before its first
// checkpoint.
func exists(ctx context.Context, s Storage) (bool, error) {
	paths := []string{layout.CheckpointPath}
	if _, ok := s.(dirStorage); ok {
		paths = append(paths, ".state/treeState")
	}
	for _, p := range paths {
		_, err := s.Read(ctx, p)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("inspecting the log's storage: %w", err)
		}
	}
	return false, nil
}
