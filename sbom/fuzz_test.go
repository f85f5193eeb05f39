package sbom_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/sbom"
)

// FuzzParse: Parse never panics and fails only with a *MalformedError; what
// it reads from an accepted document depends on the JSON value only: the
// same document re-encoded canonically (keys sorted, whitespace dropped,
// strings re-escaped) is accepted and reads the same. A reader that looked
// at raw bytes (an escaped "\u0053PDXRef-…") would fail this.
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
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted a document encoding/json cannot decode: %v", err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		doc2, err := sbom.Parse(again)
		if err != nil {
			t.Fatalf("the re-encoded %s document does not parse: %v\n%s", doc.Format, err, again)
		}
		if diff := cmp.Diff(doc, doc2); diff != "" {
			t.Fatalf("re-encoding changed what was read (-first +second):\n%s", diff)
		}
	})
}
