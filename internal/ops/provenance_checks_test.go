package ops

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/policy"
	"hallmark.dev/signpolicy"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// githubProv is SLSA v1 provenance of a GitHub workflow build of
// github.com/org/app at a tag.
func githubProv(tag string) string {
	return `{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
"externalParameters":{"workflow":{"ref":"refs/tags/` + tag + `","repository":"https://github.com/org/app","path":".github/workflows/release.yml"}},
"internalParameters":{"github":{"event_name":"push"}},
"resolvedDependencies":[{"uri":"git+https://github.com/org/app@refs/tags/` + tag + `","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
"runDetails":{"builder":{"id":"https://github.com/org/builder/.github/workflows/build.yml@refs/tags/v2.0.0"}}}`
}

// TestProvenanceChecks: verify-provenance's further checks (the signing
// policy's) must pass on the same statement as the SLSA requirements.
func TestProvenanceChecks(t *testing.T) {
	digest := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	recorded := func(tag, policyDigest string) string {
		t.Helper()
		p, err := signpolicy.AddToProvenance([]byte(githubProv(tag)), signpolicy.ReleaseRecord{Repository: "github.com/org/app", Version: 1,
			Digest: policyDigest, Tag: tag, Commit: "0123456789abcdef0123456789abcdef01234567"})
		if err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	statement := func(source, predicate string) verify.VerifiedAttestation {
		t.Helper()
		return lite.VerifiedAttestation(t, source, verify.Signer{}, slsa.PredicateV1, []byte(predicate), attest.Subject{Name: "registry.example/app", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}})
	}
	tests := []struct {
		name       string
		want       string
		statements []verify.VerifiedAttestation
		err        string
	}{
		{"recorded", digest("a"), []verify.VerifiedAttestation{statement("p1", recorded("v1.0.0", digest("a")))}, ""},
		{"another policy", digest("b"), []verify.VerifiedAttestation{statement("p1", recorded("v1.0.0", digest("a")))},
			`^no verified provenance records a release allowed by signing policy ` + digest("b") + `: p1: records signing policy ` + digest("a") + ` \(version 1 of github.com/org/app\), not ` + digest("b") + `$`},
		{"none recorded", digest("a"), []verify.VerifiedAttestation{statement("p1", githubProv("v1.0.0"))},
			`^no verified provenance records a release allowed by signing policy ` + digest("a") + `: p1: records no signing policy$`},
		{"each check passes, on another statement", digest("a"),
			[]verify.VerifiedAttestation{statement("p1", githubProv("v1.0.0")), statement("p2", recorded("v9.0.0", digest("a")))},
			`^no verified provenance for app passes every check: p1: signing policy: records no signing policy; p2: tag: .*v9\.0\.0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov, err := slsa.NewCheck(slsa.Requirements{SourceURI: "github.com/org/app", SourceTag: "v1.0.0"}, slsa.One)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := signpolicy.NewProvenanceCheck(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			out := &VerifyProvenanceResult{Subject: "app", Artifacts: []slsa.Artifact{{Name: "app", Digests: []string{digest("a")}}}}
			err = evaluate(context.Background(), out, tt.statements, []policy.Check{prov, sp})
			if tt.err == "" {
				if err != nil || out.Passing() == nil {
					t.Fatalf("got %v, passing %v; want a pass", err, out.Passing())
				}
				return
			}
			if err == nil || !regexp.MustCompile(tt.err).MatchString(err.Error()) {
				t.Fatalf("got %v, want an error matching %s", err, tt.err)
			}
			if out.Passing() != nil {
				t.Errorf("%s passes, want none", out.Passing().Source)
			}
		})
	}
}
