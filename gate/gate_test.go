package gate

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	digestA = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	digestB = "sha256:9999999999999999999999999999999999999999999999999999999999999999"
)

// trivyJSON is a small report in trivy's JSON schema 2, shaped as trivy
// v0.70.0 writes it (see testdata/trivy for reports trivy wrote).
const trivyJSON = `{
  "SchemaVersion": 2,
  "Trivy": {"Version": "0.70.0"},
  "CreatedAt": "2099-01-02T03:04:05Z",
  "ArtifactName": "registry.example/gate/sample@` + digestA + `",
  "ArtifactType": "container_image",
  "Metadata": {"RepoDigests": ["registry.example/gate/sample@` + digestA + `"]},
  "Results": [
    {"Target": "registry.example/gate/sample@` + digestA + ` (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
     "Vulnerabilities": [
       {"VulnerabilityID": "CVE-2099-1001", "PkgName": "libssl3", "PkgIdentifier": {"PURL": "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12.5"},
        "InstalledVersion": "3.0.11-1~deb12u1", "FixedVersion": "3.0.13-1~deb12u1", "Status": "fixed", "Severity": "HIGH"},
       {"VulnerabilityID": "CVE-2099-1002", "PkgName": "zlib1g", "InstalledVersion": "1:1.2.13.dfsg-1", "Status": "affected", "Severity": "CRITICAL"},
       {"VulnerabilityID": "CVE-2099-1003", "PkgName": "bash", "InstalledVersion": "5.2.15-2+b2", "FixedVersion": "5.2.15-2+b3", "Status": "fixed", "Severity": "LOW"}
     ]},
    {"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg",
     "Vulnerabilities": [
       {"VulnerabilityID": "CVE-2099-1004", "PkgName": "requests", "PkgPath": "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA",
        "PkgIdentifier": {"PURL": "pkg:pypi/requests@2.25.0"}, "InstalledVersion": "2.25.0", "FixedVersion": "2.31.0", "Status": "fixed", "Severity": "HIGH"}
     ]},
    {"Target": "/etc/app.env", "Class": "secret", "Secrets": [{"RuleID": "aws-access-key-id", "Severity": "CRITICAL"}]}
  ]
}`

