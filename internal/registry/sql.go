package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"hallmark.dev/internal/jsonstrict"
)

// sqlReferrers keeps the referrer records in the MySQL table
// hallmark_referrers, one row per record, for the replicas of a replica set
// to share. A record is durable once the statement that writes it has
// committed (InnoDB's default, innodb_flush_log_at_trx_commit=1).
type sqlReferrers struct{ db *sql.DB }

// referrersTable has one row per (repository, subject, referrer). Names
// are at most 255 bytes (distribution's limit), digests at most 135
// (sha512); binary columns compare bytewise, as the listing's order does.
const referrersTable = `CREATE TABLE IF NOT EXISTS hallmark_referrers (
	repo VARBINARY(255) NOT NULL,
	subject VARBINARY(160) NOT NULL,
	referrer VARBINARY(160) NOT NULL,
	record MEDIUMBLOB NOT NULL,
	PRIMARY KEY (repo, subject, referrer),
	KEY by_referrer (repo, referrer)
)`

func openSQLReferrers(ctx context.Context, db *sql.DB) (*sqlReferrers, error) {
	if _, err := db.ExecContext(ctx, referrersTable); err != nil {
		return nil, fmt.Errorf("registry: creating table hallmark_referrers: %w", err)
	}
	return &sqlReferrers{db: db}, nil
}

func (x *sqlReferrers) put(ctx context.Context, repo string, subject digest.Digest, d descriptor) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("registry: encoding referrer %s: %w", d.Digest, err)
	}
	if _, err := x.db.ExecContext(ctx,
		"INSERT INTO hallmark_referrers (repo, subject, referrer, record) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE record = VALUES(record)",
		repo, subject.String(), d.Digest.String(), b); err != nil {
		return fmt.Errorf("registry: recording referrer %s of %s: %w", d.Digest, subject, err)
	}
	return nil
}

func (x *sqlReferrers) remove(ctx context.Context, repo string, referrer digest.Digest) error {
	if _, err := x.db.ExecContext(ctx, "DELETE FROM hallmark_referrers WHERE repo = ? AND referrer = ?", repo, referrer.String()); err != nil {
		return fmt.Errorf("registry: removing referrer %s: %w", referrer, err)
	}
	return nil
}

func (x *sqlReferrers) referrers(ctx context.Context, repo string, subject digest.Digest) ([]digest.Digest, error) {
	rows, err := x.db.QueryContext(ctx, "SELECT referrer FROM hallmark_referrers WHERE repo = ? AND subject = ? ORDER BY referrer", repo, subject.String())
	if err != nil {
		return nil, fmt.Errorf("registry: listing referrers of %s: %w", subject, err)
	}
	defer rows.Close()
	var out []digest.Digest
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("registry: listing referrers of %s: %w", subject, err)
		}
		d, err := digest.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("registry: referrer record of %s: %q is not a digest", subject, s)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: listing referrers of %s: %w", subject, err)
	}
	return out, nil
}

func (x *sqlReferrers) get(ctx context.Context, repo string, subject, referrer digest.Digest) (d descriptor, ok bool, err error) {
	var b []byte
	err = x.db.QueryRowContext(ctx, "SELECT record FROM hallmark_referrers WHERE repo = ? AND subject = ? AND referrer = ?",
		repo, subject.String(), referrer.String()).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return descriptor{}, false, nil
	}
	if err != nil {
		return descriptor{}, false, fmt.Errorf("registry: reading referrer record: %w", err)
	}
	if len(b) > maxRecordSize {
		return descriptor{}, false, fmt.Errorf("registry: referrer record %s of %s is over %d bytes", referrer, subject, maxRecordSize)
	}
	if err := jsonstrict.Unmarshal(b, &d, recordRules); err != nil {
		return descriptor{}, false, fmt.Errorf("registry: referrer record %s of %s: %w", referrer, subject, err)
	}
	if d.Digest != referrer {
		return descriptor{}, false, fmt.Errorf("registry: referrer record %s of %s names digest %q", referrer, subject, d.Digest)
	}
	return d, true, nil
}
