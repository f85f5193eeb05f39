package policyops_test

import (
	"context"
	"crypto"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/internal/policyops"
	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
)

func TestMain(m *testing.M) {
	quietlog.Klog()
	os.Exit(m.Run())
}

const repo = "git.example.com/acme/app"

// release is a server with a published policy, and a git repository with
// a commit tagged v1 by the policy's tag key.
type release struct {
	st     *testkit.Stack
	src    policyops.Source
	writer crypto.Signer
	alice  crypto.Signer
	bob    crypto.Signer
	gitDir string
	commit string
}

func run(tb testing.TB, dir string, name string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func newKey(tb testing.TB) (crypto.Signer, string) {
	tb.Helper()
	s, pem := lite.NewPEMKey(tb)
	return s, "        " + strings.ReplaceAll(strings.TrimSpace(pem), "\n", "\n        ")
}

func signing(tb testing.TB, st *testkit.Stack, s crypto.Signer) *sign.Signer {
	kp, opts := st.KeyOptions(tb, s)
	return &sign.Signer{Keypair: kp, Options: opts}
}

func newRelease(tb testing.TB) *release {
	tb.Helper()
	testkit.RequireTools(tb, "git", "ssh-keygen")
	dir := tb.TempDir()
	r := &release{}
	var alicePEM, bobPEM string
	r.writer, _ = newKey(tb)
	r.alice, alicePEM = newKey(tb)
	r.bob, bobPEM = newKey(tb)
	writerPub, err := keys.MarshalPublicKey(r.writer.Public())
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "writer.pub"), writerPub, 0o644); err != nil {
		tb.Fatal(err)
	}
	r.st = testkit.StartStack(tb, func(_ string, cfg *server.Config) {
		cfg.SigningPolicy.WriterKeys = []string{filepath.Join(dir, "writer.pub")}
	})
	store := &policystore.Client{BaseURL: r.st.URL}
	r.src = policyops.Source{Store: store, Trust: signpolicy.Trust{Root: r.st.TrustedRoot, Writer: signpolicy.Writer{Keys: []crypto.PublicKey{r.writer.Public()}}},
		Heads: policyops.DirHeads{Dir: filepath.Join(dir, "state")}}

	run(tb, dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "tagkey"))
	tagPub, err := os.ReadFile(filepath.Join(dir, "tagkey.pub"))
	if err != nil {
		tb.Fatal(err)
	}
	run(tb, dir, "git", "init", "-q", "-b", "main", "src")
	src := filepath.Join(dir, "src")
	run(tb, src, "git", "commit", "-q", "--allow-empty", "-m", "one")
	r.commit = run(tb, src, "git", "rev-parse", "HEAD")
	run(tb, src, "git", "-c", "gpg.format=ssh", "-c", "user.signingkey="+filepath.Join(dir, "tagkey"), "tag", "-s", "-m", "v1", "v1")
	r.gitDir = filepath.Join(src, ".git")

	policy := "principals:\n  tagger:\n    keys: ['" + strings.TrimSpace(string(tagPub)) + "']\n" +
		"  alice:\n    keys:\n      - |\n" + alicePEM + "\n  bob:\n    keys:\n      - |\n" + bobPEM + "\n" + `rego: |
  package hallmark.signing
  default allow := false
  allow if {
    input.tag.signer == "tagger"
    count({a | some a in input.approvals; a in {"alice", "bob"}}) >= 2
  }
`
	if _, err := policyops.Publish(context.Background(), policyops.PublishRequest{Store: store, Repository: repo, Policy: []byte(policy), Signer: signing(tb, r.st, r.writer)}); err != nil {
		tb.Fatalf("publish: %v", err)
	}
	return r
}

func (r *release) approve(tb testing.TB, s crypto.Signer) {
	tb.Helper()
	if _, err := policyops.Approve(context.Background(), policyops.ApproveRequest{Store: r.src.Store, Repository: repo, Commit: r.commit, Signer: signing(tb, r.st, s)}); err != nil {
		tb.Fatalf("approve: %v", err)
	}
}

func (r *release) check(tb testing.TB) *policyops.CheckReport {
	tb.Helper()
	rep, err := policyops.Check(context.Background(), policyops.CheckRequest{Source: r.src, Repository: repo, GitDir: r.gitDir, Tag: "v1"})
	if err != nil {
		tb.Fatalf("check: %v", err)
	}
	return rep
}

func TestCheck(t *testing.T) {
	r := newRelease(t)
	if rep := r.check(t); rep.Verdict != policyops.VerdictDenied || rep.Evaluation.Input.Tag.Signer != "tagger" {
		t.Fatalf("no approvals: got %s, tag %+v; want denied, signed by tagger", rep.Verdict, rep.Evaluation.Input.Tag)
	}
	r.approve(t, r.alice)
	r.approve(t, r.bob)
	rep := r.check(t)
	if rep.Verdict != policyops.VerdictAllowed || rep.PolicyVersion != 1 || rep.Commit != r.commit {
		t.Fatalf("two approvals: got %s, version %d, commit %s; want allowed, 1, %s", rep.Verdict, rep.PolicyVersion, rep.Commit, r.commit)
	}
	if !rep.Allowed() {
		t.Error("Allowed() is false for an allowed release")
	}
	t.Run("no policy", func(t *testing.T) {
		rep, err := policyops.Check(context.Background(), policyops.CheckRequest{Source: r.src, Repository: "git.example.com/acme/none", GitDir: r.gitDir, Tag: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != policyops.VerdictNoPolicy || !rep.Allowed() {
			t.Errorf("got %s, want no-policy", rep.Verdict)
		}
	})
	t.Run("remembered head", func(t *testing.T) {
		h, err := r.src.Heads.Load(repo)
		if err != nil || h == nil || h.Version != 1 {
			t.Fatalf("remembered %+v, %v; want version 1", h, err)
		}
		if err := r.src.Heads.Save(signpolicy.Head{Repository: repo, Version: 2, Digest: "sha256:" + strings.Repeat("0", 64)}); err != nil {
			t.Fatal(err)
		}
		_, err = policyops.Check(context.Background(), policyops.CheckRequest{Source: r.src, Repository: repo, GitDir: r.gitDir, Tag: "v1"})
		var ce *signpolicy.ChainError
		if !errors.As(err, &ce) || ce.Reason != signpolicy.ReasonRollback {
			t.Fatalf("got %v, want a rollback", err)
		}
	})
}

// BenchmarkCheck measures what a release spends in the signing policy
// check: fetching and verifying a one-version chain, reading and
// verifying the SSH-signed tag, fetching and verifying two approvals, and
// evaluating the Rego module.
func BenchmarkCheck(b *testing.B) {
	r := newRelease(b)
	r.approve(b, r.alice)
	r.approve(b, r.bob)
	for b.Loop() {
		if rep := r.check(b); rep.Verdict != policyops.VerdictAllowed {
			b.Fatalf("got %s", rep.Verdict)
		}
	}
}
