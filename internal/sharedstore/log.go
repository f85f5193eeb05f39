package sharedstore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	tessaws "github.com/transparency-dev/tessera/storage/aws"
	tessantispam "github.com/transparency-dev/tessera/storage/aws/antispam"
)

// LogStorage is one tessera log on the shared database and bucket: its
// own schema (<DB>_<name>) and its own prefix of the bucket (<name>/). It
// implements the storage interfaces of hallmark's logs
// (logserver.Storage, ctlog.Storage).
type LogStorage struct {
	s      *Store
	name   string
	schema string

	once      sync.Once
	schemaErr error
}

// Log returns the storage of the log called name ("log", "ctlog").
func (s *Store) Log(name string) *LogStorage {
	return &LogStorage{s: s, name: name, schema: s.db.Name + "_" + name}
}

// Pool sizes of a log's database connections: tessera's sequencer and
// integrator, and the antispam follower and lookups.
const (
	logMaxOpenConns = 32
	logMaxIdleConns = 4
	// The antispam follower indexes the log in one transaction per batch,
	// one batch after the other, and Adds are pushed back while it is more
	// than the threshold behind the integrated tree. Tessera's defaults (64
	// and 2048) kept it behind at a few hundred entries a second
	// (bench/scaleout): a batch of 4096 keeps it within one integration
	// tick of the tree.
	antispamMaxBatchSize      = 4096
	antispamPushbackThreshold = 4 * 4096
)

// MinCheckpointInterval is the AWS driver's minimum checkpoint interval.
func (l *LogStorage) MinCheckpointInterval() time.Duration { return time.Second }

// Shared reports that several processes write the log.
func (l *LogStorage) Shared() bool { return true }

// Describe names the log's schema and prefix.
func (l *LogStorage) Describe() string {
	return fmt.Sprintf("mysql %s/%s, s3 %s/%s/%s/", l.s.db.Addr, l.schema, l.s.endpoint(), l.s.obj.Bucket, l.name)
}

func (l *LogStorage) ensureSchema(ctx context.Context) error {
	l.once.Do(func() { l.schemaErr = l.s.createSchema(ctx, l.schema) })
	return l.schemaErr
}

// Driver returns tessera's AWS driver for the log. client reaches the
// witnesses.
func (l *LogStorage) Driver(ctx context.Context, client *http.Client) (tessera.Driver, error) {
	if err := l.ensureSchema(ctx); err != nil {
		return nil, err
	}
	cfg := l.s.awsConfig
	d, err := tessaws.New(ctx, tessaws.Config{
		// A nil S3Options beside an SDKConfig makes the driver panic.
		SDKConfig:    &cfg,
		S3Options:    l.s.s3Options,
		Bucket:       l.s.obj.Bucket,
		BucketPrefix: l.name,
		DSN:          l.s.dsn(l.schema),
		MaxOpenConns: logMaxOpenConns,
		MaxIdleConns: logMaxIdleConns,
		HTTPClient:   httpClient(client),
	})
	if err != nil {
		return nil, fmt.Errorf("sharedstore: %s: %w", l.name, err)
	}
	return d, nil
}

// Antispam returns tessera's MySQL antispam in the log's schema: the index
// from each entry's identity to its index, which every replica reads and
// whose follower the replicas take turns to run.
func (l *LogStorage) Antispam(ctx context.Context) (tessera.Antispam, error) {
	if err := l.ensureSchema(ctx); err != nil {
		return nil, err
	}
	as, err := tessantispam.NewAntispam(ctx, l.s.dsn(l.schema), tessantispam.AntispamOpts{
		MaxBatchSize:      antispamMaxBatchSize,
		PushbackThreshold: antispamPushbackThreshold,
		MaxOpenConns:      logMaxOpenConns,
		MaxIdleConns:      logMaxIdleConns,
	})
	if err != nil {
		return nil, fmt.Errorf("sharedstore: %s antispam: %w", l.name, err)
	}
	return as, nil
}

// Read returns the log's resource at path ("checkpoint", a tile or entry
// bundle path), an error wrapping fs.ErrNotExist if there is none.
func (l *LogStorage) Read(ctx context.Context, path string) ([]byte, error) {
	return l.s.Object(ctx, joinKey(l.name, path))
}

// Put writes a resource of the log that tessera does not write (the CT
// log's issuer certificates), at path.
func (l *LogStorage) Put(ctx context.Context, path string, data []byte, contentType string) error {
	return l.s.PutObject(ctx, joinKey(l.name, path), data, contentType)
}

// BindKey records pub as the log's key on first use, and reports whether
// the log's recorded key is pub: replicas started on copies of one data
// directory share the key; a replica that made a key of its own (started
// on an empty data directory) is refused before it signs anything.
func (l *LogStorage) BindKey(ctx context.Context, pub crypto.PublicKey) (bool, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return false, fmt.Errorf("sharedstore: %s key: %w", l.name, err)
	}
	got, err := l.s.Claim(ctx, l.name+"-key", der)
	if err != nil {
		return false, err
	}
	return bytes.Equal(got, der), nil
}

