package sbom_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"hallmark.dev/sbom"
)

// FuzzParse: Parse never panics and fails only with a *MalformedError; a
// document it accepts, written back out by its format library, parses to
// the same format, component count, creation time and subjects (SPDX 2.2
// comes back as 2.3, the library's current model).
func FuzzParse(f *testing.F) {
	seeds := []string{
		cdxDoc(""),
		cdxDoc(`"metadata":{"timestamp":"2026-01-02T03:04:05Z","component":{"type":"container","name":"a","version":"` + digA + `","purl":"pkg:oci/a@sha256%3A` + hexA + `","hashes":[{"alg":"SHA-256","content":"` + hexB + `"}],"properties":[{"name":"aquasecurity:trivy:ImageID","value":"` + digB + `"},{"name":"aquasecurity:trivy:RepoDigest","value":"r/a@` + digA + `"}]}},`),
		spdxDoc("SPDX-2.3", `,"documentDescribes":["SPDXRef-img"]`),
		spdxDoc("SPDX-2.2", `,"relationships":[{"spdxElementId":"SPDXRef-img","relatedSpdxElement":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBED_BY"}]`),
	}
	vectors, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vectors {
		data, err := os.ReadFile(v)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(data))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := sbom.Parse(data)
		if err != nil {
			var me *sbom.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("Parse: %T %v, want *MalformedError", err, err)
			}
			return
		}
		again, err := sbom.Reencode(doc)
		if err != nil {
			t.Fatalf("re-encode an accepted %s document: %v", doc.Format, err)
		}
		doc2, err := sbom.Parse(again)
		if err != nil {
			t.Fatalf("re-encoded %s document does not parse: %v\n%s", doc.Format, err, again)
		}
		want := *doc
		if want.Format == sbom.SPDX {
			want.SpecVersion = "SPDX-2.3"
		}
		if diff := cmp.Diff(&want, doc2, cmpopts.IgnoreUnexported(sbom.Document{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the document (-first +second):\n%s", diff)
		}
		if strings.TrimSpace(string(data)) == "" {
			t.Fatal("accepted empty input")
		}
	})
}
