package gate

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/policy"
)

var attNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// cleanTrivyJSON is a report with no findings: the gate passes it.
const cleanTrivyJSON = `{"SchemaVersion": 2, "Trivy": {"Version": "0.70.0"},
  "ArtifactName": "registry.example/gate/sample@` + digestA + `", "ArtifactType": "container_image",
  "Metadata": {"RepoDigests": ["registry.example/gate/sample@` + digestA + `"]}, "Results": []}`

// gatePredicate evaluates a report under the default policy and returns
// the predicate, its scan finished at finished.
func gatePredicate(t *testing.T, report string, finished time.Time) []byte {
	t.Helper()
	res, err := Evaluate(mustParse(t, report), DefaultPolicy(), nil, digestA, finished)
	if err != nil {
		t.Fatal(err)
	}
	p, err := res.Predicate(Invocation{ScanStartedOn: finished.Add(-time.Minute), ScanFinishedOn: finished})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sub(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		m = m[k].(map[string]any)
	}
	return m
}

func TestCheckAttestation(t *testing.T) {
	week := AttestationRequirements{MaxAge: 7 * 24 * time.Hour}
	fresh := gatePredicate(t, cleanTrivyJSON, attNow.Add(-2*time.Hour))
	blocked := gatePredicate(t, trivyJSON, attNow.Add(-2*time.Hour))
	stale := gatePredicate(t, cleanTrivyJSON, attNow.Add(-8*24*time.Hour))
	future := gatePredicate(t, cleanTrivyJSON, attNow.Add(time.Hour))
	cosignTrivy, err := os.ReadFile("testdata/trivy/cosign-vuln.json")
	if err != nil {
		t.Fatal(err)
	}
	signed := attNow.Add(-time.Hour)
	for _, tc := range []struct {
		name      string
		predicate []byte
		digest    string
		signedAt  time.Time
		req       AttestationRequirements
		// failed are the checks that fail, and detail a part of the first
		// one's detail; nil means it passes.
		failed []string
		detail string
	}{
		{name: "fresh and passed", predicate: fresh, signedAt: signed, req: week},
		{name: "exactly max age", predicate: fresh, signedAt: attNow.Add(-7 * 24 * time.Hour), req: week},
		{name: "signed within the clock skew", predicate: fresh, signedAt: attNow.Add(time.Minute), req: week},
		{name: "policy digest matches", predicate: fresh, signedAt: signed,
			req: AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: DefaultPolicy().Digest()}},

		{name: "gate failed", predicate: blocked, signedAt: signed, req: week,
			failed: []string{CheckPassed}, detail: "the gate blocked the image (1 blocking finding(s))"},
		{name: "wrong image", predicate: fresh, digest: digestB, signedAt: signed, req: week,
			failed: []string{CheckImage}, detail: "the gate result is for " + digestA + ", not " + digestB},
		{name: "signed too long ago", predicate: fresh, signedAt: attNow.Add(-8 * 24 * time.Hour), req: week,
			failed: []string{CheckSignedTime}, detail: "signed at 2026-11-14T12:00:00Z, 8d ago: older than 7d"},
		{name: "one second too old", predicate: fresh, signedAt: attNow.Add(-2 * time.Second), req: AttestationRequirements{MaxAge: time.Second},
			failed: []string{CheckSignedTime, CheckScanTime}, detail: "2s ago: older than 1s"},
		{name: "scan too long ago", predicate: stale, signedAt: signed, req: week,
			failed: []string{CheckScanTime}, detail: "scan finished at 2026-11-14T12:00:00Z, 8d ago: older than 7d"},
		{name: "signed in the future", predicate: fresh, signedAt: attNow.Add(time.Hour), req: week,
			failed: []string{CheckSignedTime}, detail: "1h0m0s in the future"},
		{name: "scan in the future", predicate: future, signedAt: signed, req: week,
			failed: []string{CheckScanTime}, detail: "scan finished at 2026-11-22T13:00:00Z, 1h0m0s in the future"},
		{name: "key signature without a trusted time", predicate: fresh, req: week,
			failed: []string{CheckSignedTime}, detail: ErrNoTrustedTime.Error()},
		{name: "policy digest mismatch", predicate: fresh, signedAt: signed,
			req:    AttestationRequirements{MaxAge: week.MaxAge, PolicyDigest: "sha256:" + strings.Repeat("0", 64)},
			failed: []string{CheckPolicy}, detail: "the gate ran under policy " + DefaultPolicy().Digest() + ", want sha256:000"},
		{name: "everything wrong", predicate: blocked, digest: digestB, req: AttestationRequirements{MaxAge: time.Hour, PolicyDigest: "sha256:" + strings.Repeat("0", 64)},
			failed: []string{CheckPassed, CheckImage, CheckSignedTime, CheckScanTime, CheckPolicy}},

		// Malformed predicates fail the predicate check alone.
		{name: "not JSON", predicate: []byte(`{"scanner":`), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "invalid JSON"},
		{name: "not an object", predicate: []byte(`[]`), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "the predicate is not a JSON object"},
		{name: "trivy's own cosign-vuln predicate", predicate: cosignTrivy, signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "not a hallmark gate predicate"},
		{name: "duplicate passed", predicate: []byte(strings.Replace(string(blocked), `"passed":false`, `"passed":false,"passed":true`, 1)), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: `duplicate JSON key "passed"`},
		{name: "passed in another case", predicate: []byte(strings.Replace(string(blocked), `"passed":false`, `"Passed":true`, 1)), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: `unknown field "Passed" in scanner.result`},
		{name: "passed is a string", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { sub(m, "scanner", "result")["passed"] = "true" }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "scanner.result is not a gate result"},
		{name: "passed is null", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { sub(m, "scanner", "result")["passed"] = nil }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "scanner.result.passed has the wrong type"},
		{name: "no result", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { delete(sub(m, "scanner"), "result") }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "scanner.result (the gate result) is missing"},
		{name: "no passed", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { delete(sub(m, "scanner", "result"), "passed") }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "scanner.result.passed is missing"},
		{name: "unknown top-level field", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { m["override"] = true }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: `unknown field "override" in the predicate`},
		{name: "passed with blocking findings", predicate: []byte(strings.Replace(string(blocked), `"passed":false`, `"passed":true`, 1)), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "scanner.result says passed with 1 blocking finding(s)"},
		{name: "parameters name another policy", predicate: lite.EditJSON(t, fresh, func(m map[string]any) {
			sub(m, "invocation", "parameters")["policyDigest"] = "sha256:" + strings.Repeat("1", 64)
		}), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "invocation.parameters.policyDigest"},
		{name: "image not a digest", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { sub(m, "scanner", "result")["image"] = "latest" }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: `scanner.result.image "latest" is not an image digest`},
		{name: "no scan time", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { delete(sub(m, "metadata"), "scanFinishedOn") }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: "metadata.scanFinishedOn is missing"},
		{name: "scan time not RFC 3339", predicate: lite.EditJSON(t, fresh, func(m map[string]any) { sub(m, "metadata")["scanFinishedOn"] = "yesterday" }), signedAt: signed, req: week,
			failed: []string{CheckPredicate}, detail: `metadata.scanFinishedOn "yesterday" is not an RFC 3339 time`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			digest := tc.digest
			if digest == "" {
				digest = digestA
			}
			checks, read := checkAttestation(tc.predicate, digest, tc.signedAt, attNow, tc.req)
			var failed []policy.Finding
			var names []string
			for _, c := range checks {
				if !c.Passed {
					failed = append(failed, c)
					names = append(names, c.Name)
				}
			}
			if diff := cmp.Diff(tc.failed, names); diff != "" {
				t.Fatalf("failed checks (-want +got):\n%s\nchecks: %+v", diff, checks)
			}
			if (read == nil) != slices.Contains(tc.failed, CheckPredicate) {
				t.Errorf("read the predicate: %v, want %v", read != nil, !slices.Contains(tc.failed, CheckPredicate))
			}
			if tc.failed == nil {
				if len(checks) < 5 {
					t.Errorf("got %d checks, want every check: %+v", len(checks), checks)
				}
				return
			}
			if !strings.Contains(failed[0].Detail, tc.detail) {
				t.Errorf("got %q, want check %q failing with %q", failed[0].Detail, tc.failed[0], tc.detail)
			}
		})
	}
}

