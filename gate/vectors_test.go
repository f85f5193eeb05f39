package gate

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The image of testdata/trivy/report-*.json, scanned by the real trivy
// (see testdata/trivy/README.md).
const vectorDigest = "sha256:a1385a6a734a01bd5e1095baf7299070fdcf5bac125eb3252713f3a50b4b9895"

func readVector(t *testing.T, name string) *Report {
	t.Helper()
	data, err := os.ReadFile("testdata/trivy/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseReport(data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTrivyVectors(t *testing.T) {
	all := readVector(t, "report-all.json")
	osOnly := readVector(t, "report-os.json")
	if all.Scanner.Version != "0.70.0" || all.Digest != vectorDigest {
		t.Fatalf("got scanner %+v, digest %s", all.Scanner, all.Digest)
	}
	if len(all.Findings) != 5 || len(osOnly.Findings) != 4 {
		t.Fatalf("got %d and %d findings, want 5 (all) and 4 (--pkg-types os)", len(all.Findings), len(osOnly.Findings))
	}
	no := false
	tests := []struct {
		name     string
		report   *Report
		flags    Flags
		ex       string
		blocking []string
	}{
		{"seed policy", all, Flags{}, "", []string{"CVE-2099-1001"}},
		{"seed policy, os report", osOnly, Flags{}, "", []string{"CVE-2099-1001"}},
		{"unfixed: affected and will_not_fix", all, Flags{FixableOnly: &no}, "", []string{"CVE-2099-1001", "CVE-2099-1002", "CVE-2099-1005"}},
		{"language packages", all, Flags{PackageClasses: []string{"os", "library"}}, "", []string{"CVE-2099-1001", "CVE-2099-1004"}},
		{"language packages, os report", osOnly, Flags{PackageClasses: []string{"os", "library"}}, "", []string{"CVE-2099-1001"}},
		{"LOW", all, Flags{Severities: []string{"LOW", "HIGH", "CRITICAL"}}, "", []string{"CVE-2099-1001", "CVE-2099-1003"}},
		{"exception by purl with an encoded version", all, Flags{FixableOnly: &no}, `
vulnerabilities:
  - id: CVE-2099-1005
    purls: ["pkg:deb/debian/libc6@2.36-9%2Bdeb12u4"]
    statement: Debian will not fix; the code path needs a local attacker
    expired_at: 2099-06-01
  - id: CVE-2099-1002
    purls: ["pkg:deb/debian/zlib1g?epoch=1"]
    statement: no fix upstream yet
    expired_at: 2099-06-01
`, []string{"CVE-2099-1001"}},
		{"exception by trivy's package path", all, Flags{PackageClasses: []string{"os", "lang"}}, `
vulnerabilities:
  - id: CVE-2099-1004
    paths: ["usr/lib/python3/dist-packages/**"]
    statement: requests is only used by an offline tool
    expired_at: 2099-06-01
`, []string{"CVE-2099-1001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustEvaluate(t, tt.report, tt.flags, tt.ex, vectorDigest)
			if diff := cmp.Diff(tt.blocking, blockingIDs(res)); diff != "" {
				t.Errorf("blocking (-want +got):\n%s", diff)
			}
		})
	}
	// trivy's cosign-vuln output is a predicate, not a report.
	data, err := os.ReadFile("testdata/trivy/cosign-vuln.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseReport(data); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("cosign-vuln predicate as a report: got %v, want ErrUnknownFormat", err)
	}
}

// keys returns the object keys of v and of its object members, as paths.
func keys(prefix string, v any, depth int) []string {
	m, ok := v.(map[string]any)
	if !ok || depth == 0 {
		return nil
	}
	var out []string
	for k, x := range m {
		out = append(out, prefix+k)
		out = append(out, keys(prefix+k+".", x, depth-1)...)
	}
	sort.Strings(out)
	return out
}

func TestPredicate(t *testing.T) {
	r := readVector(t, "report-all.json")
	r.Scanner.DBVersion = "v2@2025-01-01T00:00:00Z"
	ex := mustExceptions(t, `
vulnerabilities:
  - id: CVE-2099-1001
    statement: not reachable
    expired_at: 2099-06-01
`)
	res, err := Evaluate(r, DefaultPolicy(), ex, vectorDigest, now)
	if err != nil {
		t.Fatal(err)
	}
	data, err := res.Predicate(Invocation{URI: "https://ci.example/run/1", EventID: "1", BuilderID: "https://ci.example/builder"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	// The same fields, to the scanner's, as trivy's own cosign-vuln predicate.
	theirs, err := os.ReadFile("testdata/trivy/cosign-vuln.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(theirs, &want); err != nil {
		t.Fatal(err)
	}
	// scanner.result and invocation.parameters hold different documents.
	trim := func(ks []string) []string {
		return slices.DeleteFunc(ks, func(k string) bool {
			return strings.HasPrefix(k, "scanner.result.") || strings.HasPrefix(k, "invocation.parameters.")
		})
	}
	if diff := cmp.Diff(trim(keys("", want, 3)), trim(keys("", got, 3))); diff != "" {
		t.Errorf("predicate fields differ from trivy's cosign-vuln (-trivy +ours):\n%s", diff)
	}
	var p struct {
		Invocation struct {
			Parameters struct {
				PolicyDigest     string
				ExceptionsDigest string
				ExceptionsUsed   []struct {
					ID        string `json:"id"`
					Statement string `json:"statement"`
					ExpiredAt string `json:"expired_at"`
				}
			}
			URI       string `json:"uri"`
			BuilderID string `json:"builder.id"`
		}
		Scanner struct {
			URI, Version string
			DB           struct{ URI, Version string }
			Result       struct {
				Passed bool
				Image  string
			}
		}
		Metadata struct{ ScanStartedOn, ScanFinishedOn string }
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if p.Scanner.URI != "pkg:github/aquasecurity/trivy@0.70.0" || p.Scanner.Version != "0.70.0" || p.Scanner.DB.Version != "v2@2025-01-01T00:00:00Z" {
		t.Errorf("scanner: got %+v", p.Scanner)
	}
	if !p.Scanner.Result.Passed || p.Scanner.Result.Image != vectorDigest {
		t.Errorf("result: got %+v", p.Scanner.Result)
	}
	if p.Invocation.Parameters.PolicyDigest != DefaultPolicy().Digest() || p.Invocation.Parameters.ExceptionsDigest != ex.Digest {
		t.Errorf("parameters: got %+v", p.Invocation.Parameters)
	}
	if len(p.Invocation.Parameters.ExceptionsUsed) != 1 || p.Invocation.Parameters.ExceptionsUsed[0].ExpiredAt != "2099-06-01" || p.Invocation.Parameters.ExceptionsUsed[0].Statement != "not reachable" {
		t.Errorf("exceptions used: got %+v", p.Invocation.Parameters.ExceptionsUsed)
	}
	if p.Invocation.URI != "https://ci.example/run/1" || p.Invocation.BuilderID != "https://ci.example/builder" {
		t.Errorf("invocation: got %+v", p.Invocation)
	}
	if p.Metadata.ScanStartedOn != r.CreatedAt[:19]+"Z" || p.Metadata.ScanFinishedOn != p.Metadata.ScanStartedOn {
		t.Errorf("metadata: got %+v, want the report's creation time %s", p.Metadata, r.CreatedAt)
	}
}
