// Package policyops runs the signing policy's operations for hallmark's
// commands: approving a commit or a policy update, publishing a policy
// version, reading a repository's verified policy, and checking a release
// against it. Each is one call: the command binds flags, calls it, and
// prints the result.
package policyops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/internal/keyfile"
	"hallmark.dev/internal/policystore"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
	"hallmark.dev/verify"
)

// HeadStore remembers the newest policy version a reader has seen of each
// repository, so that a server that later serves an older version or a
// fork is caught.
type HeadStore interface {
	// Load returns the remembered head of repo, nil when there is none.
	Load(repo string) (*signpolicy.Head, error)
	// Save remembers h.
	Save(h signpolicy.Head) error
}

// DirHeads keeps heads in a directory, one JSON file per repository.
type DirHeads struct{ Dir string }

var _ HeadStore = DirHeads{}

func (d DirHeads) path(repo string) string {
	sum := sha256.Sum256([]byte(repo))
	return filepath.Join(d.Dir, hex.EncodeToString(sum[:])+".json")
}

// Load reads the head of repo.
func (d DirHeads) Load(repo string) (*signpolicy.Head, error) {
	data, err := os.ReadFile(d.path(repo))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remembered signing policy version: %w", err)
	}
	var h signpolicy.Head
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("remembered signing policy version %s: %w", d.path(repo), err)
	}
	if h.Repository != repo {
		return nil, fmt.Errorf("remembered signing policy version %s is of %s, not %s", d.path(repo), h.Repository, repo)
	}
	return &h, nil
}

// Save writes the head of its repository.
func (d DirHeads) Save(h signpolicy.Head) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("remembering the signing policy version: %w", err)
	}
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return keyfile.WriteFileAtomic(d.path(h.Repository), append(data, '\n'), 0o600)
}

// Source is where a repository's policy is read from and what it is
// verified against.
type Source struct {
	Store *policystore.Client
	Trust signpolicy.Trust
	// Heads remembers the newest version seen; nil remembers nothing.
	Heads HeadStore
}

// ShowResult is a verified chain.
type ShowResult struct {
	Chain *signpolicy.Chain `json:"chain"`
	// Seen is the newest version remembered before this read, nil on a
	// first read.
	Seen *signpolicy.Head `json:"seen,omitempty"`
	// Policy is the current version's policy file, empty when there is
	// none.
	Policy string `json:"policy,omitempty"`
}

// Show fetches a repository's chain, verifies it from version 1 and
// against the remembered head, and remembers its newest version.
func Show(ctx context.Context, src Source, repo string) (*ShowResult, error) {
	if err := signpolicy.CheckRepository(repo); err != nil {
		return nil, err
	}
	var seen *signpolicy.Head
	if src.Heads != nil {
		h, err := src.Heads.Load(repo)
		if err != nil {
			return nil, err
		}
		seen = h
	}
	entries, err := src.Store.Versions(ctx, repo)
	if err != nil {
		return nil, err
	}
	chain, err := signpolicy.VerifyChain(ctx, src.Trust, repo, entries, seen)
	if err != nil {
		return nil, err
	}
	if h := chain.Head(); h != nil && src.Heads != nil && (seen == nil || *h != *seen) {
		if err := src.Heads.Save(*h); err != nil {
			return nil, err
		}
	}
	res := &ShowResult{Chain: chain, Seen: seen}
	if cur := chain.Current(); cur != nil {
		res.Policy = string(cur.Policy.Bytes())
	}
	return res, nil
}

// signLogged signs a statement, refusing to without a transparency log.
func signLogged(ctx context.Context, s *sign.Signer, statement []byte) ([]byte, error) {
	if s == nil {
		return nil, sign.ErrNoSigner
	}
	if len(s.Options.BundleOptions.TransparencyLogs) == 0 {
		return nil, errors.New("approvals and policy versions must be logged, and no transparency log is configured")
	}
	return sign.Statement(ctx, s.Keypair, statement, s.Options)
}

// ApproveRequest is an approval to sign: of a commit, or of the next
// version of the policy (by its digest).
type ApproveRequest struct {
	Store      *policystore.Client
	Repository string
	// Commit approves a release of this commit; PolicyDigest approves the
	// policy file with this digest as the next version of the chain.
	Commit       string
	PolicyDigest string
	// Signer signs; its options must name a transparency log.
	Signer *sign.Signer
}

// ApproveResult is a stored approval.
type ApproveResult struct {
	Approval signpolicy.Approval `json:"approval"`
	Bundle   json.RawMessage     `json:"bundle"`
	// LogIndex is the approval's index in the transparency log.
	LogIndex int64 `json:"logIndex"`
	// Signer says who signed: a key fingerprint, or the certificate's
	// identity.
	Signer string `json:"signer"`
}

