package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/ctlog"
	"hallmark.dev/internal/keyfile"
	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/registry"
	"hallmark.dev/internal/sharedstore"
	"hallmark.dev/tlog"
)

// MigrateReport says what Migrate copied and checked.
type MigrateReport struct {
	// Log and CTLog are the logs' trees, nil when the data directory has
	// none (no CA, so no CT log).
	Log   *MigratedLog `json:"log,omitempty"`
	CTLog *MigratedLog `json:"ctLog,omitempty"`
	// Issuers are the CT log's issuer certificates copied.
	Issuers       int                    `json:"issuers"`
	Registry      registry.CopyResult    `json:"registry"`
	SigningPolicy policystore.CopyResult `json:"signingPolicy"`
}

// MigratedLog is a log's tree as copied: its size and root hash, the
// source checkpoint's, which the copy's rebuilt tree matched.
type MigratedLog struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
}

// ErrServing means a server runs on the data directory being migrated.
var ErrServing = errors.New("a server is running on the data directory")

// ErrDestinationServed: a replica has started on a migration's
// destination.
var ErrDestinationServed = errors.New("a replica set has already served from the destination")

// ErrNoReplicaSet: a migration's destination names no database and object
// store.
var ErrNoReplicaSet = errors.New("the destination names no database and object store")