// importWorkers is the number of entry bundles Import copies at once.
const importWorkers = 8

// Import copies a log that tessera's POSIX driver wrote in dir (the
// tlog-tiles layout, or with ct the static-ct-api one) into this storage
// with tessera's migration lifecycle: its entry bundles are copied, the
// tree is rebuilt from them, and its root must be root, that of the
// source's checkpoint of size entries. With antispam, tessera's MySQL
// duplicate index is filled too, from the source. The source checkpoint
// is then published as it is: it is signed, and names the same tree.
func (l *LogStorage) Import(ctx context.Context, dir string, checkpoint []byte, size uint64, root []byte, ct, antispam bool) error {
	d, err := l.Driver(ctx, nil)
	if err != nil {
		return err
	}
	opts := tessera.NewMigrationOptions()
	if ct {
		opts = opts.WithCTLayout()
	}
	// Not opts.WithAntispam: in tessera v1.0.4 the AWS driver's migration
	// reader has no integrated size, and its antispam follower panics on
	// it. The index is filled below, from the source.
	mt, err := tessera.NewMigrationTarget(ctx, d, opts)
	if err != nil {
		return fmt.Errorf("sharedstore: %s: %w", l.name, err)
	}
	src := &dirReader{dir: dir, size: size, entriesPath: opts.EntriesPath()}
	if err := mt.Migrate(ctx, importWorkers, size, root, src.ReadEntryBundle); err != nil {
		return fmt.Errorf("sharedstore: %s: %w", l.name, err)
	}
	if err := l.advanceSequence(ctx, size); err != nil {
		return err
	}
	if antispam {
		if err := l.fillAntispam(ctx, src); err != nil {
			return err
		}
	}
	if err := l.Put(ctx, "checkpoint", checkpoint, "text/plain; charset=utf-8"); err != nil {
		return fmt.Errorf("sharedstore: %s: publishing the checkpoint: %w", l.name, err)
	}
	return nil
}

// advanceSequence sets the next index tessera's sequencer assigns to size,
// the imported tree's: tessera v1.0.4's AWS migration integrates the tree
// (IntCoord) but leaves the sequencer (SeqCoord) at zero, so that the
// first append after an import would be pushed back forever (next index
// below the tree size).
func (l *LogStorage) advanceSequence(ctx context.Context, size uint64) error {
	db, err := sql.Open("mysql", l.s.dsn(l.schema))
	if err != nil {
		return fmt.Errorf("sharedstore: %s: %w", l.name, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "UPDATE SeqCoord SET next = ? WHERE id = 0 AND next < ?", size, size); err != nil {
		return fmt.Errorf("sharedstore: %s: advancing the sequencer to %d: %w", l.name, size, err)
	}
	return nil
}

// fillAntispam runs tessera's MySQL antispam follower over src until it
// has indexed every entry.
func (l *LogStorage) fillAntispam(ctx context.Context, src *dirReader) error {
	as, err := l.Antispam(ctx)
	if err != nil {
		return err
	}
	f := as.Follower(entryIdentities)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.Follow(fctx, src)
	for {
		n, err := f.EntriesProcessed(ctx)
		if err != nil {
			return fmt.Errorf("sharedstore: %s: duplicate index: %w", l.name, err)
		}
		if n >= src.size {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// entryIdentities returns the identity tessera gives each entry of a
// tlog-tiles entry bundle by default (tessera.NewEntry): the SHA-256 of
// its data.
func entryIdentities(bundle []byte) ([][]byte, error) {
	var b api.EntryBundle
	if err := b.UnmarshalText(bundle); err != nil {
		return nil, err
	}
	ids := make([][]byte, len(b.Entries))
	for i, e := range b.Entries {
		sum := sha256.Sum256(e)
		ids[i] = sum[:]
	}
	return ids, nil
}

// dirReader reads a log tessera's POSIX driver wrote, up to size entries.
type dirReader struct {
	dir         string
	size        uint64
	entriesPath func(uint64, uint8) string
}

var _ tessera.LogReader = (*dirReader)(nil)

func (r *dirReader) read(p string) ([]byte, error) {
	return os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(p)))
}

func (r *dirReader) ReadCheckpoint(context.Context) ([]byte, error) { return r.read("checkpoint") }

func (r *dirReader) ReadTile(_ context.Context, level, index uint64, p uint8) ([]byte, error) {
	return r.read(layout.TilePath(level, index, p))
}

func (r *dirReader) ReadEntryBundle(_ context.Context, index uint64, p uint8) ([]byte, error) {
	return r.read(r.entriesPath(index, p))
}

func (r *dirReader) IntegratedSize(context.Context) (uint64, error) { return r.size, nil }

func (r *dirReader) NextIndex(context.Context) (uint64, error) { return r.size, nil }
