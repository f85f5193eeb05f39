package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"hallmark.dev/internal/ctlog"
	"hallmark.dev/internal/logserver"
	"hallmark.dev/internal/registry"
	"hallmark.dev/internal/sharedstore"
)

// Credentials are an access key of the object store.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
}

// The shared storage implements the storage interfaces of both logs.
var (
	_ logserver.Storage = (*sharedstore.LogStorage)(nil)
	_ ctlog.Storage     = (*sharedstore.LogStorage)(nil)
)

// Configurations that cannot run, for callers to explain.
var (
	// ErrHalfReplicaSet: a database without an object store, or the other
	// way round.
	ErrHalfReplicaSet = errors.New("a replica set needs both a database and an object store")
	// ErrNoObjectStoreCredentials: an object store without an access key.
	ErrNoObjectStoreCredentials = errors.New("no object store credentials")
)

// checkReplicaConfig refuses half a replica set.
func checkReplicaConfig(cfg Config) error {
	if (cfg.Database == "") != (cfg.ObjectStore == "") {
		return fmt.Errorf("server: %w (or neither, for the embedded store in the data directory)", ErrHalfReplicaSet)
	}
	if cfg.Database != "" {
		if _, err := sharedstore.ParseDatabase(cfg.Database); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if _, err := sharedstore.ParseObjectStore(cfg.ObjectStore); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if cfg.ObjectStoreCredentials.AccessKeyID == "" || cfg.ObjectStoreCredentials.SecretAccessKey == "" {
			return fmt.Errorf("server: %w: the object store needs an access key ID and a secret access key", ErrNoObjectStoreCredentials)
		}
	}
	return nil
}

// openShared connects to the replica set's database and object store, when
// configured.
func (s *Server) openShared(ctx context.Context) error {
	if s.cfg.Database == "" {
		return nil
	}
	st, err := sharedstore.Open(ctx, sharedstore.Config{
		Database:        s.cfg.Database,
		ObjectStore:     s.cfg.ObjectStore,
		AccessKeyID:     s.cfg.ObjectStoreCredentials.AccessKeyID,
		SecretAccessKey: s.cfg.ObjectStoreCredentials.SecretAccessKey,
		Logger:          s.cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.shared = st
	// The public URL names the logs (their origins) and the OIDC issuer:
	// one replica set, one URL, recorded before any log is opened.
	url, err := st.Claim(ctx, "public-url", []byte(s.cfg.PublicURL))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if string(url) != s.cfg.PublicURL {
		return fmt.Errorf("server: %w: the replica set serves at %s, this replica at %s: give every replica the same --public-url", ErrNotReplica, url, s.cfg.PublicURL)
	}
	// Recorded before the replica writes anything: a migration into a
	// replica set that has served would roll back what it served since.
	if _, err := st.Claim(ctx, replicaStarted, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.cfg.Logger.InfoContext(ctx, "replica set storage", "store", st.Describe())
	return nil
}

// replicaStarted is recorded in the replica set's identity by the first
// replica to start, with the time.
const replicaStarted = "replica-started"

// logConfig puts the transparency log on the shared storage, when there is
// one, with batches the database takes in one statement.
func (s *Server) logConfig(c logserver.Config) logserver.Config {
	if s.shared == nil {
		return c
	}
	c.Storage = s.shared.Log("log")
	c.BatchMaxSize = sharedBatchSize(s.shared.MaxAllowedPacket())
	return c
}

// sharedBatchSize bounds a batch of log entries so that tessera's insert
// of it (each entry at most logserver.DefaultMaxRequestBytes, with room to
// spare for its encoding) fits the database's max_allowed_packet.
func sharedBatchSize(maxPacket int64) uint {
	n := maxPacket / (2 * logserver.DefaultMaxRequestBytes)
	switch {
	case n < 1:
		return 1
	case n > logserver.DefaultBatchMaxSize:
		return logserver.DefaultBatchMaxSize
	}
	return uint(n)
}

// registryConfig puts the registry on the shared bucket (distribution's S3
// driver) and its referrer records in the shared database, when there are
// some, with the upload secret the first replica chose: any replica must
// take the next request of an upload another one started.
func (s *Server) registryConfig(ctx context.Context, c registry.Config) (registry.Config, error) {
	if s.shared == nil {
		return c, nil
	}
	name, params := s.shared.RegistryDriver()
	secret, err := s.shared.Claim(ctx, "registry-http-secret", []byte(rand.Text()))
	if err != nil {
		return c, fmt.Errorf("server: registry: %w", err)
	}
	c.Dir = ""
	c.Storage = &registry.StorageDriver{Name: name, Parameters: params}
	c.DB = s.shared.DB
	c.HTTPSecret = string(secret)
	return c, nil
}

// ErrNotReplica means a replica's keys or certificates are not the replica
// set's: it was not started on a copy of the first replica's data
// directory (or of the one rotated last).
var ErrNotReplica = errors.New("this data directory is not a copy of the replica set's")

// claimIdentity records in the shared database the certificates that make
// the replica set's identity, at the first replica's start, and refuses a
// replica whose own differ: the timestamp authority's chain and the CA's
// root and intermediate. (The logs record their keys themselves, before
// they sign.) A replica whose intermediate is newer, the registered one
// being among its retired ones (RotateCA), records the new one.
func (s *Server) claimIdentity(ctx context.Context, tsaChain, caChain []*x509.Certificate) error {
	if s.shared == nil {
		return nil
	}
	return claimIdentity(ctx, s.shared, s.cfg.DataDir, s.cfg.Logger, tsaChain, caChain)
}

func claimIdentity(ctx context.Context, shared *sharedstore.Store, dataDir string, logger *slog.Logger, tsaChain, caChain []*x509.Certificate) error {
	var tsaDER []byte
	for _, c := range tsaChain {
		tsaDER = append(tsaDER, c.Raw...)
	}
	if err := claim(ctx, shared, "tsa-chain", tsaDER, "timestamp authority's certificate chain"); err != nil {
		return err
	}
	if caChain == nil {
		return nil
	}
	if err := claim(ctx, shared, "ca-root", caChain[len(caChain)-1].Raw, "CA root"); err != nil {
		return err
	}
	inter := caChain[0].Raw
	got, err := shared.Claim(ctx, "ca-intermediate", inter)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if bytes.Equal(got, inter) {
		return nil
	}
	retired, err := retiredCAChains(dataDir)
	if err != nil {
		return fmt.Errorf("server: certificate authority: %w", err)
	}
	for _, c := range retired {
		if bytes.Equal(c.Certificates[0].Raw, got) {
			if ok, err := shared.Replace(ctx, "ca-intermediate", got, inter); err != nil {
				return fmt.Errorf("server: %w", err)
			} else if ok {
				logger.InfoContext(ctx, "replica set: the CA intermediate is the rotated one of this data directory")
				return nil
			}
			break
		}
	}
	return fmt.Errorf("server: %w: its CA intermediate is not the replica set's (rotated elsewhere? start the replica on a copy of the data directory the CA was rotated in)", ErrNotReplica)
}

func claim(ctx context.Context, shared *sharedstore.Store, name string, value []byte, what string) error {
	got, err := shared.Claim(ctx, name, value)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if !bytes.Equal(got, value) {
		return fmt.Errorf("server: %w: its %s is not the replica set's (start every replica on a copy of the first replica's data directory)", ErrNotReplica, what)
	}
	return nil
}

// SharedStorage names the replica set's database and bucket (without
// credentials), empty on the embedded store.
func (s *Server) SharedStorage() string {
	if s.shared == nil {
		return ""
	}
	return s.shared.Describe()
}