// Approve signs an approval, logs it, and stores it on the server. A
// policy update is approved as the version after the server's newest (the
// approval names both that number and the newest version's digest, so it
// counts for nothing else).
func Approve(ctx context.Context, req ApproveRequest) (*ApproveResult, error) {
	a := signpolicy.Approval{Repository: req.Repository}
	switch {
	case (req.Commit == "") == (req.PolicyDigest == ""):
		return nil, errors.New("approve either a commit or a policy update")
	case req.Commit != "":
		a.Kind, a.Commit = signpolicy.KindRelease, req.Commit
	default:
		if err := signpolicy.CheckDigest(req.PolicyDigest); err != nil {
			return nil, err
		}
		n, prev, err := next(ctx, req.Store, req.Repository)
		if err != nil {
			return nil, err
		}
		if n == 1 {
			return nil, fmt.Errorf("%s has no signing policy yet: its first version is signed by the policy writer alone and needs no approval", req.Repository)
		}
		a.Kind, a.Policy = signpolicy.KindPolicyUpdate, &signpolicy.PolicyFact{Version: n, Digest: req.PolicyDigest, PreviousDigest: prev}
	}
	st, err := a.Statement()
	if err != nil {
		return nil, err
	}
	bundle, err := signLogged(ctx, req.Signer, st)
	if err != nil {
		return nil, err
	}
	if err := req.Store.AddApproval(ctx, bundle); err != nil {
		return nil, err
	}
	return &ApproveResult{Approval: a, Bundle: bundle, LogIndex: logIndex(bundle), Signer: signerOf(req.Signer.Keypair, bundle)}, nil
}

// logIndex returns a bundle's first log entry's index, -1 if none.
func logIndex(bundle []byte) int64 {
	b, err := verify.ParseBundle(bundle)
	if err != nil {
		return -1
	}
	entries, err := b.TlogEntries()
	if err != nil || len(entries) == 0 {
		return -1
	}
	return entries[0].LogIndex()
}

// signerOf describes who signed a bundle: the certificate's identity, or
// the key's fingerprint.
func signerOf(kp sgsign.Keypair, bundle []byte) string {
	if b, err := verify.ParseBundle(bundle); err == nil {
		if vc, err := b.VerificationContent(); err == nil && vc.Certificate() != nil {
			c := vc.Certificate()
			for _, e := range c.EmailAddresses {
				return "identity " + e
			}
			for _, u := range c.URIs {
				return "identity " + u.String()
			}
		}
	}
	return "key " + keys.Fingerprint(kp.GetPublicKey())
}

// next returns the number the next version of repo takes on the server,
// and the digest of its newest, as the server says (unverified: a version
// or approval made on a lie counts for nothing on the real chain).
func next(ctx context.Context, store *policystore.Client, repo string) (int, string, error) {
	entries, err := store.Versions(ctx, repo)
	if err != nil {
		return 0, "", err
	}
	if len(entries) == 0 {
		return 1, "", nil
	}
	payload, err := policystore.Payload(entries[len(entries)-1].Bundle)
	if err != nil {
		return 0, "", fmt.Errorf("the server's newest version: %w", err)
	}
	rec, err := signpolicy.ParseRecord(payload)
	if err != nil {
		return 0, "", fmt.Errorf("the server's newest version: %w", err)
	}
	if rec.Version != len(entries) {
		return 0, "", fmt.Errorf("the server's newest version says it is version %d, but is entry %d", rec.Version, len(entries))
	}
	return rec.Version + 1, rec.Digest, nil
}

// PublishRequest is a policy file to publish as a repository's next
// version.
type PublishRequest struct {
	Store      *policystore.Client
	Repository string
	Policy     []byte
	// Signer signs; its options must name a transparency log.
	Signer *sign.Signer
}

// PublishResult is a published version.
type PublishResult struct {
	Repository     string `json:"repository"`
	Version        int    `json:"version"`
	Digest         string `json:"digest"`
	PreviousDigest string `json:"previousDigest,omitempty"`
	// Approvals is the number of approvals sent with an update.
	Approvals int    `json:"approvals"`
	LogIndex  int64  `json:"logIndex"`
	Signer    string `json:"signer"`
}

// Publish parses the policy, signs it as the next version (with the log),
// and sends it with the approvals the server holds for its digest. The
// server accepts it only as the next version of the chain, approved under
// both the previous policy and this one; a refusal is a
// *policystore.RefusedError whose Reason names it.
func Publish(ctx context.Context, req PublishRequest) (*PublishResult, error) {
	if _, err := signpolicy.Parse(req.Policy); err != nil {
		return nil, err
	}
	n, prev, err := next(ctx, req.Store, req.Repository)
	if err != nil {
		return nil, err
	}
	rec, err := signpolicy.NewRecord(req.Repository, n, prev, req.Policy)
	if err != nil {
		return nil, err
	}
	e := signpolicy.Entry{}
	if n > 1 {
		bundles, err := req.Store.Approvals(ctx, signpolicy.Approval{Repository: req.Repository, Kind: signpolicy.KindPolicyUpdate,
			Policy: &signpolicy.PolicyFact{Version: n, Digest: rec.Digest, PreviousDigest: prev}})
		if err != nil {
			return nil, err
		}
		for _, b := range bundles {
			e.Approvals = append(e.Approvals, b)
		}
	}
	st, err := rec.Statement()
	if err != nil {
		return nil, err
	}
	if e.Bundle, err = signLogged(ctx, req.Signer, st); err != nil {
		return nil, err
	}
	version, digest, err := req.Store.Publish(ctx, e)
	if err != nil {
		return nil, err
	}
	return &PublishResult{Repository: req.Repository, Version: version, Digest: digest, PreviousDigest: prev, Approvals: len(e.Approvals),
		LogIndex: logIndex(e.Bundle), Signer: signerOf(req.Signer.Keypair, e.Bundle)}, nil
}

// elapsed is a duration rounded for reports.
func elapsed(start time.Time) time.Duration { return time.Since(start).Round(time.Microsecond) }
