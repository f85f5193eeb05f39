package policystore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"hallmark.dev/internal/keyfile"
	"hallmark.dev/verify"
)

// dirBackend keeps the records in files under dir, fsynced before they are
// acknowledged, for one process.
type dirBackend struct {
	dir string
	mu  sync.Mutex // approvals: the count and the write of one subject
}

func (d *dirBackend) repoDir(repo string) string { return filepath.Join(d.dir, repoKey(repo)) }

func (d *dirBackend) versions(_ context.Context, repo string) ([][]byte, error) {
	dir := filepath.Join(d.repoDir(repo), "versions")
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policystore: %w", err)
	}
	var files []string
	for _, n := range names {
		if !strings.HasPrefix(n.Name(), ".") && strings.HasSuffix(n.Name(), ".json") {
			files = append(files, n.Name())
		}
	}
	sort.Strings(files)
	out := make([][]byte, 0, len(files))
	for i, name := range files {
		if want := versionFile(i + 1); name != want {
			return nil, fmt.Errorf("policystore: %s: version files are not contiguous: %s where %s belongs", repo, name, want)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("policystore: %w", err)
		}
		out = append(out, data)
	}
	return out, nil
}

func (d *dirBackend) putVersion(_ context.Context, repo string, n int, entry []byte) error {
	dir := filepath.Join(d.repoDir(repo), "versions")
	if err := d.mkdirs(repo, dir); err != nil {
		return err
	}
	err := keyfile.WriteFileExclusive(filepath.Join(dir, versionFile(n)), entry, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return errVersionExists
	}
	if err != nil {
		return fmt.Errorf("policystore: %w", err)
	}
	return nil
}

func (d *dirBackend) putApproval(_ context.Context, repo, subject string, bundle []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir := filepath.Join(d.repoDir(repo), "approvals", subject)
	if err := d.mkdirs(repo, dir); err != nil {
		return err
	}
	sum := sha256.Sum256(bundle)
	path := filepath.Join(dir, hex.EncodeToString(sum[:])+".json")
	if _, err := os.Stat(path); err == nil {
		return nil // the same approval again
	}
	if names, err := os.ReadDir(dir); err == nil && len(names) >= MaxApprovals {
		return ErrTooMany
	}
	if err := keyfile.WriteFileExclusive(path, bundle, 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("policystore: %w", err)
	}
	return nil
}

func (d *dirBackend) approvals(_ context.Context, repo, subject string) ([][]byte, error) {
	dir := filepath.Join(d.repoDir(repo), "approvals", subject)
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policystore: %w", err)
	}
	var out [][]byte
	for _, n := range names {
		if strings.HasPrefix(n.Name(), ".") || !strings.HasSuffix(n.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			return nil, fmt.Errorf("policystore: %w", err)
		}
		out = append(out, data)
	}
	return out, nil
}

// mkdirs creates dir (under the repository's directory, which records the
// repository URI) durably.
func (d *dirBackend) mkdirs(repo, dir string) error {
	rd := d.repoDir(repo)
	if _, err := os.Stat(rd); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(rd, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("policystore: %w", err)
		}
		if err := keyfile.WriteFileAtomic(filepath.Join(rd, "repository"), []byte(repo+"\n"), 0o644); err != nil {
			return fmt.Errorf("policystore: %w", err)
		}
		if err := keyfile.SyncDir(d.dir); err != nil {
			return fmt.Errorf("policystore: %w", err)
		}
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("policystore: %w", err)
		}
		for p := dir; p != d.dir && p != filepath.Dir(p); p = filepath.Dir(p) {
			if err := keyfile.SyncDir(filepath.Dir(p)); err != nil {
				return fmt.Errorf("policystore: %w", err)
			}
		}
	}
	return nil
}

// sqlBackend keeps the records in MySQL tables that the replicas of a
// replica set share: a version is one row, its number unique per
// repository, so two replicas cannot both store a version n.
type sqlBackend struct{ db *sql.DB }

// NewSQL opens the store on db, creating its tables
// (hallmark_policy_versions, hallmark_policy_approvals) if missing.
func NewSQL(ctx context.Context, cfg Config, db *sql.DB, root verify.TrustedRoot, logger *slog.Logger) (*Store, error) {
	if err := createTables(ctx, db); err != nil {
		return nil, err
	}
	return newStore(cfg, &sqlBackend{db: db}, root, logger)
}

func createTables(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS hallmark_policy_versions (
			repo_key BINARY(32) NOT NULL,
			version INT UNSIGNED NOT NULL,
			repo VARBINARY(4096) NOT NULL,
			entry LONGBLOB NOT NULL,
			PRIMARY KEY (repo_key, version)
		)`,
		`CREATE TABLE IF NOT EXISTS hallmark_policy_approvals (
			repo_key BINARY(32) NOT NULL,
			subject VARBINARY(80) NOT NULL,
			bundle_sum BINARY(32) NOT NULL,
			bundle MEDIUMBLOB NOT NULL,
			PRIMARY KEY (repo_key, subject, bundle_sum)
		)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("policystore: creating tables: %w", err)
		}
	}
	return nil
}

func repoKeyBytes(repo string) []byte {
	sum := sha256.Sum256([]byte(repo))
	return sum[:]
}

