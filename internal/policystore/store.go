// Package policystore keeps signing policies ([hallmark.dev/signpolicy])
// on a hallmark server, and is the client of that store. Per source
// repository, it holds the chain of policy versions, append-only, and the
// approvals people sign for releases and policy updates.
//
// The server accepts a version only if it verifies as the next one of the
// chain (signpolicy.VerifyNext: signed by the configured writer, logged,
// numbered and linked to the current version, an update approved under
// both the previous and the new policy); it never replaces or removes one.
// A version is on disk, fsynced, before it is acknowledged. Readers need
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
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// Store is the on-disk store, in one directory:
//
//	DIR/<sha256 of the repository>/repository          the repository URI
//	DIR/<…>/versions/<version, 10 digits>.json         an Entry
//	DIR/<…>/approvals/<commit-HEX | policy-HEX>/<sha256 of the bundle>.json
type Store struct {
	dir    string
	trust  signpolicy.Trust
	writer bool
	logger *slog.Logger

	mu    sync.Mutex
	heads map[string]*signpolicy.Version // the verified newest version of each repository read so far
}

// New opens the store in dir (created if missing). root is the server's
// trusted root: the log every version and approval must be in, and the CA
// of keyless writers.
func New(cfg Config, dir string, root verify.TrustedRoot, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("policystore: %w", err)
	}
	s := &Store{dir: dir, logger: logger, heads: map[string]*signpolicy.Version{}, trust: signpolicy.Trust{Root: root}}
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

func (s *Store) repoDir(repo string) string { return filepath.Join(s.dir, repoKey(repo)) }

// Versions returns a repository's stored chain, from version 1; empty when
// it has none.
func (s *Store) Versions(repo string) ([]signpolicy.Entry, error) {
	if err := signpolicy.CheckRepository(repo); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.repoDir(repo), "versions")
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
	entries := make([]signpolicy.Entry, 0, len(files))
	for i, name := range files {
		if want := versionFile(i + 1); name != want {
			return nil, fmt.Errorf("policystore: %s: version files are not contiguous: %s where %s belongs", repo, name, want)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("policystore: %w", err)
		}
		var e signpolicy.Entry
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("policystore: %s: %w", name, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func versionFile(n int) string { return fmt.Sprintf("%010d.json", n) }

// head returns the verified newest version of repo (nil when it has
// none), verifying the stored chain on first use. Callers hold s.mu.
func (s *Store) head(ctx context.Context, repo string) (*signpolicy.Version, error) {
	if v, ok := s.heads[repo]; ok {
		return v, nil
	}
	entries, err := s.Versions(repo)
	if err != nil {
		return nil, err
	}
	c, err := signpolicy.VerifyChain(ctx, s.trust, repo, entries, nil)
	if err != nil {
		return nil, fmt.Errorf("policystore: the stored chain does not verify: %w", err)
	}
	s.heads[repo] = c.Current()
	return c.Current(), nil
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
	dir := filepath.Join(s.repoDir(repo), "versions")
	if err := s.mkdirs(repo, dir); err != nil {
		return nil, err
	}
	if err := keyfile.WriteFileExclusive(filepath.Join(dir, versionFile(v.Number)), data, 0o644); err != nil {
		return nil, fmt.Errorf("policystore: %w", err)
	}
	s.heads[repo] = v
	s.logger.Info("signing policy version stored", "repository", repo, "version", v.Number, "digest", v.Digest)
	return v, nil
}

// mkdirs creates dir (under the repository's directory, which records the
// repository URI) durably.
func (s *Store) mkdirs(repo, dir string) error {
	rd := s.repoDir(repo)
	if _, err := os.Stat(rd); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(rd, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("policystore: %w", err)
		}
		if err := keyfile.WriteFileAtomic(filepath.Join(rd, "repository"), []byte(repo+"\n"), 0o644); err != nil {
			return fmt.Errorf("policystore: %w", err)
		}
		if err := keyfile.SyncDir(s.dir); err != nil {
			return fmt.Errorf("policystore: %w", err)
		}
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("policystore: %w", err)
		}
		for d := dir; d != s.dir && d != filepath.Dir(d); d = filepath.Dir(d) {
			if err := keyfile.SyncDir(filepath.Dir(d)); err != nil {
				return fmt.Errorf("policystore: %w", err)
			}
		}
	}
	return nil
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

// subjectDir is where the approvals of an approval's subject are stored.
func subjectDir(a signpolicy.Approval) string {
	if a.Kind == signpolicy.KindRelease {
		return "commit-" + a.Commit
	}
	return "policy-" + strings.TrimPrefix(a.Policy.Digest, "sha256:")
}

// AddApproval stores an approval bundle under its subject, for a
// repository that has a policy ([ErrNoPolicy]). It checks the bundle's
// form and that it carries a log entry; whether it verifies, and for whom,
// is each reader's check.
func (s *Store) AddApproval(bundle []byte) (signpolicy.Approval, error) {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only repositories with a policy take approvals: anyone may post
	// one, and a repository nobody governs is no place to store them.
	if _, err := os.Stat(filepath.Join(s.repoDir(a.Repository), "versions", versionFile(1))); err != nil {
		return signpolicy.Approval{}, fmt.Errorf("%s: %w", a.Repository, ErrNoPolicy)
	}
	dir := filepath.Join(s.repoDir(a.Repository), "approvals", subjectDir(a))
	if err := s.mkdirs(a.Repository, dir); err != nil {
		return signpolicy.Approval{}, err
	}
	sum := sha256.Sum256(bundle)
	path := filepath.Join(dir, hex.EncodeToString(sum[:])+".json")
	if _, err := os.Stat(path); err == nil {
		return a, nil // the same approval again
	}
	if names, err := os.ReadDir(dir); err == nil && len(names) >= MaxApprovals {
		return signpolicy.Approval{}, ErrTooMany
	}
	if err := keyfile.WriteFileExclusive(path, bundle, 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
		return signpolicy.Approval{}, fmt.Errorf("policystore: %w", err)
	}
	s.logger.Info("approval stored", "repository", a.Repository, "subject", subjectDir(a))
	return a, nil
}

// Approvals returns the stored approval bundles of a commit or a policy
// digest of a repository, in a stable order.
func (s *Store) Approvals(repo string, commit, policyDigest string) ([][]byte, error) {
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
	dir := filepath.Join(s.repoDir(repo), "approvals", sub)
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
