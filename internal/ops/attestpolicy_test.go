package ops

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/gate"
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
	payload, err := attest.NewStatement(predicateType, []byte(predicate), attest.Subject{Name: "registry.example/app", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	return verify.VerifiedAttestation{Source: source, Signer: verify.Signer{KeyFingerprint: "SHA256:k", Timestamps: times}, Statement: st, Payload: payload}
}

func tsa(at time.Time) verify.VerifiedTime {
	return verify.VerifiedTime{Type: "timestamp-authority", URI: "https://tsa.example", Time: at}
}

func gatePred(passed bool, finished time.Time) string {
	return `{"scanner":{"result":{"passed":` + map[bool]string{true: "true", false: "false"}[passed] +
		`,"image":"sha256:` + strings.Repeat("a", 64) + `","policyDigest":"` + policyDigest + `"}},` +
		`"metadata":{"scanFinishedOn":"` + finished.UTC().Format(time.RFC3339) + `"}}`
}

func checkFixture(t *testing.T, req VerifyAttestationsRequest, vs ...verify.VerifiedAttestation) (*VerifyAttestationsResult, error) {
	t.Helper()
	if err := validatePolicies(req); err != nil {
		t.Fatal(err)
	}
	out := &VerifyAttestationsResult{Image: policyImage, AttestationResult: &verify.AttestationResult{
		Digest: "sha256:" + strings.Repeat("a", 64), PredicateType: req.Policy.PredicateType, Verified: vs}}
	return out, checkPolicies(out, req, policyImage, out.Digest)
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

func TestGatePolicy(t *testing.T) {
	week := &gate.AttestationRequirements{MaxAge: 7 * 24 * time.Hour}
	gateReq := func(r *gate.AttestationRequirements) VerifyAttestationsRequest {
		return VerifyAttestationsRequest{Policy: verify.AttestationPolicy{PredicateType: gate.PredicateType}, Gate: r,
			Now: func() time.Time { return policyNow }}
	}
	fresh := policyNow.Add(-time.Hour)
	old := policyNow.Add(-10 * 24 * time.Hour)
	for _, tc := range []struct {
		name   string
		req    *gate.AttestationRequirements
		vs     []verify.VerifiedAttestation
		err    string              // "" when the policy is met
		failed map[string][]string // failed checks in the report
		noTime bool
	}{
		{name: "one fresh", req: week, vs: []verify.VerifiedAttestation{verified(t, "a", gate.PredicateType, gatePred(true, fresh), tsa(fresh))},
			failed: map[string][]string{}},
		{name: "a fresh one next to an old one", req: week, vs: []verify.VerifiedAttestation{
			verified(t, "old", gate.PredicateType, gatePred(true, old), tsa(old)),
			verified(t, "new", gate.PredicateType, gatePred(true, fresh), tsa(fresh)),
		}, failed: map[string][]string{"old": {"gate signed time", "gate scan time"}}},
		{name: "only old ones", req: week, vs: []verify.VerifiedAttestation{
			verified(t, "older", gate.PredicateType, gatePred(true, old.Add(-time.Hour)), tsa(old.Add(-time.Hour))),
			verified(t, "old", gate.PredicateType, gatePred(true, old), tsa(old)),
		}, err: "no passing gate attestation newer than 7d for " + policyImage + ": newest is from 2026-11-12T12:00:00Z (10d ago), old; it failed signed time: signed at 2026-11-12T12:00:00Z, 10d ago: older than 7d; scan time: ",
			failed: map[string][]string{"old": {"gate signed time", "gate scan time"}, "older": {"gate signed time", "gate scan time"}}},
		{name: "the fresh one failed the gate", req: week, vs: []verify.VerifiedAttestation{
			verified(t, "old", gate.PredicateType, gatePred(true, old), tsa(old)),
			verified(t, "new", gate.PredicateType, gatePred(false, fresh), tsa(fresh)),
		}, err: "newest is from 2026-11-22T11:00:00Z (1h0m0s ago), new; it failed result: the gate blocked the image (0 blocking finding(s))",
			failed: map[string][]string{"old": {"gate signed time", "gate scan time"}, "new": {"gate result"}}},
		{name: "the earliest verified time counts", req: week, vs: []verify.VerifiedAttestation{
			verified(t, "a", gate.PredicateType, gatePred(true, fresh), tsa(fresh), verify.VerifiedTime{Type: "transparency-log", Time: old}),
		}, err: "signed at 2026-11-12T12:00:00Z, 10d ago: older than 7d", failed: map[string][]string{"a": {"gate signed time"}}},
		{name: "key signatures without a trusted time", req: week, vs: []verify.VerifiedAttestation{
			verified(t, "a", gate.PredicateType, gatePred(true, fresh)),
		}, err: "none of the 1 verified has a verified signing time", failed: map[string][]string{"a": {"gate signed time"}}, noTime: true},
		{name: "another gate policy", req: &gate.AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: "sha256:" + strings.Repeat("2", 64)},
			vs:  []verify.VerifiedAttestation{verified(t, "a", gate.PredicateType, gatePred(true, fresh), tsa(fresh))},
			err: "no passing gate attestation newer than 7d under policy sha256:2222", failed: map[string][]string{"a": {"gate policy digest"}}},
		{name: "the expected gate policy", req: &gate.AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: policyDigest},
			vs:     []verify.VerifiedAttestation{verified(t, "a", gate.PredicateType, gatePred(true, fresh), tsa(fresh))},
			failed: map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := checkFixture(t, gateReq(tc.req), tc.vs...)
			if tc.err == "" && err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tc.err != "" {
				var ge *GatePolicyError
				if !errors.As(err, &ge) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want a *GatePolicyError with %q", err, tc.err)
				}
				if ge.NoTrustedTime() != tc.noTime {
					t.Errorf("NoTrustedTime() = %v, want %v", ge.NoTrustedTime(), tc.noTime)
				}
			}
			r := NewReport(out, gate.PredicateType, err)
			if r.Success != (tc.err == "") {
				t.Errorf("report success = %v, want %v", r.Success, tc.err == "")
			}
			if diff := cmp.Diff(tc.failed, failedChecks(r)); diff != "" {
				t.Errorf("failed checks in the report (-want +got):\n%s", diff)
			}
		})
	}
}

