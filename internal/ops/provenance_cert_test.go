package ops

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/oidc"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/policy"
	"hallmark.dev/sign"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// TestProvenanceCertificateRepository signs the same provenance (of
// github.com/org/app) keylessly from two GitHub workflow runs: one in
// org/app and one in another repository. The CA records each run's
// repository in the certificate; only the first passes.
func TestProvenanceCertificateRepository(t *testing.T) {
	gh := httptest.NewServer(nil)
	t.Cleanup(gh.Close)
	issuer, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: gh.URL})
	if err != nil {
		t.Fatal(err)
	}
	gh.Config.Handler = issuer.Handler()

	st := testkit.StartStack(t, func(_ string, cfg *server.Config) {
		cfg.DevOIDC = false
		cfg.Issuers = []identity.Issuer{{URL: gh.URL, Type: identity.TypeGitHubWorkflow}}
	})
	tr := st.TrustedRoot

	dir := t.TempDir()
	artifact := filepath.Join(dir, "app")
	if err := os.WriteFile(artifact, []byte("the app"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("the app"))
	statement, err := attest.NewStatement(slsa.PredicateV1, []byte(provDoc), attest.Subject{Name: "app", Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}})
	if err != nil {
		t.Fatal(err)
	}
	const builder = "org/builder/.github/workflows/build.yml@refs/tags/v2.0.0"
	signFrom := func(repo string) string {
		t.Helper()
		token, err := issuer.Mint("repo:"+repo+":ref:refs/tags/v1.0.0", "sigstore", 10*time.Minute, map[string]any{
			"job_workflow_ref":    builder,
			"job_workflow_sha":    "1111111111111111111111111111111111111111",
			"runner_environment":  "github-hosted",
			"repository":          repo,
			"repository_id":       "123",
			"repository_owner":    "org",
			"repository_owner_id": "456",
			"ref":                 "refs/tags/v1.0.0",
			"sha":                 "0123456789abcdef0123456789abcdef01234567",
			"workflow":            "Release",
			"workflow_ref":        repo + "/.github/workflows/release.yml@refs/tags/v1.0.0",
			"workflow_sha":        "3333333333333333333333333333333333333333",
			"event_name":          "push",
			"run_id":              "789",
			"run_attempt":         "1",
		})
		if err != nil {
			t.Fatal(err)
		}
		kp, opts := testkit.EphemeralOptions(t, sign.Services{Config: st.SigningConfig, IDToken: token, Log: true, Timestamp: true})
		b, err := sign.Statement(t.Context(), kp, statement, opts)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Base(repo)+".sigstore.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	authority, err := verify.NewKeyless(tr, verify.Identity{Issuer: gh.URL, Subject: "https://github.com/" + builder})
	if err != nil {
		t.Fatal(err)
	}
	run := func(path string) (*VerifyProvenanceResult, error) {
		return VerifyArtifactProvenance(t.Context(), VerifyArtifactProvenanceRequest{ProvenancePath: path, Artifacts: []string{artifact},
			Authority: authority, Requirements: slsa.Requirements{SourceURI: "github.com/org/app"}})
	}

	res, err := run(signFrom("org/app"))
	if err != nil {
		t.Fatalf("signed from org/app: %v", err)
	}
	if got := res.Verified[0].Signer; got.SourceRepositoryURI != "https://github.com/org/app" || got.GitHubRepository != "org/app" {
		t.Errorf("signer %+v, want the certificate's repository org/app", got)
	}
	v := res.Verified[0]
	if want := (policy.Finding{Attestation: v.Source, Name: slsa.CheckCertificateSource, Passed: true, Detail: "https://github.com/org/app"}); !slices.ContainsFunc(v.Checks, func(f policy.Finding) bool { return cmp.Equal(f, want) }) {
		t.Errorf("checks %+v, want %+v", v.Checks, want)
	}

	res, err = run(signFrom("mallory/app"))
	var pe *policy.Error
	if !errors.As(err, &pe) || len(pe.Failed) != 1 {
		t.Fatalf("signed from mallory/app: got %v, want a *policy.Error", err)
	}
	var failed []string
	for _, f := range pe.Failed[0].Findings {
		if !f.Passed {
			failed = append(failed, f.Name)
		}
	}
	if !slices.Equal(failed, []string{slsa.CheckCertificateSource}) {
		t.Fatalf("signed from mallory/app: failed %v, want only the certificate source repository check", failed)
	}
	const want = "app.sigstore.json: certificate source repository: the signing certificate was issued to a workload of https://github.com/mallory/app, want github.com/org/app"
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if res.Passing() != nil {
		t.Error("a provenance passed")
	}
}