func mustParse(t *testing.T, data string) *Report {
	t.Helper()
	r, err := ParseReport([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ids[T any](xs []T, id func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, id(x))
	}
	slices.Sort(out)
	return out
}

func blockingIDs(r *Result) []string { return ids(r.Blocking, func(b Blocked) string { return b.ID }) }
func exceptedIDs(r *Result) []string { return ids(r.Excepted, func(e Excepted) string { return e.ID }) }

func TestParseTrivy(t *testing.T) {
	r := mustParse(t, trivyJSON)
	if r.Format != "trivy" || r.Scanner.Version != "0.70.0" {
		t.Errorf("got format %q version %q, want trivy 0.70.0", r.Format, r.Scanner.Version)
	}
	if r.Digest != digestA {
		t.Errorf("got digest %s, want %s", r.Digest, digestA)
	}
	want := Finding{
		ID: "CVE-2099-1004", Package: "requests", InstalledVersion: "2.25.0", FixedVersion: "2.31.0",
		Severity: SeverityHigh, Status: "fixed", Fixable: true, Class: ClassLang, Type: "python-pkg",
		PURL: "pkg:pypi/requests@2.25.0", Paths: []string{"Python", "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA"},
	}
	if len(r.Findings) != 4 {
		t.Fatalf("got %d findings, want 4 (the secret is not one)", len(r.Findings))
	}
	if diff := cmp.Diff(want, r.Findings[3]); diff != "" {
		t.Errorf("finding (-want +got):\n%s", diff)
	}
	if r.Findings[1].Fixable || r.Findings[1].Class != ClassOS {
		t.Errorf("zlib1g: got fixable %v class %s, want unfixed os", r.Findings[1].Fixable, r.Findings[1].Class)
	}
}

func TestParseGrype(t *testing.T) {
	data, err := os.ReadFile("testdata/grype/report.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != "grype" || r.Scanner.Version != "0.116.0" || r.Scanner.DBVersion != "v6.1.4@2099-01-01T00:00:00Z" {
		t.Errorf("got %+v", r.Scanner)
	}
	if r.Digest != digestA {
		t.Errorf("got digest %s, want %s", r.Digest, digestA)
	}
	got := ids(r.Findings, func(f Finding) string {
		return f.ID + " " + string(f.Severity) + " " + string(f.Class) + " " + map[bool]string{true: "fixable", false: "unfixed"}[f.Fixable]
	})
	want := []string{
		"CVE-2099-1001 HIGH os fixable",
		"CVE-2099-1002 CRITICAL os unfixed",
		"CVE-2099-1003 LOW os fixable",
		"GHSA-hhhh-2099-0004 HIGH lang fixable",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	res, err := Evaluate(r, DefaultPolicy(), nil, digestA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"CVE-2099-1001"}, blockingIDs(res)); diff != "" {
		t.Errorf("blocking (-want +got):\n%s", diff)
	}
	if res.Blocking[0].Paths[0] != "var/lib/dpkg/status" {
		t.Errorf("got path %q, want it without the leading slash", res.Blocking[0].Paths[0])
	}
}

func TestParseReportErrors(t *testing.T) {
	withTrivy := func(old, new string) string {
		if !strings.Contains(trivyJSON, old) {
			t.Fatalf("fixture has no %q", old)
		}
		return strings.Replace(trivyJSON, old, new, 1)
	}
	tests := []struct {
		name, data, want string
		unknown          bool
	}{
		{"not JSON", "SchemaVersion: 2", "invalid JSON", false},
		{"array", "[]", "not a JSON object", true},
		{"other format", `{"bomFormat": "CycloneDX"}`, "neither a trivy", true},
		{"trivy schema 1", withTrivy(`"SchemaVersion": 2`, `"SchemaVersion": 1`), "schema version 1", true},
		{"trivy schema 3", withTrivy(`"SchemaVersion": 2`, `"SchemaVersion": 3`), "schema version 3", true},
		{"trivy schema as string", withTrivy(`"SchemaVersion": 2`, `"SchemaVersion": "2"`), "unknown report format", true},
		{"duplicate key", withTrivy(`"Severity": "HIGH"}`, `"Severity": "HIGH", "severity": "LOW"}`), `duplicate JSON key "severity"`, false},
		{"duplicate key by Unicode folding", withTrivy(`"Severity": "HIGH"}`, `"Severity": "HIGH", "\u017Feverity": "LOW"}`), "duplicate JSON key", false},
		{"trailing data", trivyJSON + "{}", "data after the JSON value", false},
		{"unknown severity", withTrivy(`"Severity": "CRITICAL"`, `"Severity": "SEVERE"`), `unknown severity "SEVERE"`, false},
		{"unknown status", withTrivy(`"Status": "affected"`, `"Status": "maybe"`), `unknown status "maybe"`, false},
		{"vulnerabilities in unknown class", withTrivy(`"Class": "lang-pkgs"`, `"Class": "kernel-pkgs"`), `result class "kernel-pkgs"`, false},
		{"bad repo digest", withTrivy(`"RepoDigests": ["registry.example/gate/sample@`+digestA+`"]`, `"RepoDigests": ["registry.example/gate/sample:latest"]`), "is not REPOSITORY@DIGEST", false},
		{"no vulnerability id", withTrivy(`"VulnerabilityID": "CVE-2099-1002", `, ``), "no VulnerabilityID", false},
		{"grype directory", `{"matches": [], "descriptor": {"name": "grype"}, "source": {"type": "directory", "target": "/"}}`, `source.type is "directory"`, false},
		{"grype no source", `{"matches": [], "descriptor": {"name": "grype"}}`, "no source", false},
		{"not grype", `{"matches": [], "descriptor": {"name": "other"}, "source": {"type": "image", "target": {}}}`, "not grype", true},
		{"grype fix state", `{"matches": [{"vulnerability": {"id": "CVE-1", "severity": "High", "fix": {"state": "patched"}}, "artifact": {"name": "x", "type": "deb"}}], "descriptor": {"name": "grype"}, "source": {"type": "image", "target": {"manifestDigest": "` + digestA + `"}}}`, `unknown fix state "patched"`, false},
		{"grype bad digest", `{"matches": [], "descriptor": {"name": "grype"}, "source": {"type": "image", "target": {"manifestDigest": "sha256:abc"}}}`, "is not a digest", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseReport([]byte(tt.data))
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if got := errors.Is(err, ErrUnknownFormat); got != tt.unknown {
				t.Errorf("errors.Is(ErrUnknownFormat) = %v, want %v (%v)", got, tt.unknown, err)
			}
		})
	}
}

