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
	"time"

	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/policyops"
	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
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

func TestReleasePolicy(t *testing.T) {
	r := newRelease(t)
	ctx := context.Background()
	digest := "sha256:" + strings.Repeat("d", 64)
	gateFact := &signpolicy.ScanFact{Scanner: signpolicy.ReservedPrincipal, PredicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
		Subject: digest, Predicate: map[string]any{"scanner": map[string]any{"result": map[string]any{"passed": true}}}}
	p := &policyops.ReleasePolicy{Source: r.src, Repository: repo, GitDir: r.gitDir, Tag: "v1"}
	r.approve(t, r.alice)
	rep, err := p.Check(ctx, policyops.ReleaseFacts{Digest: digest, Gate: gateFact})
	var de *policyops.DeniedError
	if !errors.As(err, &de) || de.Report != rep || rep.Record() != nil {
		t.Fatalf("one approval: got %v, report %+v; want a *DeniedError with the report, and no record", err, rep)
	}
	if want := "the signing policy of " + repo + " (version 1) denies the release of tag v1 (commit " + r.commit + "): denied"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start %q", err, want)
	}
	if scans := rep.Evaluation.Input.Scans; len(scans) != 1 || scans[0].Scanner != signpolicy.ReservedPrincipal || scans[0].Subject != digest {
		t.Errorf("the policy saw scans %+v, want the release's gate result", scans)
	}
	r.approve(t, r.bob)
	rep, err = p.Check(ctx, policyops.ReleaseFacts{Digest: digest, Gate: gateFact})
	if err != nil {
		t.Fatalf("two approvals: %v", err)
	}
	want := signpolicy.ReleaseRecord{Repository: repo, Version: 1, Digest: rep.PolicyDigest, Tag: "v1", Commit: r.commit}
	if got := rep.Record(); got == nil || *got != want || signpolicy.CheckDigest(got.Digest) != nil {
		t.Errorf("record %+v, want %+v", got, want)
	}

	none := &policyops.ReleasePolicy{Source: r.src, Repository: "git.example.com/acme/none", GitDir: r.gitDir, Tag: "v1"}
	if rep, err := none.Check(ctx, policyops.ReleaseFacts{Digest: digest}); err != nil || rep.Verdict != policyops.VerdictNoPolicy || rep.Record() != nil {
		t.Errorf("no policy: got %+v, %v; want a no-policy report", rep, err)
	}
	none.Require = true
	if _, err := none.Check(ctx, policyops.ReleaseFacts{Digest: digest}); !errors.Is(err, policyops.ErrNoPolicy) ||
		err.Error() != "git.example.com/acme/none has no published signing policy, and one is required" {
		t.Errorf("no policy, required: got %v, want ErrNoPolicy naming the repository", err)
	}
}

func TestNewReleasePolicy(t *testing.T) {
	ctx := context.Background()
	if p, err := policyops.NewReleasePolicy(ctx, policyops.ReleaseCheckConfig{}); p != nil || err != nil {
		t.Fatalf("nothing asked: got %v, %v; want no check", p, err)
	}
	tests := []struct {
		name string
		cfg  policyops.ReleaseCheckConfig
		want string
	}{
		{"only required", policyops.ReleaseCheckConfig{Require: true},
			"incomplete signing policy check: missing the source repository, the local git directory, the release tag, the server that stores the policy"},
		{"no tag", policyops.ReleaseCheckConfig{Repository: repo, GitDir: ".git", SourceConfig: policyops.SourceConfig{Server: "http://127.0.0.1:1"}},
			"incomplete signing policy check: missing the release tag"},
		{"a writer alone", policyops.ReleaseCheckConfig{SourceConfig: policyops.SourceConfig{Writers: []string{"https://i=s"}}},
			"incomplete signing policy check: missing the source repository, "},
		{"no writer", policyops.ReleaseCheckConfig{Repository: repo, GitDir: ".git", Tag: "v1", SourceConfig: policyops.SourceConfig{Server: "http://127.0.0.1:1"}},
			"no policy writer given"},
		{"a malformed repository", policyops.ReleaseCheckConfig{Repository: "a b", GitDir: ".git", Tag: "v1", SourceConfig: policyops.SourceConfig{Server: "http://127.0.0.1:1"}},
			`repository "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policyops.NewReleasePolicy(ctx, tt.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error starting %q", err, tt.want)
			}
			if strings.HasPrefix(tt.want, "incomplete") && !errors.Is(err, policyops.ErrIncompleteReleaseCheck) {
				t.Errorf("got %v, want ErrIncompleteReleaseCheck", err)
			}
		})
	}
}

// BenchmarkRelease measures what the signing policy check adds to a
// release, in one run against one in-process server: the same keyed
// release (gate, signature, gate result and provenance, logged and
// timestamped) of the same image, without the check and with it (a
// one-version chain, an SSH-signed tag read with git, two approvals, the
// Rego module, and the record added to the provenance). Each iteration
// runs both, one after the other, so that a machine whose load changes
// during the run weighs on both alike; it reports each one's mean, the
// difference and the ratio.
func BenchmarkRelease(b *testing.B) {
	r := newRelease(b)
	r.approve(b, r.alice)
	r.approve(b, r.bob)
	reg := &testkit.Registry{Host: strings.TrimPrefix(r.st.URL, "http://")}
	d := reg.PushImage(b, "demo/bench:v1", "bench")
	report := filepath.Join(b.TempDir(), "report.json")
	if err := os.WriteFile(report, []byte(`{"SchemaVersion":2,"ArtifactName":"`+d.String()+`","ArtifactType":"container_image","Metadata":{"RepoDigests":["`+
		d.String()+`"]},"Results":[]}`), 0o600); err != nil {
		b.Fatal(err)
	}
	builder, _ := newKey(b)
	kp, opts := r.st.KeyOptions(b, builder)
	c := store.New(store.Options{})
	check := &policyops.ReleasePolicy{Source: r.src, Repository: repo, GitDir: r.gitDir, Tag: "v1", Require: true}
	release := func(check ops.SigningPolicy) time.Duration {
		start := time.Now()
		res, err := ops.Release(context.Background(), c, ops.ReleaseRequest{
			Reference: d.String(), Gate: ops.GateRequest{ReportPath: report}, BeforeSign: check,
			Provenance: []byte(`{"buildDefinition":{"buildType":"https://example.com/b","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/builder"}}}`),
			Signer:     kp, Options: opts,
		})
		if err != nil {
			b.Fatal(err)
		}
		if (check != nil) != res.RecordsSigningPolicy() {
			b.Fatalf("records the signing policy: %v, want %v", res.RecordsSigningPolicy(), check != nil)
		}
		return time.Since(start)
	}
	var without, with time.Duration
	n := 0
	for b.Loop() {
		without += release(nil)
		with += release(check)
		n++
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(n) / float64(time.Millisecond) }
	b.ReportMetric(ms(without), "ms/release")
	b.ReportMetric(ms(with), "ms/checked-release")
	b.ReportMetric(ms(with-without), "ms/check")
	b.ReportMetric(float64(with)/float64(without), "checked/unchecked")
}
