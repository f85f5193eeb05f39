package ops_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/attest"
	"hallmark.dev/gate"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/policyops"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
	"hallmark.dev/policy"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
	"hallmark.dev/verify"
)

const (
	sbomDoc = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}`
	provDoc = `{"buildDefinition":{"buildType":"https://example.com/b","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/builder"}}}`
)

// reportFor writes a trivy report of the image: clean, or with a fixable
// HIGH vulnerability in an OS package (which the default policy blocks).
func reportFor(t *testing.T, image string, blocked bool) string {
	t.Helper()
	vulns := ""
	if blocked {
		vulns = `{"Target":"debian","Class":"os-pkgs","Type":"debian","Vulnerabilities":[{"VulnerabilityID":"CVE-2099-1001","PkgName":"libssl3",` +
			`"InstalledVersion":"3.0.11","FixedVersion":"3.0.13","Status":"fixed","Severity":"HIGH"}]}`
	}
	report := `{"SchemaVersion":2,"ArtifactName":"` + image + `","ArtifactType":"container_image",` +
		`"Metadata":{"RepoDigests":["` + image + `"]},"Results":[` + vulns + `]}`
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, []byte(report), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// refuseManifests makes the registry refuse manifest uploads whose body
// contains marker, once armed.
func refuseManifests(armed *atomic.Bool, marker string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if armed.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
					return
				}
				if bytes.Contains(body, []byte(marker)) {
					http.Error(w, "injected failure", http.StatusInternalServerError)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deniedReport is a signing policy check that denied the release of d.
func deniedReport(d name.Digest) *policyops.CheckReport {
	return &policyops.CheckReport{Repository: "git.example.com/acme/app", Verdict: policyops.VerdictDenied, PolicyVersion: 1,
		PolicyDigest: "sha256:" + strings.Repeat("a", 64), Tag: "v1", Commit: strings.Repeat("c", 40),
		Evaluation: &signpolicy.Evaluation{Decision: signpolicy.Decision{Reason: "denied: 1 of 2 named maintainers approved"}}}
}

func TestRelease(t *testing.T) {
	var armed atomic.Bool
	reg := testkit.StartRegistryWrapped(t, refuseManifests(&armed, attest.PredicateCycloneDX))
	kp := testkit.NewKeyPair(t, t.TempDir(), "cosign", keys.ECDSAP256, "pw")
	signer, err := sign.NewKeySigner(kp.Signer)
	if err != nil {
		t.Fatal(err)
	}
	authority, err := verify.NewKeys(kp.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	c := store.New(store.Options{})
	ctx := context.Background()
	base := func(d name.Digest) ops.ReleaseRequest {
		return ops.ReleaseRequest{
			Reference: d.String(), Signer: signer,
			Gate:       ops.GateRequest{ReportPath: reportFor(t, d.String(), false)},
			SBOM:       []byte(sbomDoc),
			Provenance: []byte(provDoc),
		}
	}
	countSigs := func(ref string) int {
		t.Helper()
		res, err := ops.VerifyImage(ctx, c, ops.VerifyImageRequest{Reference: ref, Policy: verify.ImagePolicy{Authority: authority}})
		if err != nil {
			return 0
		}
		return len(res.Verified)
	}

	t.Run("gate refuses: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/blocked:v1", "blocked")
		req := base(d)
		req.Gate.ReportPath = reportFor(t, d.String(), true)
		var events []ops.Event
		req.Events = func(ev ops.Event) { events = append(events, ev) }
		res, err := ops.Release(ctx, c, req)
		if err == nil || err.Error() != "gate: 1 blocking finding(s); nothing was signed" {
			t.Fatalf("got %v, want the gate's refusal", err)
		}
		if res == nil || res.Gate == nil || res.Gate.Passed || len(res.Gate.Blocking) != 1 {
			t.Fatalf("got result %+v, want the gate's result with its blocking finding", res)
		}
		if len(events) != 1 || events[0].Kind != ops.EventGated || events[0].Gate != res.Gate {
			t.Errorf("got events %+v, want the gate's result reported once", events)
		}
		if n := countSigs(d.String()); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("a report of another image: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/other:v1", "other")
		req := base(d)
		req.Gate.ReportPath = reportFor(t, reg.Host+"/demo/other@sha256:"+strings.Repeat("ab", 32), false)
		_, err := ops.Release(ctx, c, req)
		if !errors.Is(err, gate.ErrWrongImage) || !strings.Contains(err.Error(), "nothing was signed") {
			t.Fatalf("got %v, want the report refused for another image", err)
		}
		if n := countSigs(d.String()); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("the signing policy refuses: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/unsigned:v1", "unsigned")
		req := base(d)
		var seen policyops.ReleaseFacts
		denied := deniedReport(d)
		req.BeforeSign = ops.SigningPolicyFunc(func(_ context.Context, f policyops.ReleaseFacts) (*policyops.CheckReport, error) {
			seen = f
			return denied, denied.Err(false)
		})
		var events []ops.Event
		req.Events = func(ev ops.Event) { events = append(events, ev) }
		res, err := ops.Release(ctx, c, req)
		want := "signing policy: the signing policy of git.example.com/acme/app (version 1) denies the release of tag v1 (commit " +
			strings.Repeat("c", 40) + "): denied: 1 of 2 named maintainers approved; nothing was signed"
		if err == nil || err.Error() != want {
			t.Fatalf("got %v, want %s", err, want)
		}
		var de *policyops.DeniedError
		if !errors.As(err, &de) || res.SigningPolicy != denied {
			t.Errorf("got %v and report %+v, want a *DeniedError and the report in the result", err, res.SigningPolicy)
		}
		if len(events) != 2 || events[1].Kind != ops.EventSigningPolicy || events[1].SigningPolicy != denied {
			t.Errorf("got events %+v, want the gate's then the signing policy's", events)
		}
		// The check saw the digest and the gate's result as hallmark's scan.
		if seen.Digest != d.DigestStr() || seen.Gate == nil || seen.Gate.Scanner != signpolicy.ReservedPrincipal ||
			seen.Gate.PredicateType != attest.PredicateVuln || seen.Gate.Subject != d.DigestStr() {
			t.Fatalf("the check saw %+v, want the digest %s and the gate's result", seen, d.DigestStr())
		}
		if pred, ok := seen.Gate.Predicate.(map[string]any); !ok || pred["scanner"] == nil {
			t.Errorf("the gate fact's predicate is %#v, want the vuln predicate as JSON", seen.Gate.Predicate)
		}
		if n := countSigs(d.String()); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("the signing policy check fails: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/nocheck:v1", "nocheck")
		req := base(d)
		req.BeforeSign = ops.SigningPolicyFunc(func(context.Context, policyops.ReleaseFacts) (*policyops.CheckReport, error) {
			return nil, errors.New("server unreachable")
		})
		if _, err := ops.Release(ctx, c, req); err == nil || err.Error() != "signing policy: server unreachable; nothing was signed" {
			t.Fatalf("got %v, want the check's failure", err)
		}
		if n := countSigs(d.String()); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("allowed by a signing policy: the provenance records it", func(t *testing.T) {
		d := reg.PushImage(t, "demo/allowed:v1", "allowed")
		req := base(d)
		allowed := deniedReport(d)
		allowed.Verdict = policyops.VerdictAllowed
		req.BeforeSign = ops.SigningPolicyFunc(func(context.Context, policyops.ReleaseFacts) (*policyops.CheckReport, error) {
			return allowed, nil
		})
		res, err := ops.Release(ctx, c, req)
		if err != nil {
			t.Fatal(err)
		}
		want := allowed.Record()
		if prov := res.Attached[len(res.Attached)-1]; prov.Kind != "provenance" || prov.SigningPolicy == nil || *prov.SigningPolicy != *want {
			t.Errorf("attached %+v, want the provenance recording %+v", prov, want)
		}
		if res.SigningPolicy != allowed {
			t.Errorf("result's report %+v, want the check's", res.SigningPolicy)
		}
		for _, tt := range []struct {
			digest string
			err    string
		}{
			{want.Digest, ""},
			{"sha256:" + strings.Repeat("0", 64), "no verified provenance records a release allowed by signing policy sha256:" + strings.Repeat("0", 64) +
				": referrer sha256:[0-9a-f]{64}: records signing policy " + want.Digest + ` \(version 1 of git.example.com/acme/app\), not sha256:0{64}`},
		} {
			check, err := signpolicy.NewProvenanceCheck(tt.digest)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ops.VerifyAttestations(ctx, c, ops.VerifyAttestationsRequest{Reference: d.String(),
				Policy: verify.AttestationPolicy{Authority: authority, PredicateType: attest.PredicateSLSAProvenance1}, Checks: []policy.Check{check}})
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("%s: %v", tt.digest, err)
			case tt.err != "" && (err == nil || !regexp.MustCompile(tt.err).MatchString(err.Error())):
				t.Errorf("%s: got %v, want an error matching %q", tt.digest, err, tt.err)
			}
		}
	})
	t.Run("no signing policy: released, the provenance records none", func(t *testing.T) {
		d := reg.PushImage(t, "demo/nopolicy:v1", "nopolicy")
		req := base(d)
		none := &policyops.CheckReport{Repository: "git.example.com/acme/app", Verdict: policyops.VerdictNoPolicy, Tag: "v1", Commit: strings.Repeat("c", 40)}
		req.BeforeSign = ops.SigningPolicyFunc(func(context.Context, policyops.ReleaseFacts) (*policyops.CheckReport, error) { return none, nil })
		res, err := ops.Release(ctx, c, req)
		if err != nil {
			t.Fatal(err)
		}
		if prov := res.Attached[len(res.Attached)-1]; prov.Kind != "provenance" || prov.SigningPolicy != nil {
			t.Errorf("attached %+v, want a provenance recording no policy", prov)
		}
	})
	t.Run("a provenance file that records a signing policy: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/forged:v1", "forged")
		rep := deniedReport(d)
		if rep.Record() != nil {
			t.Fatal("a denied report has a record")
		}
		rep.Verdict = policyops.VerdictAllowed
		forged, err := signpolicy.AddToProvenance([]byte(provDoc), *rep.Record())
		if err != nil {
			t.Fatal(err)
		}
		malformed := strings.Replace(string(forged), `"version":1`, `"version":"1"`, 1)
		for i, prov := range [][]byte{forged, forged, []byte(malformed)} {
			withCheck := i == 1
			req := base(d)
			req.Provenance = prov
			if withCheck {
				req.BeforeSign = ops.SigningPolicyFunc(func(context.Context, policyops.ReleaseFacts) (*policyops.CheckReport, error) { return rep, nil })
			}
			_, err := ops.Release(ctx, c, req)
			if err == nil || !strings.Contains(err.Error(), "provenance: it records a signing policy already") || !strings.HasSuffix(err.Error(), "nothing was signed") {
				t.Fatalf("with a check %v: got %v, want the provenance refused", withCheck, err)
			}
		}
		if n := countSigs(d.String()); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("allowed by a policy, with SLSA v0.2 provenance: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/v02:v1", "v02")
		req := base(d)
		req.Provenance, req.ProvenanceType = []byte(`{"builder":{"id":"https://example.com/b"},"buildType":"x"}`), attest.PredicateSLSAProvenance02
		rep := deniedReport(d)
		rep.Verdict = policyops.VerdictAllowed
		req.BeforeSign = ops.SigningPolicyFunc(func(context.Context, policyops.ReleaseFacts) (*policyops.CheckReport, error) { return rep, nil })
		if _, err := ops.Release(ctx, c, req); err == nil || !strings.Contains(err.Error(), "recorded in SLSA v1 provenance, not https://slsa.dev/provenance/v0.2; nothing was signed") {
			t.Fatalf("got %v, want the v0.2 provenance refused", err)
		}
		if n := countSigs(d.String()); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("malformed provenance: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/badprov:v1", "badprov")
		req := base(d)
		req.Provenance = []byte("not json")
		if _, err := ops.Release(ctx, c, req); err == nil || !strings.Contains(err.Error(), "nothing was signed") {
			t.Fatalf("got %v, want a refusal before signing", err)
		}
		if n := countSigs(d.String()); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("sbom of another image: nothing signed", func(t *testing.T) {
		d := reg.PushImage(t, "demo/badsbom:v1", "badsbom")
		ref := d.String()
		req := base(d)
		req.SBOM = []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"metadata":{"component":{"type":"container","name":"x","version":"sha256:` + strings.Repeat("ab", 32) + `"}},"components":[]}`)
		_, err := ops.Release(ctx, c, req)
		if err == nil || !strings.Contains(err.Error(), "nothing was signed") || !strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
			t.Fatalf("got %v, want the SBOM refused naming its digest", err)
		}
		if n := countSigs(ref); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("an index: nothing signed", func(t *testing.T) {
		// A scanner scans one platform of an index, and the report names
		// the index digest: a gate pass would cover the other platforms
		// unscanned.
		d := reg.PushIndex(t, "demo/multi:v1", "multi")
		ref := d.String()
		_, err := ops.Release(ctx, c, base(d))
		if err == nil || !strings.Contains(err.Error(), "index") || !strings.Contains(err.Error(), "nothing was signed") {
			t.Fatalf("got %v, want the index refused", err)
		}
		if n := countSigs(ref); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("a tag is gated by the digest it resolves to", func(t *testing.T) {
		d := reg.PushImage(t, "demo/digest:v1", "digest")
		req := base(d)
		req.Reference = reg.Host + "/demo/digest:v1"
		res, err := ops.Release(ctx, c, req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Gate.Image != d.DigestStr() {
			t.Fatalf("gated %s, want %s", res.Gate.Image, d.DigestStr())
		}
	})
	t.Run("neither a report nor a scan", func(t *testing.T) {
		d := reg.PushImage(t, "demo/ungated:v1", "ungated")
		req := base(d)
		req.Gate.ReportPath = ""
		if _, err := ops.Release(ctx, c, req); err == nil || !strings.Contains(err.Error(), "a release is signed only after its scan passed the gate") {
			t.Fatalf("got %v, want an ungated release refused", err)
		}
	})
	t.Run("pass: signed and attested", func(t *testing.T) {
		d := reg.PushImage(t, "demo/ok:v1", "ok")
		ref := d.String()
		res, err := ops.Release(ctx, c, base(d))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, a := range res.Attached {
			kinds = append(kinds, a.Kind)
		}
		if got, want := strings.Join(kinds, ","), "signature,gate,sbom,provenance"; got != want {
			t.Fatalf("attached %s, want %s", got, want)
		}
		for _, pt := range []string{attest.PredicateVuln, attest.PredicateCycloneDX, attest.PredicateSLSAProvenance1} {
			if _, err := ops.VerifyAttestations(ctx, c, ops.VerifyAttestationsRequest{Reference: ref, Policy: verify.AttestationPolicy{Authority: authority, PredicateType: pt}}); err != nil {
				t.Errorf("%s: %v", pt, err)
			}
		}
	})
	t.Run("an attestation that cannot be signed is named once", func(t *testing.T) {
		d := reg.PushImage(t, "demo/unstamped:v1", "unstamped")
		req := base(d)
		// Every attestation is over the log limit, and the timestamp
		// authority for those does not answer.
		tsa := sgsign.NewTimestampAuthority(&sgsign.TimestampAuthorityOptions{URL: "http://127.0.0.1:1/timestamp", Timeout: time.Second})
		req.TimestampOnly = &sign.Options{BundleOptions: sgsign.BundleOptions{TimestampAuthorities: []*sgsign.TimestampAuthority{tsa}}}
		req.LogLimit = 1
		res, err := ops.Release(ctx, c, req)
		if !errors.Is(err, ops.ErrReleaseIncomplete) || len(res.NotAttached) != 3 {
			t.Fatalf("got %v, %+v; want the attestations not attached", err, res)
		}
		if strings.Contains(err.Error(), "sign: sign:") || !strings.Contains(err.Error(), "gate (sign: ") {
			t.Errorf("error %q: want each attestation's signing error once, prefixed sign: once", err)
		}
	})
	t.Run("an attestation push fails, then a re-run completes", func(t *testing.T) {
		d := reg.PushImage(t, "demo/partial:v1", "partial")
		ref := d.String()
		armed.Store(true)
		res, err := ops.Release(ctx, c, base(d))
		armed.Store(false)
		if !errors.Is(err, ops.ErrReleaseIncomplete) {
			t.Fatalf("got %v, want ErrReleaseIncomplete", err)
		}
		if len(res.Attached) != 3 || len(res.NotAttached) != 1 || res.NotAttached[0].Kind != "sbom" {
			t.Fatalf("attached %+v, not attached %+v; want all but the sbom", res.Attached, res.NotAttached)
		}
		if !strings.Contains(err.Error(), "not attached: sbom") {
			t.Fatalf("error %q does not name the sbom", err)
		}
		if _, err := ops.Release(ctx, c, base(d)); err != nil {
			t.Fatalf("re-run: %v", err)
		}
		if _, err := ops.VerifyAttestations(ctx, c, ops.VerifyAttestationsRequest{Reference: ref, Policy: verify.AttestationPolicy{Authority: authority, PredicateType: attest.PredicateCycloneDX}}); err != nil {
			t.Fatalf("after the re-run: %v", err)
		}
	})
}