// grypeImageJSON is a grype document with no matches whose source.target
// is target.
func grypeImageJSON(target string) string {
	return `{"matches": [], "descriptor": {"name": "grype", "version": "0.116.0"}, "source": {"type": "image", "target": ` + target + `}}`
}

// TestWrongImage gates reports against the digest they must have scanned:
// the scanned artifact (trivy's ArtifactName, grype's manifestDigest) is
// what counts; repo digests the report also lists never stand in for it.
func TestWrongImage(t *testing.T) {
	trivyFor := func(artifact string, repoDigests ...string) string {
		q := make([]string, len(repoDigests))
		for i, d := range repoDigests {
			q[i] = `"` + d + `"`
		}
		return strings.NewReplacer(
			`"ArtifactName": "registry.example/gate/sample@`+digestA+`"`, `"ArtifactName": "`+artifact+`"`,
			`"RepoDigests": ["registry.example/gate/sample@`+digestA+`"]`, `"RepoDigests": [`+strings.Join(q, ", ")+`]`,
		).Replace(trivyJSON)
	}
	const repo = "registry.example/gate/sample"
	tests := []struct {
		name   string
		report string
		digest string
		want   []string // substrings of the error; none: the gate evaluates
	}{
		{"trivy, this digest", trivyJSON, digestA, nil},
		{"trivy, another digest", trivyJSON, digestB, []string{"is for " + digestA + ", not " + digestB}},
		{"trivy, another image listing this digest in RepoDigests",
			trivyFor("registry.example/gate/other@"+digestB, repo+"@"+digestA, "registry.example/gate/other@"+digestB), digestA,
			[]string{"is for " + digestB + ", not " + digestA}},
		{"trivy, this image listing another digest in RepoDigests",
			trivyFor(repo+"@"+digestA, repo+"@"+digestA, "registry.example/gate/other@"+digestB), digestA, nil},
		{"trivy, scanned by tag", trivyFor(repo+":latest", repo+"@"+digestA), digestA,
			[]string{`the trivy report for "` + repo + `:latest" names no image digest; scan the image by digest`}},
		{"trivy, scanned from an archive", trivyFor("sample.tar"), digestA,
			[]string{`the trivy report for "sample.tar" names no image digest; scan the image by digest`}},
		{"grype, this digest", grypeImageJSON(`{"userInput": "` + repo + `@` + digestA + `", "manifestDigest": "` + digestA + `"}`), digestA, nil},
		{"grype, by tag", grypeImageJSON(`{"userInput": "` + repo + `:latest", "manifestDigest": "` + digestA + `"}`), digestA, nil},
		{"grype, another manifest listing this digest in repoDigests",
			grypeImageJSON(`{"userInput": "` + repo + `:latest", "manifestDigest": "` + digestB + `", "repoDigests": ["` + repo + `@` + digestA + `"]}`), digestA,
			[]string{"is for " + digestB + ", not " + digestA}},
		{"grype, asked for this digest but scanned another manifest",
			grypeImageJSON(`{"userInput": "` + repo + `@` + digestA + `", "manifestDigest": "` + digestB + `"}`), digestA,
			[]string{"is for " + digestB + ", not " + digestA}},
		{"grype, no manifest digest", grypeImageJSON(`{"userInput": "` + repo + `@` + digestA + `"}`), digestA, nil},
		{"grype, no digest at all", grypeImageJSON(`{"userInput": "` + repo + `:latest", "repoDigests": ["` + repo + `@` + digestA + `"]}`), digestA,
			[]string{`the grype report for "` + repo + `:latest" names no image digest`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseReport([]byte(tt.report))
			if err == nil {
				_, err = Evaluate(r, DefaultPolicy(), nil, tt.digest, time.Now())
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want the gate to evaluate", err)
				}
				return
			}
			if !errors.Is(err, ErrWrongImage) {
				t.Fatalf("got %v, want ErrWrongImage", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
		})
	}
	r := mustParse(t, trivyJSON)
	if _, err := Evaluate(r, DefaultPolicy(), nil, "latest", time.Now()); err == nil || errors.Is(err, ErrWrongImage) {
		t.Errorf("not a digest: got %v", err)
	}
}

var now = time.Date(2099, 3, 1, 12, 0, 0, 0, time.UTC)

// mustEvaluate evaluates r at now under the default policy tightened by
// flags, with the exceptions in YAML (none if empty).
func mustEvaluate(t *testing.T, r *Report, flags Flags, exceptions, digest string) *Result {
	t.Helper()
	p, err := DefaultPolicy().Tighten(flags)
	if err != nil {
		t.Fatal(err)
	}
	var ex *Exceptions
	if exceptions != "" {
		ex = mustExceptions(t, exceptions)
	}
	res, err := Evaluate(r, p, ex, digest, now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustExceptions(t *testing.T, y string) *Exceptions {
	t.Helper()
	ex, err := ParseExceptions([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func TestEvaluate(t *testing.T) {
	r := mustParse(t, trivyJSON)
	yes, no := true, false
	tests := []struct {
		name       string
		flags      Flags
		exceptions string
		blocking   []string
		excepted   []string
	}{
		{name: "seed policy: fixable HIGH/CRITICAL in OS packages", blocking: []string{"CVE-2099-1001"}},
		{name: "unfixed too", flags: Flags{FixableOnly: &no}, blocking: []string{"CVE-2099-1001", "CVE-2099-1002"}},
		{name: "fixable-only restated", flags: Flags{FixableOnly: &yes}, blocking: []string{"CVE-2099-1001"}},
		{name: "language packages too", flags: Flags{PackageClasses: []string{"os", "library"}}, blocking: []string{"CVE-2099-1001", "CVE-2099-1004"}},
		{name: "LOW too", flags: Flags{Severities: []string{"low", "HIGH", "CRITICAL"}}, blocking: []string{"CVE-2099-1001", "CVE-2099-1003"}},
		{name: "everything", flags: Flags{Severities: []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}, PackageClasses: []string{"os", "lang"}, FixableOnly: &no},
			blocking: []string{"CVE-2099-1001", "CVE-2099-1002", "CVE-2099-1003", "CVE-2099-1004"}},
		{name: "exception by id", exceptions: `
vulnerabilities:
  - id: CVE-2099-1001
    statement: not reachable
    expired_at: 2099-04-01
`, excepted: []string{"CVE-2099-1001"}},
		{name: "exception by matching purl", exceptions: `
vulnerabilities:
  - id: CVE-2099-1001
    purls: ["pkg:deb/debian/libssl3?arch=amd64"]
    statement: not reachable
    expired_at: 2099-04-01
`, excepted: []string{"CVE-2099-1001"}},
		{name: "exception for another purl", exceptions: `
vulnerabilities:
  - id: CVE-2099-1001
    purls: ["pkg:deb/debian/openssl"]
    statement: not reachable
    expired_at: 2099-04-01
`, blocking: []string{"CVE-2099-1001"}},
		{name: "exception for another version", exceptions: `
vulnerabilities:
  - id: CVE-2099-1001
    purls: ["pkg:deb/debian/libssl3@3.0.10-1"]
    statement: not reachable
    expired_at: 2099-04-01
`, blocking: []string{"CVE-2099-1001"}},
		{name: "purl exception never matches a finding without a purl", flags: Flags{FixableOnly: &no}, exceptions: `
vulnerabilities:
  - id: CVE-2099-1002
    purls: ["pkg:deb/debian/zlib1g"]
    statement: no fix yet
    expired_at: 2099-04-01
`, blocking: []string{"CVE-2099-1001", "CVE-2099-1002"}},
		{name: "exception by path", flags: Flags{PackageClasses: []string{"os", "lang"}}, exceptions: `
vulnerabilities:
  - id: CVE-2099-1004
    paths: ["usr/lib/**/requests-*.dist-info/METADATA"]
    statement: only the CLI uses requests, offline
    expired_at: 2099-04-01
`, blocking: []string{"CVE-2099-1001"}, excepted: []string{"CVE-2099-1004"}},
		{name: "exception for another path", flags: Flags{PackageClasses: []string{"os", "lang"}}, exceptions: `
vulnerabilities:
  - id: CVE-2099-1004
    paths: ["opt/**"]
    statement: only the CLI uses requests, offline
    expired_at: 2099-04-01
`, blocking: []string{"CVE-2099-1001", "CVE-2099-1004"}},
		{name: "expired exception", exceptions: `
vulnerabilities:
  - id: CVE-2099-1001
    statement: not reachable
    expired_at: 2099-03-01
`, blocking: []string{"CVE-2099-1001"}},
		{name: "secrets section is not applied", exceptions: `
secrets:
  - id: CVE-2099-1001
    statement: wrong section
    expired_at: 2099-04-01
`, blocking: []string{"CVE-2099-1001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustEvaluate(t, r, tt.flags, tt.exceptions, digestA)
			if diff := cmp.Diff(tt.blocking, blockingIDs(res), cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) || len(a)+len(b) == 0 })); diff != "" {
				t.Errorf("blocking (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.excepted, exceptedIDs(res), cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) || len(a)+len(b) == 0 })); diff != "" {
				t.Errorf("excepted (-want +got):\n%s", diff)
			}
			if res.Passed != (len(tt.blocking) == 0) {
				t.Errorf("got passed %v with %d blocking", res.Passed, len(tt.blocking))
			}
		})
	}
}

func TestExpiryBoundary(t *testing.T) {
	r := mustParse(t, trivyJSON)
	ex := mustExceptions(t, `
vulnerabilities:
  - id: CVE-2099-1001
    statement: not reachable
    expired_at: 2099-03-01
`)
	tests := []struct {
		now     time.Time
		blocked bool
	}{
		{time.Date(2099, 2, 28, 23, 59, 59, 999999999, time.UTC), false},
		{time.Date(2099, 3, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Date(2099, 3, 1, 0, 30, 0, 0, time.FixedZone("UTC+1", 3600)), false},   // 23:30 UTC the day before
		{time.Date(2099, 2, 28, 23, 30, 0, 0, time.FixedZone("UTC-1", -3600)), true}, // 00:30 UTC
	}
	for _, tt := range tests {
		t.Run(tt.now.Format(time.RFC3339Nano), func(t *testing.T) {
			res, err := Evaluate(r, DefaultPolicy(), ex, digestA, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if got := !res.Passed; got != tt.blocked {
				t.Fatalf("got blocked %v, want %v", got, tt.blocked)
			}
			if tt.blocked && (res.Blocking[0].ExpiredException == nil || res.Blocking[0].ExpiredException.Date() != "2099-03-01") {
				t.Errorf("got expired exception %+v, want the 2099-03-01 entry", res.Blocking[0].ExpiredException)
			}
		})
	}
}

func TestExpiringWindow(t *testing.T) {
	r := mustParse(t, trivyJSON)
	ex := mustExceptions(t, `
vulnerabilities:
  - {id: CVE-2099-1001, statement: a, expired_at: 2099-03-15}
  - {id: CVE-2099-1002, statement: b, expired_at: 2099-03-16}
  - {id: CVE-2099-1003, statement: c, expired_at: 2099-03-01}
`)
	p := DefaultPolicy() // 14 days from 2099-03-01T12:00Z: until 2099-03-15T12:00Z
	res, err := Evaluate(r, p, ex, digestA, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"CVE-2099-1001"}, ids(res.Expiring, func(e Exception) string { return e.ID })); diff != "" {
		t.Errorf("expiring (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"CVE-2099-1002"}, ids(res.Unused, func(e Exception) string { return e.ID })); diff != "" {
		t.Errorf("unused (-want +got):\n%s", diff)
	}
	p.ExpiryWarningDays = 0
	if res, err = Evaluate(r, p, ex, digestA, now); err != nil || len(res.Expiring) != 0 {
		t.Errorf("no warning window: got %v, %v", res.Expiring, err)
	}
}

func TestTighten(t *testing.T) {
	yes, no := true, false
	relaxed := DefaultPolicy()
	relaxed.FixableOnly = false
	tests := []struct {
		name    string
		policy  Policy
		flags   Flags
		setting string
		dropped []string
	}{
		{"drop HIGH", DefaultPolicy(), Flags{Severities: []string{"CRITICAL"}}, "severities", []string{"HIGH"}},
		{"other severities only", DefaultPolicy(), Flags{Severities: []string{"LOW", "MEDIUM"}}, "severities", []string{"HIGH", "CRITICAL"}},
		{"lang instead of os", DefaultPolicy(), Flags{PackageClasses: []string{"library"}}, "packageClasses", []string{"os"}},
		{"ignore unfixed under a policy that blocks them", relaxed, Flags{FixableOnly: &yes}, "fixableOnly", []string{"false"}},
		{"stricter", DefaultPolicy(), Flags{Severities: []string{"MEDIUM", "HIGH", "CRITICAL"}, PackageClasses: []string{"os", "lang"}, FixableOnly: &no}, "", nil},
		{"same", DefaultPolicy(), Flags{Severities: []string{"HIGH", "CRITICAL"}, PackageClasses: []string{"os"}, FixableOnly: &yes}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.policy.Tighten(tt.flags)
			var we *WeakeningError
			if tt.setting == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a WeakeningError", err)
			}
			if we.Setting != tt.setting || !slices.Equal(we.Dropped, tt.dropped) {
				t.Errorf("got %s %v, want %s %v", we.Setting, we.Dropped, tt.setting, tt.dropped)
			}
			if !strings.Contains(err.Error(), "stricter, never weaker") {
				t.Errorf("message %q does not say flags only tighten", err)
			}
		})
	}
	if _, err := DefaultPolicy().Tighten(Flags{Severities: []string{"HIGH", "CRITICAL", "URGENT"}}); err == nil || !strings.Contains(err.Error(), `"URGENT"`) {
		t.Errorf("unknown severity: got %v", err)
	}
	if _, err := DefaultPolicy().Tighten(Flags{PackageClasses: []string{"os", "config"}}); err == nil || !strings.Contains(err.Error(), `"config"`) {
		t.Errorf("unknown class: got %v", err)
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte("# seed 000\nseverities: [critical, HIGH, HIGH]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultPolicy(), p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	p, err = ParsePolicy([]byte("severities: [MEDIUM, HIGH, CRITICAL]\npackageClasses: [lang, os]\nfixableOnly: false\nexpiryWarningDays: 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{Severities: []Severity{SeverityMedium, SeverityHigh, SeverityCritical}, PackageClasses: []Class{ClassLang, ClassOS}, ExpiryWarningDays: 30}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ data, want string }{
		{"", "empty"},
		{"severities: []\n", "blocks nothing"},
		{"packageClasses: []\n", "blocks nothing"},
		{"severities: [HIGH]\nseverities: [LOW]\n", `key "severities" repeats the one on line 1`},
		{"severity: [HIGH]\n", `unknown field "severity"`},
		{"severities: HIGH\n", "must be a list"},
		{"severities: [SEVERE]\n", `unknown severity "SEVERE"`},
		{"packageClasses: [config]\n", `unknown package class "config"`},
		{"fixableOnly: yes\n", "must be true or false"},
		{"expiryWarningDays: -1\n", "not between"},
		{"expiryWarningDays: 1.5\n", "whole number"},
		{"a: &x [HIGH]\nseverities: *x\n", "anchors and aliases"},
		{"severities: [HIGH]\n---\nseverities: [LOW]\n", "more than one YAML document"},
		{"[HIGH]", "must be a mapping"},
	} {
		if _, err := ParsePolicy([]byte(tt.data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePolicy(%q): got %v, want %q", tt.data, err, tt.want)
		}
	}
}

func TestPolicyDigest(t *testing.T) {
	a, err := ParsePolicy([]byte("severities: [CRITICAL, HIGH]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParsePolicy([]byte("fixableOnly: true\nseverities: [high, critical]\npackageClasses: [os]\n"))
	if err != nil {
		t.Fatal(err)
	}
	const canonical = `{"expiryWarningDays":14,"fixableOnly":true,"packageClasses":["os"],"severities":["HIGH","CRITICAL"]}`
	if got := string(a.Canonical()); got != canonical {
		t.Errorf("got %s, want %s", got, canonical)
	}
	if a.Digest() != b.Digest() || a.Digest() != DefaultPolicy().Digest() {
		t.Errorf("one policy written two ways has digests %s and %s", a.Digest(), b.Digest())
	}
	b.FixableOnly = false
	if a.Digest() == b.Digest() {
		t.Error("different policies have one digest")
	}
}

func TestParseExceptionsErrors(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"no statement", "vulnerabilities:\n  - id: CVE-2099-1\n    expired_at: 2099-01-01\n", "vulnerabilities[0] (CVE-2099-1, line 2): no statement"},
		{"blank statement", "vulnerabilities:\n  - id: CVE-2099-1\n    statement: '  '\n    expired_at: 2099-01-01\n", "no statement"},
		{"no expiry", "vulnerabilities:\n  - id: CVE-2099-1\n    statement: why\n", "vulnerabilities[0] (CVE-2099-1, line 2): no expired_at"},
		{"second entry", "vulnerabilities:\n  - {id: CVE-2099-1, statement: why, expired_at: 2099-01-01}\n  - {id: CVE-2099-2, statement: why}\n", "vulnerabilities[1] (CVE-2099-2, line 3): no expired_at"},
		{"no id", "vulnerabilities:\n  - statement: why\n    expired_at: 2099-01-01\n", "(no id, line 2): no id"},
		{"invalid date", "vulnerabilities:\n  - {id: CVE-2099-1, statement: why, expired_at: 2099-02-30}\n", `expired_at "2099-02-30" is not a valid date`},
		{"month 13", "vulnerabilities:\n  - {id: CVE-2099-1, statement: why, expired_at: 2099-13-01}\n", `expired_at "2099-13-01" is not a valid date`},
		{"not a date", "vulnerabilities:\n  - {id: CVE-2099-1, statement: why, expired_at: next week}\n", `expired_at "next week" is not a date YYYY-MM-DD`},
		{"timestamp", "vulnerabilities:\n  - {id: CVE-2099-1, statement: why, expired_at: 2099-01-01T10:00:00Z}\n", "is not a date YYYY-MM-DD"},
		{"unknown field", "vulnerabilities:\n  - {id: CVE-2099-1, statement: why, expired_at: 2099-01-01, expires: 2099-01-01}\n", `unknown field "expires"`},
		{"repeated key", "vulnerabilities:\n  - id: CVE-2099-1\n    id: CVE-2099-2\n    statement: why\n    expired_at: 2099-01-01\n", `key "id" repeats`},
		{"unknown section", "vulns:\n  - {id: CVE-2099-1, statement: why, expired_at: 2099-01-01}\n", `unknown field "vulns"`},
		{"secret without statement", "secrets:\n  - {id: aws-access-key-id, expired_at: 2099-01-01}\n", "secrets[0] (aws-access-key-id, line 2): no statement"},
		{"purls outside vulnerabilities", "secrets:\n  - {id: x, purls: [pkg:npm/x], statement: why, expired_at: 2099-01-01}\n", `unknown field "purls"`},
		{"bad purl", "vulnerabilities:\n  - {id: CVE-2099-1, purls: [npm/x], statement: why, expired_at: 2099-01-01}\n", `purl "npm/x"`},
		{"bad path", "vulnerabilities:\n  - {id: CVE-2099-1, paths: ['usr/[lib'], statement: why, expired_at: 2099-01-01}\n", "path pattern"},
		{"alias", "vulnerabilities:\n  - &e {id: CVE-2099-1, statement: why, expired_at: 2099-01-01}\n  - *e\n", "anchors and aliases"},
		{"entry not a mapping", "vulnerabilities:\n  - CVE-2099-1\n", "must be a mapping"},
		{"id not a string", "vulnerabilities:\n  - {id: [CVE-2099-1], statement: why, expired_at: 2099-01-01}\n", "id must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseExceptions([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	for _, empty := range []string{"", "# nothing yet\n", "vulnerabilities: []\n", "vulnerabilities:\n"} {
		ex, err := ParseExceptions([]byte(empty))
		if err != nil || len(ex.Vulnerabilities) != 0 {
			t.Errorf("ParseExceptions(%q): got %v, %v", empty, ex, err)
		}
	}
}

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"usr/lib/x", "usr/lib/x", true},
		{"usr/lib/*", "usr/lib/x", true},
		{"usr/lib/*", "usr/lib/x/y", false},
		{"usr/**", "usr/lib/x/y", true},
		{"usr/**", "usr", true},
		{"**/METADATA", "usr/lib/a.dist-info/METADATA", true},
		{"**/METADATA", "METADATA", true},
		{"**", "anything/at/all", true},
		{"usr/**/x", "usr/x", true},
		{"usr/**/x", "usr/a/b/x", true},
		{"usr/**/x", "usr/a/b/y", false},
		{"usr/lib", "usr/lib/x", false},
		{"usr/li?", "usr/lib", true},
		{"*.jar", "app/x.jar", false},
	}
	for _, tt := range tests {
		if !validPattern(tt.pattern) {
			t.Errorf("validPattern(%q) = false", tt.pattern)
		}
		if got := matchPath(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
	for _, bad := range []string{"", "a/[b", "a/{b,c}"} {
		if validPattern(bad) {
			t.Errorf("validPattern(%q) = true", bad)
		}
	}
}

func TestPURL(t *testing.T) {
	tests := []struct {
		pattern, target string
		want            bool
	}{
		{"pkg:deb/debian/openssl", "pkg:deb/debian/openssl@3.0.11?arch=amd64&distro=debian-12", true},
		{"pkg:deb/debian/openssl@3.0.11", "pkg:deb/debian/openssl@3.0.11?arch=amd64", true},
		{"pkg:deb/debian/openssl@3.0.10", "pkg:deb/debian/openssl@3.0.11?arch=amd64", false},
		{"pkg:deb/debian/openssl?arch=arm64", "pkg:deb/debian/openssl@3.0.11?arch=amd64", false},
		{"pkg:deb/debian/openssl?arch=amd64", "pkg:deb/debian/openssl@3.0.11?arch=amd64", true},
		{"pkg:deb/ubuntu/openssl", "pkg:deb/debian/openssl@3.0.11", false},
		{"pkg:deb/debian/zlib1g@1:1.2.13", "pkg:deb/debian/zlib1g@1%3A1.2.13", true},
		{"pkg:npm/%40babel/core", "pkg:npm/@babel/core@7.0.0", true},
		{"pkg:golang/golang.org/x/net", "pkg:golang/golang.org/x/net@v0.1.0", true},
		{"pkg:golang/golang.org/x/net", "pkg:golang/golang.org/x/text@v0.1.0", false},
		{"pkg:maven/org.a/b#sub", "pkg:maven/org.a/b@1#other", false},
		{"PKG:deb/debian/openssl", "", false},
	}
	for _, tt := range tests {
		p, err := parsePURL(tt.pattern)
		if err != nil {
			if tt.want {
				t.Errorf("parsePURL(%q): %v", tt.pattern, err)
			}
			continue
		}
		target, err := parsePURL(tt.target)
		if err != nil {
			t.Fatalf("parsePURL(%q): %v", tt.target, err)
		}
		if got := p.matches(target); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.target, got, tt.want)
		}
	}
}
