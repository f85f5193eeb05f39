package sharedstore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
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
	logMaxOpenConns      = 32
	logMaxIdleConns      = 4
	antispamMaxBatchSize = 256
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
		MaxBatchSize: antispamMaxBatchSize,
		MaxOpenConns: logMaxOpenConns,
		MaxIdleConns: logMaxIdleConns,
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