func (b *sqlBackend) versions(ctx context.Context, repo string) ([][]byte, error) {
	rows, err := b.db.QueryContext(ctx, "SELECT version, entry FROM hallmark_policy_versions WHERE repo_key = ? ORDER BY version", repoKeyBytes(repo))
	if err != nil {
		return nil, fmt.Errorf("policystore: reading versions: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var n int
		var entry []byte
		if err := rows.Scan(&n, &entry); err != nil {
			return nil, fmt.Errorf("policystore: reading versions: %w", err)
		}
		if n != len(out)+1 {
			return nil, fmt.Errorf("policystore: %s: stored versions are not contiguous: version %d where %d belongs", repo, n, len(out)+1)
		}
		out = append(out, entry)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("policystore: reading versions: %w", err)
	}
	return out, nil
}

func (b *sqlBackend) putVersion(ctx context.Context, repo string, n int, entry []byte) error {
	res, err := b.db.ExecContext(ctx, "INSERT IGNORE INTO hallmark_policy_versions (repo_key, version, repo, entry) VALUES (?, ?, ?, ?)", repoKeyBytes(repo), n, repo, entry)
	if err != nil {
		return fmt.Errorf("policystore: storing version %d: %w", n, err)
	}
	if added, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("policystore: storing version %d: %w", n, err)
	} else if added == 0 {
		return errVersionExists
	}
	return nil
}

func (b *sqlBackend) putApproval(ctx context.Context, repo, subject string, bundle []byte) error {
	sum := sha256.Sum256(bundle)
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("policystore: storing an approval: %w", err)
	}
	defer tx.Rollback()
	// The locking read holds the subject's rows (and the gap after them)
	// until the commit: two replicas cannot both add the last one.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM hallmark_policy_approvals WHERE repo_key = ? AND subject = ? FOR UPDATE", repoKeyBytes(repo), subject).Scan(&n); err != nil {
		return fmt.Errorf("policystore: storing an approval: %w", err)
	}
	var one int
	switch err := tx.QueryRowContext(ctx, "SELECT 1 FROM hallmark_policy_approvals WHERE repo_key = ? AND subject = ? AND bundle_sum = ?", repoKeyBytes(repo), subject, sum[:]).Scan(&one); {
	case err == nil:
		return nil // the same approval again
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("policystore: storing an approval: %w", err)
	}
	if n >= MaxApprovals {
		return ErrTooMany
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO hallmark_policy_approvals (repo_key, subject, bundle_sum, bundle) VALUES (?, ?, ?, ?)", repoKeyBytes(repo), subject, sum[:], bundle); err != nil {
		return fmt.Errorf("policystore: storing an approval: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("policystore: storing an approval: %w", err)
	}
	return nil
}

func (b *sqlBackend) approvals(ctx context.Context, repo, subject string) ([][]byte, error) {
	rows, err := b.db.QueryContext(ctx, "SELECT bundle FROM hallmark_policy_approvals WHERE repo_key = ? AND subject = ? ORDER BY bundle_sum", repoKeyBytes(repo), subject)
	if err != nil {
		return nil, fmt.Errorf("policystore: reading approvals: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var bundle []byte
		if err := rows.Scan(&bundle); err != nil {
			return nil, fmt.Errorf("policystore: reading approvals: %w", err)
		}
		out = append(out, bundle)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("policystore: reading approvals: %w", err)
	}
	return out, nil
}

// CopyResult counts what Copy copied.
type CopyResult struct {
	Repositories int `json:"repositories"`
	Versions     int `json:"versions"`
	Approvals    int `json:"approvals"`
}

// Copy copies the store kept in dir (New) into the tables of db (NewSQL),
// creating them if missing: every repository's versions, in order, and
// its approvals. A version already in db must be the same entry. Copy may
// run again after a failure.
func Copy(ctx context.Context, dir string, db *sql.DB) (CopyResult, error) {
	var res CopyResult
	if err := createTables(ctx, db); err != nil {
		return res, err
	}
	from, to := &dirBackend{dir: dir}, &sqlBackend{db: db}
	repos, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("policystore: %w", err)
	}
	for _, rd := range repos {
		if !rd.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, rd.Name(), "repository"))
		if err != nil {
			return res, fmt.Errorf("policystore: %s: %w", rd.Name(), err)
		}
		repo := strings.TrimSuffix(string(data), "\n")
		if repoKey(repo) != rd.Name() {
			return res, fmt.Errorf("policystore: %s names repository %q, whose key is %s", rd.Name(), repo, repoKey(repo))
		}
		versions, err := from.versions(ctx, repo)
		if err != nil {
			return res, err
		}
		stored, err := to.versions(ctx, repo)
		if err != nil {
			return res, err
		}
		for i, v := range versions {
			if i < len(stored) {
				if !bytes.Equal(stored[i], v) {
					return res, fmt.Errorf("policystore: %s version %d: the destination holds another one", repo, i+1)
				}
				continue
			}
			if err := to.putVersion(ctx, repo, i+1, v); err != nil {
				return res, fmt.Errorf("policystore: %s version %d: %w", repo, i+1, err)
			}
		}
		res.Repositories++
		res.Versions += len(versions)
		subjects, err := os.ReadDir(filepath.Join(dir, rd.Name(), "approvals"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("policystore: %w", err)
		}
		for _, sd := range subjects {
			bundles, err := from.approvals(ctx, repo, sd.Name())
			if err != nil {
				return res, err
			}
			for _, b := range bundles {
				if err := to.putApproval(ctx, repo, sd.Name(), b); err != nil {
					return res, fmt.Errorf("policystore: %s approvals of %s: %w", repo, sd.Name(), err)
				}
				res.Approvals++
			}
		}
	}
	return res, nil
}
