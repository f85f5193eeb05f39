// Package sharedstore connects hallmark's services to the database and
// object store that the replicas of a replica set share: a MySQL database
// (MySQL 8, Aurora MySQL or MariaDB 10.11) and an S3 bucket (Amazon S3 or
// an S3-compatible server).
//
// It opens both, creating the database and the bucket when missing, and
// hands each service what its storage interface needs:
//
//   - the transparency log and the CT log: tessera's AWS driver
//     (github.com/transparency-dev/tessera/storage/aws, v1.0.4) through
//     [LogStorage], each log in its own schema (<DB>_log, <DB>_ctlog:
//     tessera's table names are fixed) and under its own prefix of the
//     bucket (log/, ctlog/); the transparency log's duplicate index is
//     tessera's MySQL antispam in the log's schema;
//   - the OCI registry: distribution's S3 driver, under registry/
//     ([Store.RegistryDriver]);
//   - the other state (referrer records, signing policies and approvals,
//     the replica set's identity): tables named hallmark_* in <DB>
//     ([Store.DB]), which the packages owning them create.
//
// Nothing here reads the environment: credentials come in [Config].
package sharedstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/go-sql-driver/mysql"
)

// Config says where the shared state is.
type Config struct {
	// Database is mysql://USER:PASSWORD@HOST:PORT/DB (see ParseDatabase).
	Database string
	// ObjectStore is s3://BUCKET?endpoint=URL&path-style=true&region=REGION
	// (see ParseObjectStore).
	ObjectStore string
	// AccessKeyID and SecretAccessKey are the object store's credentials.
	AccessKeyID, SecretAccessKey string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// Store is an open database and bucket.
type Store struct {
	// DB is hallmark's database (<DB> of the URL).
	DB *sql.DB

	db        Database
	obj       ObjectStore
	cfg       Config
	s3        *s3.Client
	awsConfig aws.Config
	s3Options func(*s3.Options)
	maxPacket int64
	logger    *slog.Logger
}

// Timeouts of the database connections: a server that stops answering
// fails the statement instead of hanging it, and the pool reconnects.
const (
	dialTimeout = 5 * time.Second
	ioTimeout   = 60 * time.Second
)

// Open connects to the database and the object store of cfg, creating the
// database and the bucket if missing.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Database == "" || cfg.ObjectStore == "" {
		return nil, errors.New("sharedstore: a replica set needs both a database and an object store")
	}
	d, err := ParseDatabase(cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("sharedstore: %w", err)
	}
	o, err := ParseObjectStore(cfg.ObjectStore)
	if err != nil {
		return nil, fmt.Errorf("sharedstore: %w", err)
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("sharedstore: no object store credentials (an access key ID and a secret access key)")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: d, obj: o, cfg: cfg, logger: logger}
	s.awsConfig = aws.Config{
		Region:      o.Region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
	}
	s.s3Options = func(opts *s3.Options) {
		if o.Endpoint != "" {
			opts.BaseEndpoint = aws.String(o.Endpoint)
		}
		opts.UsePathStyle = o.PathStyle
	}
	s.s3 = s3.NewFromConfig(s.awsConfig, s.s3Options)

	if err := s.createSchema(ctx, d.Name); err != nil {
		return nil, err
	}
	s.DB, err = sql.Open("mysql", s.dsn(d.Name))
	if err != nil {
		return nil, fmt.Errorf("sharedstore: database %s: %w", d.Name, err)
	}
	s.DB.SetConnMaxLifetime(5 * time.Minute)
	s.DB.SetMaxIdleConns(4)
	if err := s.DB.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&s.maxPacket); err != nil {
		s.DB.Close()
		return nil, fmt.Errorf("sharedstore: database %s: %w", d.Name, err)
	}
	if err := s.createTables(ctx); err != nil {
		s.DB.Close()
		return nil, err
	}
	if err := s.createBucket(ctx); err != nil {
		s.DB.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database connections.
func (s *Store) Close() error { return s.DB.Close() }

// dsn is the driver's DSN for schema.
func (s *Store) dsn(schema string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd = s.db.User, s.db.Password
	c.Net, c.Addr, c.DBName = "tcp", s.db.Addr, schema
	c.TLSConfig = s.db.TLS
	c.Timeout, c.ReadTimeout, c.WriteTimeout = dialTimeout, ioTimeout, ioTimeout
	return c.FormatDSN()
}

// createSchema creates the database schema if it is missing.
func (s *Store) createSchema(ctx context.Context, schema string) error {
	db, err := sql.Open("mysql", s.dsn(""))
	if err != nil {
		return fmt.Errorf("sharedstore: database server %s: %w", s.db.Addr, err)
	}
	defer db.Close()
	// schema matches databaseName (plus a fixed suffix): no quoting needed
	// beyond the backticks.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+schema+"`"); err != nil {
		return fmt.Errorf("sharedstore: creating database %s on %s: %w", schema, s.db.Addr, err)
	}
	return nil
}

