// Package policystore keeps signing policies ([hallmark.dev/signpolicy])
// on a hallmark server, and is the client of that store. Per source
// repository, it holds the chain of policy versions, append-only, and the
// approvals people sign for releases and policy updates.
//
// The server accepts a version only if it verifies as the next one of the
// chain (signpolicy.VerifyNext: signed by the configured writer, logged,
// numbered and linked to the current version, an update approved under
// both the previous and the new policy); it never replaces or removes one.
// A version is on disk, fsynced (or committed to the shared database of a
// replica set), before it is acknowledged. Readers need
// no credentials and trust nothing the server says: they verify the chain
// themselves from version 1 (signpolicy.VerifyChain).
//
// Approvals are stored by subject, unverified beyond their form: who
// signed one, and whether it counts, is each reader's check under the
// policy it applies.
//
// HTTP surface, under [PathPrefix] (JSON):
//
//	GET  versions?repository=R          {"repository": R, "versions": [Entry…]}, from version 1
//	POST versions                        body Entry; 201 {"repository", "version", "digest"}
//	GET  approvals?repository=R&commit=C | &policy=sha256:D
//	                                     {"approvals": [bundle…]}
//	POST approvals                       body: a Sigstore bundle of an approval; 201
//	                                     (409 when the repository has no policy)
//
// A refused version is answered with {"error": message, "reason": reason}:
// 403 for a wrong signer or an under-approved update, 409 for a rollback,
// a fork or a skipped version, 400 for an invalid version.
package policystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"hallmark.dev/keys"
	"hallmark.dev/signpolicy"
	"hallmark.dev/verify"
)

// Config configures the store: who writes policies. Without a writer the
// store serves what it holds and accepts approvals, and refuses versions.
type Config struct {
	// WriterKeys are PEM public key files (cosign.pub) of the policy
	// writer (serve --policy-writer-key).
	WriterKeys []string `yaml:"policyWriterKeys"`
	// Writers are the policy writer's keyless identities: an OIDC issuer
	// and a certificate subject, both exact (serve --policy-writer
	// ISSUER=SUBJECT).
	Writers []signpolicy.Identity `yaml:"policyWriters"`
}

// Limits of what the store takes.
const (
	// MaxBundle bounds one bundle (a version or an approval).
	MaxBundle = 256 << 10
	// MaxApprovals bounds the approvals stored per subject, and carried
	// by one version.
	MaxApprovals = 256
)

// Errors the HTTP front end answers by.
var (
	// ErrNoWriter: the server has no policy writer configured.
	ErrNoWriter = errors.New("this server has no policy writer configured, so it accepts no policy versions (hallmark serve --policy-writer-key FILE or --policy-writer ISSUER=SUBJECT)")
	// ErrTooMany: a subject has MaxApprovals approvals already.
	ErrTooMany = errors.New("too many approvals for this subject")
	// ErrNoPolicy: an approval for a repository without a published
	// policy, which nothing would read.
	ErrNoPolicy = errors.New("the repository has no signing policy on this server: publish its first version before approving")
)

// Store is the store. Its records are on disk by default, in one
// directory ([New]):
//
//	DIR/<sha256 of the repository>/repository          the repository URI
//	DIR/<…>/versions/<version, 10 digits>.json         an Entry
//	DIR/<…>/approvals/<commit-HEX | policy-HEX>/<sha256 of the bundle>.json
//
// or, for the replicas of a replica set, in MySQL tables that they share
// ([NewSQL]). The verified head of each chain is kept in memory and
// caught up with the stored chain at each publication, so a version
// another replica stored is verified before the next one is accepted.
type Store struct {
	records backend
	trust   signpolicy.Trust
	writer  bool
	logger  *slog.Logger

	mu    sync.Mutex
	heads map[string]*signpolicy.Version // the verified newest version of each repository read so far
}

// backend keeps the store's records: dirBackend in a directory (one
// process), sqlBackend in MySQL tables (replicas).
type backend interface {
	// versions returns a repository's versions as stored, from version 1.
	versions(ctx context.Context, repo string) ([][]byte, error)
	// putVersion stores version n of repo, durably, unless the
	// repository has a version n already: then it returns
	// errVersionExists and changes nothing.
	putVersion(ctx context.Context, repo string, n int, entry []byte) error
	// putApproval stores an approval bundle under subject (its
	// SHA-256 names it: the same bundle again changes nothing); ErrTooMany
	// when the subject has MaxApprovals already.
	putApproval(ctx context.Context, repo, subject string, bundle []byte) error
	// approvals returns the bundles stored under subject, in a stable
	// order.
	approvals(ctx context.Context, repo, subject string) ([][]byte, error)
}