// provDoc is SLSA v1 provenance of a GitHub workflow build of
// github.com/org/app at tag v1.0.0.
const provDoc = `{"buildDefinition":{"buildType":"https://actions.github.io/buildtypes/workflow/v1",
"externalParameters":{"workflow":{"ref":"refs/tags/v1.0.0","repository":"https://github.com/org/app","path":".github/workflows/release.yml"}},
"internalParameters":{"github":{"event_name":"push"}},
"resolvedDependencies":[{"uri":"git+https://github.com/org/app@refs/tags/v1.0.0","digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}}]},
"runDetails":{"builder":{"id":"https://github.com/org/builder/.github/workflows/build.yml@refs/tags/v2.0.0"}}}`

func TestProvenancePolicy(t *testing.T) {
	good := verified(t, "good", slsa.PredicateV1, provDoc)
	evil := verified(t, "evil", slsa.PredicateV1, strings.ReplaceAll(provDoc, "github.com/org/app", "github.com/evil/app"))
	req := func(r slsa.Requirements) VerifyAttestationsRequest {
		return VerifyAttestationsRequest{Policy: verify.AttestationPolicy{PredicateType: slsa.PredicateV1}, Provenance: &r}
	}
	out, err := checkFixture(t, req(slsa.Requirements{SourceURI: "github.com/org/app", SourceTag: "v1.0.0"}), good)
	if err != nil {
		t.Fatal(err)
	}
	if r := NewReport(out, slsa.PredicateV1, err); !r.Success || len(failedChecks(r)) != 0 {
		t.Errorf("got report %+v, want success", r)
	}
	// Every verified statement must pass: one that does not fails the
	// verification, even next to one that does.
	out, err = checkFixture(t, req(slsa.Requirements{SourceURI: "github.com/org/app", SourceTag: "v1.0.0"}), good, evil)
	var pe *ProvenancePolicyError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || !strings.HasPrefix(err.Error(), "evil: source uri: provenance says git+https://github.com/evil/app") {
		t.Fatalf("got %v, want a *ProvenancePolicyError naming evil's source uri", err)
	}
	want := map[string][]string{"evil": {"slsa source uri"}}
	if diff := cmp.Diff(want, failedChecks(NewReport(out, slsa.PredicateV1, err))); diff != "" {
		t.Errorf("failed checks (-want +got):\n%s", diff)
	}
	// The subject is the verified image.
	out, err = checkFixture(t, req(slsa.Requirements{SourceURI: "github.com/org/app"}), good)
	if err != nil || !slices.Contains(out.Provenance[0].Checks.Checks, slsa.CheckResult{Name: slsa.CheckSubject, Passed: true, Detail: policyImage + " is subject registry.example/app"}) {
		t.Errorf("got %v, %+v; want the image as the subject", err, out.Provenance)
	}
}