func (s *Store) createTables(ctx context.Context) error {
	if _, err := s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS hallmark_identity (
		name VARCHAR(64) NOT NULL,
		value MEDIUMBLOB NOT NULL,
		PRIMARY KEY (name)
	)`); err != nil {
		return fmt.Errorf("sharedstore: creating table hallmark_identity: %w", err)
	}
	return nil
}

// createBucket creates the bucket if it does not exist.
func (s *Store) createBucket(ctx context.Context) error {
	_, err := s.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.obj.Bucket)})
	if err == nil {
		return nil
	}
	var notFound *types.NotFound
	if !errors.As(err, &notFound) {
		return fmt.Errorf("sharedstore: object store %s: bucket %s: %w", s.endpoint(), s.obj.Bucket, err)
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(s.obj.Bucket)}
	if s.obj.Region != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(s.obj.Region)}
	}
	_, err = s.s3.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("sharedstore: object store %s: creating bucket %s: %w", s.endpoint(), s.obj.Bucket, err)
	}
	s.logger.InfoContext(ctx, "object store: bucket created", "bucket", s.obj.Bucket)
	return nil
}

func (s *Store) endpoint() string {
	if s.obj.Endpoint == "" {
		return "s3." + s.obj.Region + ".amazonaws.com"
	}
	return s.obj.Endpoint
}

// MaxAllowedPacket is the database's max_allowed_packet, in bytes: the
// largest statement it takes, which bounds a batch of log entries.
func (s *Store) MaxAllowedPacket() int64 { return s.maxPacket }

// Describe names the database and the bucket, without credentials.
func (s *Store) Describe() string {
	return fmt.Sprintf("mysql %s/%s, s3 %s/%s", s.db.Addr, s.db.Name, s.endpoint(), s.obj.Bucket)
}

// Claim records value under name unless a value is recorded already, and
// returns the recorded value: the first replica to claim a name sets it
// for the whole replica set.
func (s *Store) Claim(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := s.DB.ExecContext(ctx, "INSERT IGNORE INTO hallmark_identity (name, value) VALUES (?, ?)", name, value); err != nil {
		return nil, fmt.Errorf("sharedstore: recording %s: %w", name, err)
	}
	var got []byte
	if err := s.DB.QueryRowContext(ctx, "SELECT value FROM hallmark_identity WHERE name = ?", name).Scan(&got); err != nil {
		return nil, fmt.Errorf("sharedstore: reading %s: %w", name, err)
	}
	return got, nil
}

// Recorded returns the value recorded under name, and whether there is one.
func (s *Store) Recorded(ctx context.Context, name string) ([]byte, bool, error) {
	var got []byte
	err := s.DB.QueryRowContext(ctx, "SELECT value FROM hallmark_identity WHERE name = ?", name).Scan(&got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("sharedstore: reading %s: %w", name, err)
	}
	return got, true, nil
}

// Replace changes the value recorded under name from old to value, and
// reports whether it did: false means another value than old is recorded.
func (s *Store) Replace(ctx context.Context, name string, old, value []byte) (bool, error) {
	res, err := s.DB.ExecContext(ctx, "UPDATE hallmark_identity SET value = ? WHERE name = ? AND value = ?", value, name, old)
	if err != nil {
		return false, fmt.Errorf("sharedstore: replacing %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sharedstore: replacing %s: %w", name, err)
	}
	return n == 1, nil
}

// Object returns the object at key, an error wrapping fs.ErrNotExist if
// there is none.
func (s *Store) Object(ctx context.Context, key string) ([]byte, error) {
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.obj.Bucket), Key: aws.String(key)})
	if err != nil {
		var noKey *types.NoSuchKey
		if errors.As(err, &noKey) {
			return nil, fmt.Errorf("object %s: %w", key, fs.ErrNotExist)
		}
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NotFound" {
			return nil, fmt.Errorf("object %s: %w", key, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("reading object %s: %w", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading object %s: %w", key, err)
	}
	return data, nil
}

// PutObject writes data at key.
func (s *Store) PutObject(ctx context.Context, key string, data []byte, contentType string) error {
	_, err := s.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.obj.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(data),
		ContentType: aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("writing object %s: %w", key, err)
	}
	return nil
}

// Objects calls f with the key of every object under prefix, in order.
func (s *Store) Objects(ctx context.Context, prefix string, f func(key string) error) error {
	p := s3.NewListObjectsV2Paginator(s.s3, &s3.ListObjectsV2Input{Bucket: aws.String(s.obj.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing objects under %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if err := f(aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RegistryDriver returns the name and parameters of distribution's S3
// storage driver (registry/storage/driver/s3-aws) on this bucket, rooted
// at /registry.
func (s *Store) RegistryDriver() (name string, params map[string]any) {
	params = map[string]any{
		"accesskey":      s.cfg.AccessKeyID,
		"secretkey":      s.cfg.SecretAccessKey,
		"bucket":         s.obj.Bucket,
		"region":         s.obj.Region,
		"rootdirectory":  "/" + registryPrefix,
		"forcepathstyle": s.obj.PathStyle,
		"v4auth":         true,
		"encrypt":        false,
	}
	if s.obj.Endpoint != "" {
		params["regionendpoint"] = s.obj.Endpoint
		params["secure"] = strings.HasPrefix(s.obj.Endpoint, "https:")
	}
	return "s3aws", params
}

// Prefixes of the bucket.
const (
	registryPrefix = "registry"
)

// joinKey joins a prefix and a path into an object key.
func joinKey(prefix, p string) string { return path.Join(prefix, p) }

// httpClient returns c, or a client with a timeout when c is nil.
func httpClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: 30 * time.Second}
}