// errVersionExists: the version number is taken.
var errVersionExists = errors.New("the version exists")

var (
	_ backend = (*dirBackend)(nil)
	_ backend = (*sqlBackend)(nil)
)

// New opens the store in dir (created if missing). root is the server's
// trusted root: the log every version and approval must be in, and the CA
// of keyless writers.
func New(cfg Config, dir string, root verify.TrustedRoot, logger *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("policystore: %w", err)
	}
	return newStore(cfg, &dirBackend{dir: dir}, root, logger)
}

func newStore(cfg Config, records backend, root verify.TrustedRoot, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{records: records, logger: logger, heads: map[string]*signpolicy.Version{}, trust: signpolicy.Trust{Root: root}}
	for _, path := range cfg.WriterKeys {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("policystore: policy writer key: %w", err)
		}
		pub, err := keys.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("policystore: policy writer key %s: %w", path, err)
		}
		s.trust.Writer.Keys = append(s.trust.Writer.Keys, crypto.PublicKey(pub))
	}
	for _, id := range cfg.Writers {
		if id.Issuer == "" || id.Subject == "" {
			return nil, fmt.Errorf("policystore: policy writer identity %q: want ISSUER=SUBJECT", id.String())
		}
		s.trust.Writer.Identities = append(s.trust.Writer.Identities, id)
	}
	s.writer = len(s.trust.Writer.Keys) > 0 || len(s.trust.Writer.Identities) > 0
	return s, nil
}

func repoKey(repo string) string {
	sum := sha256.Sum256([]byte(repo))
	return hex.EncodeToString(sum[:])
}