// The check refuses requirements it cannot judge by, and an input that is
// not one image.
func TestNewCheckInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  AttestationRequirements
		want string
	}{
		{"no max age", AttestationRequirements{}, "maximum age greater than zero"},
		{"negative max age", AttestationRequirements{MaxAge: -time.Hour}, "maximum age greater than zero"},
		{"policy digest not a digest", AttestationRequirements{MaxAge: time.Hour, PolicyDigest: "abc"}, `policy digest "abc"`},
		{"policy digest sha512", AttestationRequirements{MaxAge: time.Hour, PolicyDigest: "sha512:" + strings.Repeat("a", 128)}, "is not sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCheck(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) || c != nil {
				t.Errorf("got %v, %v; want no check and an error with %q", c, err, tc.want)
			}
		})
	}
	c, err := NewCheck(AttestationRequirements{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		subjects []policy.Subject
		want     string
	}{
		{"no subject", nil, "about one image, not 0 subjects"},
		{"two subjects", []policy.Subject{{Name: "a", Digests: []string{digestA}}, {Name: "b", Digests: []string{digestB}}}, "about one image, not 2 subjects"},
		{"no digest", []policy.Subject{{Name: "app:latest"}}, "app:latest has no image digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Evaluate(context.Background(), policy.Input{Subjects: tc.subjects, Time: attNow})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestParseMaxAge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"36h", 36 * time.Hour, ""},
		{"1s", time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"0d", 0, "greater than zero"},
		{"0s", 0, "greater than zero"},
		{"-1h", 0, "greater than zero"},
		{"d", 0, "neither a duration"},
		{"1.5d", 0, "neither a duration"},
		{"-7d", 0, "neither a duration"},
		{"7 d", 0, "neither a duration"},
		{"99999999999d", 0, "too many days"},
		{"", 0, "neither a duration"},
	} {
		got, err := ParseMaxAge(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMaxAge(%q) = %v, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMaxAge(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour:                   "7d",
		24*time.Hour + 3*time.Hour:           "1d3h0m0s",
		90 * time.Minute:                     "1h30m0s",
		2*time.Second + 300*time.Millisecond: "2s",
	} {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzCheckAttestation checks that a predicate checkAttestation accepts
// says the same to encoding/json (which matches keys case-insensitively
// and lets the last of repeated keys win): the gate passed, for the
// digest, with a scan inside the window.
func FuzzCheckAttestation(f *testing.F) {
	for _, report := range []string{cleanTrivyJSON, trivyJSON} {
		res, err := Evaluate(mustParseF(f, report), DefaultPolicy(), nil, digestA, attNow)
		if err != nil {
			f.Fatal(err)
		}
		p, err := res.Predicate(Invocation{ScanFinishedOn: attNow.Add(-time.Hour), ScanStartedOn: attNow.Add(-2 * time.Hour)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
		f.Add([]byte(strings.Replace(string(p), `"passed":false`, `"Passed":true`, 1)))
	}
	cosignTrivy, err := os.ReadFile("testdata/trivy/cosign-vuln.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cosignTrivy)
	req := AttestationRequirements{MaxAge: 24 * time.Hour}
	f.Fuzz(func(t *testing.T, data []byte) {
		checks, _ := checkAttestation(data, digestA, attNow.Add(-time.Minute), attNow, req)
		if len(checks) == 0 {
			t.Fatal("no checks made")
		}
		for _, c := range checks {
			if !c.Passed {
				return
			}
		}
		var p vulnPredicate
		if err := json.Unmarshal(data, &p); err != nil {
			t.Fatalf("accepted a predicate encoding/json cannot read: %v", err)
		}
		if p.Scanner.Result == nil || !p.Scanner.Result.Passed || p.Scanner.Result.Image != digestA || len(p.Scanner.Result.Blocking) != 0 {
			t.Fatalf("accepted, but encoding/json reads result %+v", p.Scanner.Result)
		}
		finished, err := time.Parse(time.RFC3339, p.Metadata.ScanFinishedOn)
		if err != nil || attNow.Sub(finished) > req.MaxAge || finished.Sub(attNow) > MaxClockSkew {
			t.Fatalf("accepted, but encoding/json reads scanFinishedOn %q", p.Metadata.ScanFinishedOn)
		}
	})
}

func mustParseF(f *testing.F, data string) *Report {
	f.Helper()
	r, err := ParseReport([]byte(data))
	if err != nil {
		f.Fatal(err)
	}
	return r
}

// TestPredicateWithExceptionsReads: a predicate the gate wrote for an image
// that passed under an exception (exceptionsUsed carries each entry with its
// expired_at date) is read back by the attestation check.
func TestPredicateWithExceptionsReads(t *testing.T) {
	ex := mustExceptions(t, `
vulnerabilities:
  - id: CVE-2099-1001
    statement: not reachable
    expired_at: 2099-03-01
`)
	finished := attNow.Add(-2 * time.Hour)
	res, err := Evaluate(mustParse(t, trivyJSON), DefaultPolicy(), ex, digestA, finished)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || len(res.ExceptionsUsed()) != 1 {
		t.Fatalf("setup: passed %v with %d exceptions used, want a pass under one exception", res.Passed, len(res.ExceptionsUsed()))
	}
	p, err := res.Predicate(Invocation{ScanStartedOn: finished.Add(-time.Minute), ScanFinishedOn: finished})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(p), `"expired_at":"2099-03-01"`) {
		t.Fatalf("setup: the predicate does not carry the exception's expiry: %s", p)
	}
	got, err := parseAttestedResult(p)
	if err != nil {
		t.Fatalf("reading the gate's own predicate: %v", err)
	}
	if !got.passed || got.image != digestA {
		t.Errorf("got passed %v for %s, want passed for %s", got.passed, got.image, digestA)
	}
}