// Migrate copies the embedded store of a data directory (a server that
// ran without Database and ObjectStore, now stopped) to the database and
// object store of to, for a replica set to serve:
//
//   - the transparency log and the CT log: entry bundles copied, the tree
//     rebuilt by tessera's migration and checked against the root of the
//     source's signed checkpoint, which is then published as it is; the
//     transparency log's duplicate index is filled;
//   - the CT log's issuer certificates;
//   - the registry: every file of distribution's tree, then every blob
//     (manifests among them) read back and checked against its digest;
//     the referrer records;
//   - the signing policy store: versions and approvals;
//   - the identity of the replica set: the logs' keys, the timestamp
//     authority's chain and the CA's certificates, so that replicas
//     started on copies of this data directory are accepted and others
//     refused.
//
// The keys stay in the data directory, which the replicas run on (copies
// of it). Migrate may run again after a failure; start no replica until
// it has succeeded.
func Migrate(ctx context.Context, from string, to Config) (*MigrateReport, error) {
	if to.Database == "" && to.ObjectStore == "" {
		return nil, fmt.Errorf("migrate: %w", ErrNoReplicaSet)
	}
	if err := checkReplicaConfig(to); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if _, err := os.Stat(filepath.Join(from, "log", "log-key.pem")); err != nil {
		return nil, fmt.Errorf("migrate: %s is not a hallmark data directory (no log/log-key.pem): %w", from, err)
	}
	for _, dir := range []string{"log", "ctlog"} {
		if _, err := os.Stat(filepath.Join(from, dir)); err != nil {
			continue
		}
		lock, err := keyfile.Lock(filepath.Join(from, dir, "lock"))
		if errors.Is(err, keyfile.ErrLocked) {
			return nil, fmt.Errorf("migrate: %w (%s): stop it first", ErrServing, from)
		}
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		defer lock.Close()
	}
	logger := to.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	shared, err := sharedstore.Open(ctx, sharedstore.Config{
		Database: to.Database, ObjectStore: to.ObjectStore,
		AccessKeyID: to.ObjectStoreCredentials.AccessKeyID, SecretAccessKey: to.ObjectStoreCredentials.SecretAccessKey,
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer shared.Close()
	if at, ok, err := shared.Recorded(ctx, replicaStarted); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	} else if ok {
		return nil, fmt.Errorf("migrate: %w (first replica started at %s): copying now would roll back what it has served since", ErrDestinationServed, at)
	}
	rep := &MigrateReport{}

	if rep.Log, err = migrateLog(ctx, shared.Log("log"), filepath.Join(from, "log"), "log-key.pem", false); err != nil {
		return rep, err
	}
	if _, err := os.Stat(filepath.Join(from, "ctlog", "ct-key.pem")); err == nil {
		st := shared.Log("ctlog")
		if rep.CTLog, err = migrateLog(ctx, st, filepath.Join(from, "ctlog"), "ct-key.pem", true); err != nil {
			return rep, err
		}
		if rep.Issuers, err = copyIssuers(ctx, st, filepath.Join(from, "ctlog", "tiles", "issuer")); err != nil {
			return rep, err
		}
	}
	name, params := shared.RegistryDriver()
	if rep.Registry, err = registry.Copy(ctx, filepath.Join(from, "registry"), registry.Config{Storage: &registry.StorageDriver{Name: name, Parameters: params}, DB: shared.DB}); err != nil {
		return rep, fmt.Errorf("migrate: %w", err)
	}
	if rep.SigningPolicy, err = policystore.Copy(ctx, filepath.Join(from, "signing-policy"), shared.DB); err != nil {
		return rep, fmt.Errorf("migrate: %w", err)
	}
	tsaChain, err := readPEMCerts(filepath.Join(from, "tsa", "chain.pem"))
	if err != nil {
		return rep, fmt.Errorf("migrate: timestamp authority: %w", err)
	}
	var caChain []*x509.Certificate
	if inter, err := readPEMCert(filepath.Join(from, "ca", caIntermediateCert)); err == nil {
		root, err := readPEMCert(filepath.Join(from, "ca", caRootCert))
		if err != nil {
			return rep, fmt.Errorf("migrate: certificate authority: %w", err)
		}
		caChain = []*x509.Certificate{inter, root}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return rep, fmt.Errorf("migrate: certificate authority: %w", err)
	}
	if err := claimIdentity(ctx, shared, from, logger, tsaChain, caChain); err != nil {
		return rep, fmt.Errorf("migrate: %w", err)
	}
	return rep, nil
}

// migrateLog copies the log in dir (its POSIX tree in dir/tiles, its key
// in dir/keyFile) into st, after checking that the source's checkpoint
// verifies with the key and recording the key as the shared log's. A
// directory without a checkpoint has nothing to copy.
func migrateLog(ctx context.Context, st *sharedstore.LogStorage, dir, keyFile string, ct bool) (*MigratedLog, error) {
	key, err := keyfile.Read(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", dir, err)
	}
	tiles := filepath.Join(dir, "tiles")
	raw, err := os.ReadFile(filepath.Join(tiles, "checkpoint"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	origin, _, _ := bytes.Cut(raw, []byte("\n"))
	var v note.Verifier
	if ct {
		v, _, err = ctlog.NewNoteVerifier(string(origin), key.Public())
	} else {
		v, err = tlog.NewNoteVerifier(string(origin), key.Public())
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", dir, err)
	}
	cp, err := tlog.VerifyCheckpoint(raw, v)
	if err != nil {
		return nil, fmt.Errorf("migrate: %s: the checkpoint does not verify with the log's key: %w", dir, err)
	}
	if ok, err := st.BindKey(ctx, key.Public()); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	} else if !ok {
		return nil, fmt.Errorf("migrate: %w: the destination holds a log of another key than %s", ErrNotReplica, filepath.Join(dir, keyFile))
	}
	// A log already there must be this one, as an interrupted migration
	// left it: anything else would be overwritten or never finish.
	dest, err := st.Read(ctx, "checkpoint")
	switch {
	case err == nil && bytes.Equal(dest, raw):
		return &MigratedLog{Size: cp.Size, Root: hex.EncodeToString(cp.Hash)}, nil
	case err == nil:
		return nil, fmt.Errorf("migrate: %w: the destination's %s has another checkpoint than the source's (size %d)", ErrNotReplica, dir, cp.Size)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := st.Import(ctx, tiles, raw, cp.Size, cp.Hash, ct, !ct); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return &MigratedLog{Size: cp.Size, Root: hex.EncodeToString(cp.Hash)}, nil
}

// copyIssuers copies the CT log's issuer certificates.
func copyIssuers(ctx context.Context, st *sharedstore.LogStorage, dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return n, fmt.Errorf("migrate: %w", err)
		}
		if err := st.Put(ctx, "issuer/"+e.Name(), data, "application/pkix-cert"); err != nil {
			return n, fmt.Errorf("migrate: %w", err)
		}
		n++
	}
	return n, nil
}

// readPEMCerts reads a PEM file of certificates.
func readPEMCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return out, nil
}