func TestValidatePolicies(t *testing.T) {
	prov := &slsa.Requirements{SourceURI: "github.com/org/app"}
	week := &gate.AttestationRequirements{MaxAge: 7 * 24 * time.Hour}
	for _, tc := range []struct {
		name string
		req  VerifyAttestationsRequest
		want string
	}{
		{"provenance on a gate attestation", VerifyAttestationsRequest{Policy: verify.AttestationPolicy{PredicateType: gate.PredicateType}, Provenance: prov}, "provenance requirements apply to SLSA provenance"},
		{"provenance without a source", VerifyAttestationsRequest{Policy: verify.AttestationPolicy{PredicateType: slsa.PredicateV02}, Provenance: &slsa.Requirements{}}, "no source uri"},
		{"gate policy on provenance", VerifyAttestationsRequest{Policy: verify.AttestationPolicy{PredicateType: slsa.PredicateV1}, Gate: week}, "the gate attestation policy applies to gate attestations"},
		{"gate policy without an age", VerifyAttestationsRequest{Policy: verify.AttestationPolicy{PredicateType: gate.PredicateType}, Gate: &gate.AttestationRequirements{}}, "maximum age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validatePolicies(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
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
	a := SBOMDownload{Source: "old", Signed: signedTime(old)}
	b := SBOMDownload{Source: "fresh", Signed: signedTime(fresh)}
	if newer(a, b) >= 0 {
		t.Fatalf("the re-stamped old attestation (signed %s) counts as newer than one signed %s", a.Signed, b.Signed)
	}
}

// The repository the signing certificate names must be the expected
// source too: provenance claiming the right repository, signed by a
// workload of another, fails on the certificate alone.
func TestProvenanceCertificateSource(t *testing.T) {
	signedBy := func(source, uri, ghRepo string) verify.VerifiedAttestation {
		v := verified(t, source, slsa.PredicateV1, provDoc)
		v.Signer = verify.Signer{Issuer: "https://token.actions.githubusercontent.com", Subject: "https://github.com/org/builder/.github/workflows/build.yml@refs/tags/v2.0.0", SourceRepositoryURI: uri, GitHubRepository: ghRepo}
		return v
	}
	req := VerifyAttestationsRequest{Policy: verify.AttestationPolicy{PredicateType: slsa.PredicateV1}, Provenance: &slsa.Requirements{SourceURI: "github.com/org/app"}}
	for _, tc := range []struct {
		name    string
		v       verify.VerifiedAttestation
		wantErr string // "" passes
		want    slsa.CheckResult
	}{
		{"matching certificate", signedBy("a", "https://github.com/org/app", "org/app"), "",
			slsa.CheckResult{Name: slsa.CheckCertificateSource, Passed: true, Detail: "https://github.com/org/app"}},
		{"old certificate, deprecated extension only", signedBy("a", "", "org/app"), "",
			slsa.CheckResult{Name: slsa.CheckCertificateSource, Passed: true, Detail: "https://github.com/org/app"}},
		{"key signature", verified(t, "a", slsa.PredicateV1, provDoc), "",
			slsa.CheckResult{Name: slsa.CheckCertificateSource, Passed: true, NotApplicable: true, Detail: "not applicable: the signature's certificate names no source repository"}},
		{"certificate of another repository", signedBy("a", "https://github.com/evil/app", ""),
			"a: certificate source repository: the signing certificate was issued to a workload of https://github.com/evil/app, want github.com/org/app",
			slsa.CheckResult{Name: slsa.CheckCertificateSource, Detail: "the signing certificate was issued to a workload of https://github.com/evil/app, want github.com/org/app"}},
		{"old certificate of another repository", signedBy("a", "", "evil/app"),
			"a: certificate source repository: the signing certificate was issued to a workload of https://github.com/evil/app, want github.com/org/app",
			slsa.CheckResult{Name: slsa.CheckCertificateSource, Detail: "the signing certificate was issued to a workload of https://github.com/evil/app, want github.com/org/app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := checkFixture(t, req, tc.v)
			var pe *ProvenancePolicyError
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.wantErr != "" && (!errors.As(err, &pe) || err.Error() != tc.wantErr):
				t.Fatalf("got %v, want a *ProvenancePolicyError %q", err, tc.wantErr)
			}
			checks := out.Provenance[0].Checks
			if !slices.Contains(checks.Checks, tc.want) {
				t.Errorf("checks %+v, want %+v", checks.Checks, tc.want)
			}
			// Only the certificate check can fail: the provenance is good.
			for _, c := range checks.Failed() {
				if c.Name != slsa.CheckCertificateSource {
					t.Errorf("check %s failed: %s", c.Name, c.Detail)
				}
			}
		})
	}
}
