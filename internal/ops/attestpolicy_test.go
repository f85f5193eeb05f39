package ops

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/gate"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/policy"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

const policyDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

var (
	policyNow   = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	policyImage = "registry.example/app@sha256:" + strings.Repeat("a", 64)
)

// verified makes a verified attestation of a statement about the image,
// signed at the given verified times.
func verified(t *testing.T, source, predicateType, predicate string, times ...verify.VerifiedTime) verify.VerifiedAttestation {
	t.Helper()
	return lite.VerifiedAttestation(t, source, verify.Signer{KeyFingerprint: "SHA256:k", Timestamps: times}, predicateType, []byte(predicate), attest.Subject{Name: "registry.example/app", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}})
}

func gatePred(passed bool, finished time.Time) string {
	return `{"scanner":{"result":{"passed":` + map[bool]string{true: "true", false: "false"}[passed] +
		`,"image":"sha256:` + strings.Repeat("a", 64) + `","policyDigest":"` + policyDigest + `"}},` +
		`"metadata":{"scanFinishedOn":"` + finished.UTC().Format(time.RFC3339) + `"}}`
}

// checkFixture runs the checks over verified attestations of the image as
// VerifyAttestations runs them once the attestations verified.
func checkFixture(t *testing.T, predicateType string, checks []policy.Check, vs ...verify.VerifiedAttestation) (*VerifyAttestationsResult, error) {
	t.Helper()
	if err := validateChecks(checks, predicateType); err != nil {
		t.Fatal(err)
	}
	res := &verify.AttestationResult{Digest: "sha256:" + strings.Repeat("a", 64), PredicateType: predicateType, Verified: vs}
	out := &VerifyAttestationsResult{Image: policyImage, AttestationResult: res}
	return out, runChecks(context.Background(), out, checks, func() time.Time { return policyNow }, imageSubject(res, policyImage))
}

func failedChecks(r *Report) map[string][]string {
	out := map[string][]string{}
	for _, a := range r.Attestations {
		for _, c := range a.Checks {
			if c.Result == Failed {
				out[a.Source] = append(out[a.Source], c.Name)
			}
		}
	}
	return out
}

// provDoc is SLSA v1 provenance of a GitHub workflow build of
// github.com/org/app at tag v1.0.0.
const provDoc = `{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
"externalParameters":{"workflow":{"ref":"refs/tags/v1.0.0","repository":"https://github.com/org/app","path":".github/workflows/release.yml"}},
"internalParameters":{"github":{"event_name":"push"}},
"resolvedDependencies":[{"uri":"git+https://github.com/org/app@refs/tags/v1.0.0","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
"runDetails":{"builder":{"id":"https://github.com/org/builder/.github/workflows/build.yml@refs/tags/v2.0.0"}}}`

// The report prints every check's findings about each verified
// attestation, named by the check ("policy FILE", "slsa …", "gate …"), in
// the order of the checks, and the error names each failed check.
func TestReportFromChecks(t *testing.T) {
	rego, err := policy.Parse("org.rego", []byte("package p\n\ndeny contains \"not from org\" if not contains(input.predicate.buildDefinition.externalParameters.workflow.repository, \"/org/\")\n"))
	if err != nil {
		t.Fatal(err)
	}
	prov, err := slsa.NewCheck(slsa.Requirements{SourceURI: "github.com/org/app", SourceTag: "v1.0.0"}, slsa.Every)
	if err != nil {
		t.Fatal(err)
	}
	good := verified(t, "good", slsa.PredicateV1, provDoc)
	evil := verified(t, "evil", slsa.PredicateV1, strings.ReplaceAll(provDoc, "github.com/org/app", "github.com/evil/app"))

	out, err := checkFixture(t, slsa.PredicateV1, []policy.Check{rego, prov}, good)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReport(out, slsa.PredicateV1, err)
	var names []string
	for _, c := range r.Attestations[0].Checks {
		names = append(names, c.Name)
	}
	want := []string{"signature", "log", "timestamp", "subject", "predicate type", "policy org.rego",
		"slsa predicate type", "slsa builder", "slsa source uri", "slsa subject", "slsa tag", "slsa certificate source repository"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("checks in the report (-want +got):\n%s", diff)
	}
	if !r.Success || len(failedChecks(r)) != 0 {
		t.Errorf("got report %+v, want success", r)
	}

	out, err = checkFixture(t, slsa.PredicateV1, []policy.Check{rego, prov}, good, evil)
	var pe *policy.Error
	if !errors.As(err, &pe) || len(pe.Failed) != 2 {
		t.Fatalf("got %v, want a *policy.Error naming the policy and the slsa check", err)
	}
	if got, want := err.Error(), "1 policy check(s) failed\n  evil: policy org.rego: not from org\nevil: source uri: provenance says git+https://github.com/evil/app"; !strings.HasPrefix(got, want) {
		t.Errorf("error %q, want prefix %q", got, want)
	}
	r = NewReport(out, slsa.PredicateV1, err)
	if diff := cmp.Diff(map[string][]string{"evil": {"policy org.rego", "slsa source uri"}}, failedChecks(r)); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
	if r.Success || r.Error != err.Error() {
		t.Errorf("report success %v, error %q; want failure with %q", r.Success, r.Error, err)
	}
}

