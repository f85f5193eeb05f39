package quickstart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/policyops"
	"hallmark.dev/internal/server"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
	"hallmark.dev/verify"
)

// lookPath finds the tools the signing policy steps run; tests replace it.
var lookPath = exec.LookPath

// The signing policy of the sample source, as seed 002 asks for one: the
// release tag signed by the release key (an SSH key here; a key held in an
// HSM in production), two named maintainers approving the commit, and the
// release's own gate result passed.
const (
	sourceDir  = "source"
	tagKeyFile = "release-tag-key"
	policyFile = "signing-policy.yaml"
)

var maintainers = []string{"alice", "bob"}

// maintainer is the identity a maintainer approves with.
func maintainer(name string) string { return name + "@runner-images.example" }

// policyText is the signing policy, naming the maintainers' identities
// under the issuer and the release tag's SSH key.
func policyText(issuer, tagKey string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "principals:\n  release-key:\n    keys: [%q]\n", strings.TrimSpace(tagKey))
	for _, m := range maintainers {
		fmt.Fprintf(&b, "  %s:\n    identities:\n      - {issuer: %q, subject: %q}\n", m, issuer, maintainer(m))
	}
	b.WriteString(`rego: |
  package hallmark.signing

  maintainers := {"alice", "bob"}
  approvers := {a | some a in input.approvals; a in maintainers}
  tag_signed if input.tag.signer == "release-key"
  gate_passed if {
    some s in input.scans
    s.scanner == "hallmark"
    s.predicate.scanner.result.passed == true
  }

  default allow := false
  allow if {
    input.kind == "release"
    tag_signed
    gate_passed
    count(approvers) >= 2
  }

  deny contains msg if {
    not tag_signed
    msg := sprintf("tag %s is not signed by release-key", [input.tag.name])
  }
  deny contains msg if {
    count(approvers) < 2
    msg := sprintf("%d of 2 named maintainers approved", [count(approvers)])
  }
`)
	return []byte(b.String())
}

// source is the sample's source repository under a signing policy.
type source struct {
	repo   string // the repository as the policy names it
	gitDir string
	commit string
	tagKey string // the release key, an authorized_keys line
	// check is the release's signing policy check.
	check *policyops.ReleasePolicy
	// digest is the policy this run published; userDigest the one of the
	// policy file written for the commands (which names the issuer of
	// hallmark serve at its default address).
	digest, userDigest string
}

