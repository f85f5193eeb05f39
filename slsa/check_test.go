package slsa_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/policy"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// checkProv is SLSA v1 provenance of a GitHub workflow build of
// github.com/org/app at tag v1.0.0.
const checkProv = `{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
"externalParameters":{"workflow":{"ref":"refs/tags/v1.0.0","repository":"https://github.com/org/app","path":".github/workflows/release.yml"}},
"internalParameters":{"github":{"event_name":"push"}},
"resolvedDependencies":[{"uri":"git+https://github.com/org/app@refs/tags/v1.0.0","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
"runDetails":{"builder":{"id":"https://github.com/org/builder/.github/workflows/build.yml@refs/tags/v2.0.0"}}}`

var checkSubject = policy.Subject{Name: "registry.example/app@sha256:" + strings.Repeat("a", 64), Digests: []string{"sha256:" + strings.Repeat("a", 64)}}

// provenance makes a verified provenance statement about the subject.
func provenance(t *testing.T, source, predicate string, signer verify.Signer) verify.VerifiedAttestation {
	t.Helper()
	return lite.VerifiedAttestation(t, source, signer, slsa.PredicateV1, []byte(predicate), attest.Subject{Name: "registry.example/app", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}})
}

func TestNewCheck(t *testing.T) {
	key := verify.Signer{KeyFingerprint: "SHA256:k"}
	good := provenance(t, "good", checkProv, key)
	evil := provenance(t, "evil", strings.ReplaceAll(checkProv, "github.com/org/app", "github.com/evil/app"), key)
	evil2 := provenance(t, "evil2", strings.ReplaceAll(checkProv, "github.com/org/app", "github.com/evil/app"), key)
	gh := func(uri string) verify.Signer {
		return verify.Signer{Issuer: "https://token.actions.githubusercontent.com", Subject: "https://github.com/org/builder/.github/workflows/build.yml@refs/tags/v2.0.0", SourceRepositoryURI: uri}
	}
	req := slsa.Requirements{SourceURI: "github.com/org/app", SourceTag: "v1.0.0"}
	for _, tc := range []struct {
		name string
		q    slsa.Quantifier
		atts []verify.VerifiedAttestation
		err  string // "" passes
	}{
		{"every: one good", slsa.Every, []verify.VerifiedAttestation{good}, ""},
		// Every verified statement must pass: one that does not fails the
		// check, even next to one that does.
		{"every: good and evil", slsa.Every, []verify.VerifiedAttestation{good, evil},
			"evil: source uri: provenance says git+https://github.com/evil/app"},
		{"every: two evil", slsa.Every, []verify.VerifiedAttestation{evil, evil2},
			"2 verified provenance statements failed the SLSA checks\n  evil: source uri: "},
		{"one: good and evil", slsa.One, []verify.VerifiedAttestation{evil, good}, ""},
		{"one: two evil", slsa.One, []verify.VerifiedAttestation{evil, evil2},
			"none of the 2 verified provenance statements for " + checkSubject.Name + " passed the checks\n  evil: source uri: "},
		{"one: none", slsa.One, nil, "no verified SLSA provenance for " + checkSubject.Name},
		// The repository the signing certificate names must be the
		// expected source too.
		{"certificate of another repository", slsa.Every, []verify.VerifiedAttestation{provenance(t, "a", checkProv, gh("https://github.com/evil/app"))},
			"a: certificate source repository: the signing certificate was issued to a workload of https://github.com/evil/app, want github.com/org/app"},
		{"certificate of the repository", slsa.Every, []verify.VerifiedAttestation{provenance(t, "a", checkProv, gh("https://github.com/org/app"))}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := slsa.NewCheck(req, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Evaluate(context.Background(), policy.Input{Subjects: []policy.Subject{checkSubject}, Attestations: tc.atts})
			if err != nil {
				t.Fatal(err)
			}
			if res.Passed != (tc.err == "") {
				t.Fatalf("Passed = %v, want %v (error %v)", res.Passed, tc.err == "", res.Err)
			}
			if tc.err != "" && (res.Err == nil || !strings.HasPrefix(res.Err.Error(), tc.err)) {
				t.Errorf("got error %v, want prefix %q", res.Err, tc.err)
			}
			// Every statement's checks are findings, the subject the
			// verified image.
			for _, a := range tc.atts {
				fs := res.FindingsFor(a.Source)
				want := policy.Finding{Attestation: a.Source, Name: slsa.CheckSubject, Passed: true, Detail: checkSubject.Name + " is subject registry.example/app"}
				if !slices.ContainsFunc(fs, func(f policy.Finding) bool { return cmp.Equal(f, want) }) {
					t.Errorf("findings about %s: %+v, want %+v", a.Source, fs, want)
				}
				if !slices.ContainsFunc(fs, func(f policy.Finding) bool { return f.Name == slsa.CheckCertificateSource }) {
					t.Errorf("findings about %s have no %s check", a.Source, slsa.CheckCertificateSource)
				}
			}
		})
	}
}

func TestNewCheckInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  slsa.Requirements
		q    slsa.Quantifier
		want string
	}{
		{"no source", slsa.Requirements{}, slsa.Every, "no source uri"},
		{"artifacts given", slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: []slsa.Artifact{checkSubject}}, slsa.Every, "give none in the requirements"},
		{"unknown quantifier", slsa.Requirements{SourceURI: "github.com/org/app"}, slsa.Quantifier(7), "unknown quantifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := slsa.NewCheck(tc.req, tc.q); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