// The gate check judges ages by the request's clock, and its failure for
// want of a trusted time is seen through the one error type.
func TestGateCheckInVerification(t *testing.T) {
	c, err := gate.NewCheck(gate.AttestationRequirements{MaxAge: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	fresh := policyNow.Add(-time.Hour)
	out, err := checkFixture(t, gate.PredicateType, []policy.Check{c}, verified(t, "a", gate.PredicateType, gatePred(true, fresh), lite.TSATime(fresh)))
	if err != nil {
		t.Fatalf("a gate attestation signed an hour before the request's clock: %v", err)
	}
	if r := NewReport(out, gate.PredicateType, err); !r.Success {
		t.Errorf("got report %+v, want success", r)
	}
	_, err = checkFixture(t, gate.PredicateType, []policy.Check{c}, verified(t, "a", gate.PredicateType, gatePred(true, fresh)))
	if !errors.Is(err, gate.ErrNoTrustedTime) {
		t.Errorf("got %v, want gate.ErrNoTrustedTime", err)
	}
}

func TestValidateChecks(t *testing.T) {
	prov, err := slsa.NewCheck(slsa.Requirements{SourceURI: "github.com/org/app"}, slsa.Every)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gate.NewCheck(gate.AttestationRequirements{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		check         policy.Check
		predicateType string
		want          string
	}{
		{"provenance on a gate attestation", prov, gate.PredicateType, "the slsa check applies to https://slsa.dev/provenance/v1 or https://slsa.dev/provenance/v0.2 attestations, not " + gate.PredicateType},
		{"gate policy on provenance", g, slsa.PredicateV1, "the gate check applies to " + gate.PredicateType + " attestations, not " + slsa.PredicateV1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validateChecks([]policy.Check{tc.check}, tc.predicateType); err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	for _, pt := range []string{slsa.PredicateV1, slsa.PredicateV02} {
		if err := validateChecks([]policy.Check{prov}, pt); err != nil {
			t.Errorf("slsa check on %s: %v", pt, err)
		}
	}
}

// An old SBOM attestation stamped again later (anyone may add an RFC 3161
// timestamp of the signature to its bundle) is not newer for it: only the
// earliest verified time bounds when it was signed.
func TestSignedTimeIgnoresLaterTimestamps(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	old := verify.Signer{Timestamps: []verify.VerifiedTime{
		{Type: "transparency-log", Time: day(1)},
		{Type: "timestamp-authority", Time: day(20)}, // added later
	}}
	fresh := verify.Signer{Timestamps: []verify.VerifiedTime{{Type: "timestamp-authority", Time: day(10)}}}
	a := SBOMDownload{Source: "old", Signed: old.EarliestVerifiedTime()}
	b := SBOMDownload{Source: "fresh", Signed: fresh.EarliestVerifiedTime()}
	if newer(a, b) >= 0 {
		t.Fatalf("the re-stamped old attestation (signed %s) counts as newer than one signed %s", a.Signed, b.Signed)
	}
}

// TestChecksNeedPredicates: checks read the predicates, so a request that
// asks for the attestations without them and for checks is refused
// before anything is fetched.
func TestChecksNeedPredicates(t *testing.T) {
	prov, err := slsa.NewCheck(slsa.Requirements{SourceURI: "github.com/org/app"}, slsa.Every)
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyAttestations(context.Background(), nil, VerifyAttestationsRequest{
		Reference: policyImage,
		Policy:    verify.AttestationPolicy{Authority: &verify.Keys{}, PredicateType: slsa.PredicateV1, WithoutPredicate: true},
		Checks:    []policy.Check{prov},
	})
	if want := "the checks read the predicates: verify the attestations with them (not WithoutPredicate)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}
