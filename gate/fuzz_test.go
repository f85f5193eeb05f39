package gate

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

func reportSeeds(f *testing.F) {
	f.Helper()
	f.Add([]byte(trivyJSON))
	files, err := filepath.Glob("testdata/*/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if len(files) == 0 {
		f.Fatal("no seed reports in testdata")
	}
	f.Add([]byte(`{"SchemaVersion": 2, "Results": [{"Class": "os-pkgs", "Vulnerabilities": [{"VulnerabilityID": "x", "PkgName": "y"}]}]}`))
	f.Add([]byte(`{"matches": [], "descriptor": {"name": "grype"}, "source": {"type": "image", "target": {"manifestDigest": "` + digestA + `"}}}`))
}

// FuzzParseReport checks that whatever ParseReport accepts is a report the
// gate can judge exactly: every finding is complete, every digest valid,
// and under the widest policy every finding blocks.
func FuzzParseReport(f *testing.F) {
	reportSeeds(f)
	no := false
	widest, err := DefaultPolicy().Tighten(Flags{
		Severities:     []string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"},
		PackageClasses: []string{"os", "lang"}, FixableOnly: &no,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReport(data)
		if err != nil {
			return
		}
		for _, fd := range r.Findings {
			if fd.ID == "" || fd.Package == "" {
				t.Fatalf("finding without id or package: %+v", fd)
			}
			if _, ok := severityRank[fd.Severity]; !ok {
				t.Fatalf("finding with severity %q", fd.Severity)
			}
			if fd.Class != ClassOS && fd.Class != ClassLang {
				t.Fatalf("finding with class %q", fd.Class)
			}
			if fd.Fixable && fd.Status != "fixed" && (fd.Status != "" || fd.FixedVersion == "") {
				t.Fatalf("fixable finding with status %q and fixed version %q", fd.Status, fd.FixedVersion)
			}
		}
		if r.Digest != "" && !ValidDigest(r.Digest) {
			t.Fatalf("invalid digest %q", r.Digest)
		}
		if r.Digest == "" {
			if _, err := Evaluate(r, widest, nil, digestA, now); err == nil {
				t.Fatal("a report naming no digest was gated")
			}
			return
		}
		res, err := Evaluate(r, widest, nil, r.Digest, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Blocking) != len(r.Findings) || res.Passed != (len(r.Findings) == 0) {
			t.Fatalf("widest policy: %d of %d findings block", len(res.Blocking), len(r.Findings))
		}
	})
}

// writeExceptions writes exceptions back in .trivyignore.yaml form.
func writeExceptions(ex *Exceptions) ([]byte, error) {
	type entry struct {
		ID        string   `yaml:"id"`
		Paths     []string `yaml:"paths,omitempty"`
		PURLs     []string `yaml:"purls,omitempty"`
		Statement string   `yaml:"statement"`
		ExpiredAt string   `yaml:"expired_at"`
	}
	doc := map[string][]entry{}
	for _, e := range slices.Concat(ex.Vulnerabilities, ex.Others) {
		doc[e.Section] = append(doc[e.Section], entry{e.ID, e.Paths, e.PURLs, e.Statement, e.Date()})
	}
	return yaml.Marshal(doc)
}

// FuzzParseExceptions checks that every accepted entry has an id, a
// statement and an expiry at 00:00 UTC, and that writing the entries
// back and reading them again gives the same entries.
func FuzzParseExceptions(f *testing.F) {
	for _, s := range []string{
		"vulnerabilities:\n  - id: CVE-2099-1001\n    statement: not reachable\n    expired_at: 2099-04-01\n",
		"vulnerabilities:\n  - id: CVE-2099-1001\n    paths: ['usr/**']\n    purls: ['pkg:deb/debian/libssl3?arch=amd64']\n    statement: why\n    expired_at: 2099-04-01\nsecrets:\n  - {id: aws-access-key-id, paths: [etc/x], statement: test key, expired_at: 2099-01-01}\n",
		"misconfigurations: []\nlicenses:\n  - {id: GPL-3.0, statement: internal tool, expired_at: 2100-02-29}\n",
		"vulnerabilities:\n  - {id: CVE-2099-1, statement: why}\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, err := ParseExceptions(data)
		if err != nil {
			return
		}
		for _, e := range slices.Concat(ex.Vulnerabilities, ex.Others) {
			if e.ID == "" || e.Statement == "" {
				t.Fatalf("entry without id or statement: %+v", e)
			}
			if e.ExpiredAt.IsZero() || e.ExpiredAt.Location() != time.UTC || !e.ExpiredAt.Equal(e.ExpiredAt.Truncate(24*time.Hour)) {
				t.Fatalf("expiry %v is not 00:00 UTC", e.ExpiredAt)
			}
		}
		out, err := writeExceptions(ex)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseExceptions(out)
		if err != nil {
			t.Fatalf("reading back %q: %v", out, err)
		}
		sortOthers := func(es []Exception) []Exception {
			es = slices.Clone(es)
			slices.SortStableFunc(es, func(a, b Exception) int {
				if a.Section != b.Section {
					if a.Section < b.Section {
						return -1
					}
					return 1
				}
				return a.Index - b.Index
			})
			return es
		}
		opts := []cmp.Option{cmpopts.IgnoreFields(Exception{}, "Line"), cmp.AllowUnexported(Exception{}, purl{}), cmpopts.EquateEmpty()}
		if diff := cmp.Diff(ex.Vulnerabilities, again.Vulnerabilities, opts...); diff != "" {
			t.Fatalf("vulnerabilities changed on a round trip (-first +second):\n%s", diff)
		}
		if diff := cmp.Diff(sortOthers(ex.Others), sortOthers(again.Others), opts...); diff != "" {
			t.Fatalf("other sections changed on a round trip (-first +second):\n%s", diff)
		}
	})
}