// missingTools returns the tools the signing policy steps need that are
// not installed.
func missingTools() []string {
	var missing []string
	for _, t := range []string{"git", "ssh-keygen"} {
		if _, err := lookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	return missing
}

// run runs a tool in dir with a git environment that no user or system
// configuration reaches (a global commit.gpgSign would sign with the
// user's key).
func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Release Bot", "GIT_AUTHOR_EMAIL="+maintainer("release-bot"),
		"GIT_COMMITTER_NAME=Release Bot", "GIT_COMMITTER_EMAIL="+maintainer("release-bot"))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("quickstart: %s %s: %v: %s", name, args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// newSource makes the source repository in dir: one commit, tagged
// sampleTag with a signature by a new SSH key.
func newSource(ctx context.Context, dir string) (*source, error) {
	keyPath := filepath.Join(dir, tagKeyFile)
	if _, err := run(ctx, dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "release key", "-f", keyPath); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(keyPath + ".pub")
	if err != nil {
		return nil, fmt.Errorf("quickstart: %w", err)
	}
	src := filepath.Join(dir, sourceDir)
	if _, err := run(ctx, dir, "git", "init", "-q", "-b", "main", src); err != nil {
		return nil, err
	}
	if _, err := run(ctx, src, "git", "commit", "-q", "--allow-empty", "-m", "runner image "+sampleTag); err != nil {
		return nil, err
	}
	commit, err := run(ctx, src, "git", "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	if _, err := run(ctx, src, "git", "-c", "gpg.format=ssh", "-c", "user.signingkey="+keyPath, "tag", "-s", "-m", "release "+sampleTag, sampleTag); err != nil {
		return nil, err
	}
	return &source{repo: "github.com/" + sampleRepo, gitDir: filepath.Join(src, ".git"), commit: commit, tagKey: string(pub)}, nil
}

// keyless returns a signer for subject's keyless signatures through srv.
func keyless(srv *server.Server, sc *root.SigningConfig, tr verify.TrustedRoot, subject string) (*sign.Signer, error) {
	token, err := srv.DevIssuer().Mint(subject, "sigstore", 10*time.Minute, nil)
	if err != nil {
		return nil, err
	}
	return sign.New(sign.Config{IDToken: token, SigningConfig: sc, TrustedRoot: tr})
}

// publish writes the policy file the commands name, publishes this run's
// policy as version 1 signed by the writer, and sets up the release's
// check (the writer's identity, the newest version remembered in dir).
func (s *source) publish(ctx context.Context, dir string, srv *server.Server, tr verify.TrustedRoot, writer *sign.Signer, writerID signpolicy.Identity, userIssuer string) (*policyops.PublishResult, error) {
	user := policyText(userIssuer, s.tagKey)
	if err := os.WriteFile(filepath.Join(dir, policyFile), user, 0o644); err != nil {
		return nil, fmt.Errorf("quickstart: %w", err)
	}
	s.userDigest = signpolicy.Digest(user)
	store, err := policyops.NewStoreClient(srv.URL(), true)
	if err != nil {
		return nil, err
	}
	res, err := policyops.Publish(ctx, policyops.PublishRequest{Store: store, Repository: s.repo, Policy: policyText(srv.URL()+"/oidc", s.tagKey), Signer: writer})
	if err != nil {
		return nil, fmt.Errorf("quickstart: publish the signing policy: %w", err)
	}
	s.digest = res.Digest
	s.check = &policyops.ReleasePolicy{
		Source: policyops.Source{Store: store, Trust: signpolicy.Trust{Root: tr, Writer: signpolicy.Writer{Identities: []signpolicy.Identity{writerID}}},
			Heads: policyops.DirHeads{Dir: filepath.Join(dir, "state", "signing-policy")}},
		Repository: s.repo, GitDir: s.gitDir, Tag: sampleTag, Require: true,
	}
	return res, nil
}

// approve signs name's approval of the commit.
func (s *source) approve(ctx context.Context, srv *server.Server, sc *root.SigningConfig, tr verify.TrustedRoot, name string) (*policyops.ApproveResult, error) {
	signer, err := keyless(srv, sc, tr, maintainer(name))
	if err != nil {
		return nil, err
	}
	res, err := policyops.Approve(ctx, policyops.ApproveRequest{Store: s.check.Source.Store, Repository: s.repo, Commit: s.commit, Signer: signer})
	if err != nil {
		return nil, fmt.Errorf("quickstart: %s's approval: %w", name, err)
	}
	return res, nil
}

// reportApproval reports name's approval.
func (s *source) reportApproval(report func(Step), userServer, name string, a *policyops.ApproveResult) {
	report(Step{
		Title:  name + ", a maintainer the policy names, approved the release of the tagged commit",
		Detail: fmt.Sprintf("identity %s, log index %d", maintainer(name), a.LogIndex),
		Command: fmt.Sprintf("hallmark dev-token --server %s --subject %s > %s.token && hallmark approve --server %s --repo %s --commit $(git -C %s rev-parse %s^{commit}) --identity-token %s.token",
			userServer, maintainer(name), name, userServer, s.repo, sourceDir, sampleTag, name),
	})
}

// policySetup makes the source repository, publishes its policy and signs
// the first maintainer's approval, beside the rest of the run: each is
// logged, and a log entry waits for the log's next checkpoint.
type policySetup struct {
	srcDone chan struct{}
	src     *source
	srcErr  error

	done     chan struct{}
	pub      *policyops.PublishResult
	approval *policyops.ApproveResult
	err      error
}

func startPolicySetup(ctx context.Context, dir string, srv *server.Server, sc *root.SigningConfig, tr verify.TrustedRoot, writer *sign.Signer, writerID signpolicy.Identity, userIssuer string) *policySetup {
	p := &policySetup{srcDone: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.src, p.srcErr = newSource(ctx, dir)
		close(p.srcDone)
		if p.srcErr != nil {
			return
		}
		if p.pub, p.err = p.src.publish(ctx, dir, srv, tr, writer, writerID, userIssuer); p.err != nil {
			return
		}
		p.approval, p.err = p.src.approve(ctx, srv, sc, tr, maintainers[0])
	}()
	return p
}

// source waits for the source repository.
func (p *policySetup) source() (*source, error) {
	<-p.srcDone
	return p.src, p.srcErr
}

// published waits for the policy and the first approval.
func (p *policySetup) published() (*policyops.PublishResult, *policyops.ApproveResult, error) {
	<-p.done
	return p.pub, p.approval, p.err
}

// wait waits for the setup to end.
func (p *policySetup) wait() { <-p.done }