// Versions returns a repository's stored chain, from version 1; empty when
// it has none.
func (s *Store) Versions(ctx context.Context, repo string) ([]signpolicy.Entry, error) {
	if err := signpolicy.CheckRepository(repo); err != nil {
		return nil, err
	}
	stored, err := s.records.versions(ctx, repo)
	if err != nil {
		return nil, err
	}
	entries := make([]signpolicy.Entry, 0, len(stored))
	for i, data := range stored {
		var e signpolicy.Entry
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("policystore: %s version %d: %w", repo, i+1, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func versionFile(n int) string { return fmt.Sprintf("%010d.json", n) }

// head returns the verified newest version of repo (nil when it has
// none): the stored chain is verified on first use, and the versions
// stored since the cached head (by another replica) are verified one by
// one. Callers hold s.mu.
func (s *Store) head(ctx context.Context, repo string) (*signpolicy.Version, error) {
	entries, err := s.Versions(ctx, repo)
	if err != nil {
		return nil, err
	}
	cur, ok := s.heads[repo]
	if !ok || cur == nil && len(entries) > 0 || cur != nil && cur.Number > len(entries) {
		c, err := signpolicy.VerifyChain(ctx, s.trust, repo, entries, nil)
		if err != nil {
			return nil, fmt.Errorf("policystore: the stored chain does not verify: %w", err)
		}
		s.heads[repo] = c.Current()
		return c.Current(), nil
	}
	n := 0
	if cur != nil {
		n = cur.Number
	}
	for _, e := range entries[n:] {
		if cur, err = signpolicy.VerifyNext(ctx, s.trust, repo, cur, e); err != nil {
			return nil, fmt.Errorf("policystore: the stored chain does not verify: %w", err)
		}
	}
	s.heads[repo] = cur
	return cur, nil
}

// Publish verifies e as the next version of its repository and stores it,
// durably, before it returns. A refusal is a *signpolicy.ChainError.
func (s *Store) Publish(ctx context.Context, e signpolicy.Entry) (*signpolicy.Version, error) {
	if !s.writer {
		return nil, ErrNoWriter
	}
	if len(e.Bundle) > MaxBundle {
		return nil, fmt.Errorf("the version bundle is over %d bytes", MaxBundle)
	}
	if len(e.Approvals) > MaxApprovals {
		return nil, fmt.Errorf("%d approvals, over the limit of %d", len(e.Approvals), MaxApprovals)
	}
	// The repository is read from the statement before it is verified,
	// to find the chain to verify it against; VerifyNext checks it.
	payload, err := Payload(e.Bundle)
	if err != nil {
		return nil, err
	}
	rec, err := signpolicy.ParseRecord(payload)
	if err != nil {
		return nil, err
	}
	repo := rec.Repository
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.head(ctx, repo)
	if err != nil {
		return nil, err
	}
	v, err := signpolicy.VerifyNext(ctx, s.trust, repo, cur, e)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if err := s.records.putVersion(ctx, repo, v.Number, data); errors.Is(err, errVersionExists) {
		// Another replica stored this version number since head read the
		// chain: this entry forks from it, unless it is the same entry.
		delete(s.heads, repo)
		stored, serr := s.records.versions(ctx, repo)
		if serr == nil && len(stored) >= v.Number && bytes.Equal(stored[v.Number-1], data) {
			return v, nil
		}
		return nil, &signpolicy.ChainError{Repository: repo, Version: v.Number, Reason: signpolicy.ReasonFork,
			Err: fmt.Errorf("another version %d was published meanwhile", v.Number)}
	} else if err != nil {
		return nil, err
	}
	s.heads[repo] = v
	s.logger.Info("signing policy version stored", "repository", repo, "version", v.Number, "digest", v.Digest)
	return v, nil
}

// Payload returns the DSSE payload of a bundle, unverified.
func Payload(bundle []byte) ([]byte, error) {
	b, err := verify.ParseBundle(bundle)
	if err != nil {
		return nil, err
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, errors.New("the bundle holds no DSSE envelope")
	}
	return env.GetPayload(), nil
}

// subjectName names the subject of an approval in the store.
func subjectName(a signpolicy.Approval) string {
	if a.Kind == signpolicy.KindRelease {
		return "commit-" + a.Commit
	}
	return "policy-" + strings.TrimPrefix(a.Policy.Digest, "sha256:")
}

// AddApproval stores an approval bundle under its subject, for a
// repository that has a policy ([ErrNoPolicy]). It checks the bundle's
// form and that it carries a log entry; whether it verifies, and for whom,
// is each reader's check.
func (s *Store) AddApproval(ctx context.Context, bundle []byte) (signpolicy.Approval, error) {
	if len(bundle) > MaxBundle {
		return signpolicy.Approval{}, fmt.Errorf("the approval bundle is over %d bytes", MaxBundle)
	}
	b, err := verify.ParseBundle(bundle)
	if err != nil {
		return signpolicy.Approval{}, err
	}
	if entries, err := b.TlogEntries(); err != nil || len(entries) == 0 {
		return signpolicy.Approval{}, errors.New("the approval bundle carries no transparency log entry: approvals must be logged")
	}
	payload, err := Payload(bundle)
	if err != nil {
		return signpolicy.Approval{}, err
	}
	a, err := signpolicy.ParseApproval(payload)
	if err != nil {
		return signpolicy.Approval{}, err
	}
	// Only repositories with a policy take approvals: anyone may post
	// one, and a repository nobody governs is no place to store them.
	versions, err := s.records.versions(ctx, a.Repository)
	if err != nil {
		return signpolicy.Approval{}, err
	}
	if len(versions) == 0 {
		return signpolicy.Approval{}, fmt.Errorf("%s: %w", a.Repository, ErrNoPolicy)
	}
	if err := s.records.putApproval(ctx, a.Repository, subjectName(a), bundle); err != nil {
		return signpolicy.Approval{}, err
	}
	s.logger.Info("approval stored", "repository", a.Repository, "subject", subjectName(a))
	return a, nil
}

// Approvals returns the stored approval bundles of a commit or a policy
// digest of a repository, in a stable order.
func (s *Store) Approvals(ctx context.Context, repo string, commit, policyDigest string) ([][]byte, error) {
	if err := signpolicy.CheckRepository(repo); err != nil {
		return nil, err
	}
	var sub string
	switch {
	case commit != "" && policyDigest == "":
		if err := signpolicy.CheckCommit(commit); err != nil {
			return nil, err
		}
		sub = "commit-" + commit
	case policyDigest != "" && commit == "":
		if err := signpolicy.CheckDigest(policyDigest); err != nil {
			return nil, err
		}
		sub = "policy-" + strings.TrimPrefix(policyDigest, "sha256:")
	default:
		return nil, errors.New("give exactly one of commit and policy")
	}
	return s.records.approvals(ctx, repo, sub)
}
