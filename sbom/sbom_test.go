package sbom_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/sbom"
)

var (
	hexA = strings.Repeat("a", 64)
	hexB = strings.Repeat("b", 64)
	hexC = strings.Repeat("c", 64)
	digA = "sha256:" + hexA
	digB = "sha256:" + hexB
	digC = "sha256:" + hexC
)

func cdxDoc(metadata string) string {
	return `{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,` + metadata +
		`"components":[{"type":"library","name":"zlib","version":"1.3.1","components":[{"type":"file","name":"libz.so"}]},{"type":"library","name":"musl"}]}`
}

func spdxDoc(version, extra string) string {
	return `{"spdxVersion":"` + version + `","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"img","documentNamespace":"https://example.com/ns",` +
		`"creationInfo":{"created":"2026-01-02T03:04:05Z","creators":["Tool: test"]},` +
		`"packages":[{"SPDXID":"SPDXRef-img","name":"registry.example/app","downloadLocation":"NOASSERTION",` +
		`"checksums":[{"algorithm":"SHA256","checksumValue":"` + hexA + `"},{"algorithm":"SHA1","checksumValue":"` + strings.Repeat("1", 40) + `"}],` +
		`"externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:oci/app@sha256%3A` + hexA + `?arch=amd64"}]},` +
		`{"SPDXID":"SPDXRef-zlib","name":"zlib","downloadLocation":"NOASSERTION","versionInfo":"1.3.1"}]` + extra + `}`
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *sbom.Document
	}{
		{"cyclonedx without metadata", cdxDoc(""),
			&sbom.Document{Format: sbom.CycloneDX, SpecVersion: "1.6", Components: 3}},
		{"syft: container version is the manifest digest",
			cdxDoc(`"metadata":{"timestamp":"2026-01-02T03:04:05Z","component":{"bom-ref":"x","type":"container","name":"registry.example/app:v1","version":"` + digA + `"}},`),
			&sbom.Document{Format: sbom.CycloneDX, SpecVersion: "1.6", Components: 3, Created: mustTime(t, "2026-01-02T03:04:05Z"),
				Subjects: []sbom.Subject{{Name: "registry.example/app:v1", Version: digA, Claims: []sbom.Claim{
					{Kind: sbom.Manifest, Digest: digA, Field: "metadata.component.version"}}}}}},
		{"trivy: purl, image ID, repo digest",
			cdxDoc(`"metadata":{"component":{"type":"container","name":"registry.example/app:v1","purl":"pkg:oci/app@sha256%3A` + hexA + `?arch=amd64&repository_url=registry.example%2Fapp",` +
				`"properties":[{"name":"aquasecurity:trivy:ImageID","value":"` + digB + `"},{"name":"aquasecurity:trivy:RepoDigest","value":"registry.example/app@` + digA + `"},{"name":"aquasecurity:trivy:SchemaVersion","value":"2"}]}},`),
			&sbom.Document{Format: sbom.CycloneDX, SpecVersion: "1.6", Components: 3,
				Subjects: []sbom.Subject{{Name: "registry.example/app:v1", PURL: "pkg:oci/app@sha256%3A" + hexA + "?arch=amd64&repository_url=registry.example%2Fapp", Claims: []sbom.Claim{
					{Kind: sbom.Manifest, Digest: digA, Field: "metadata.component.purl"},
					{Kind: sbom.Config, Digest: digB, Field: "metadata.component.properties[aquasecurity:trivy:ImageID]"},
					{Kind: sbom.Manifest, Digest: digA, Field: "metadata.component.properties[aquasecurity:trivy:RepoDigest]"}}}}}},
		{"hashes; a version that is not a digest; a purl of another type",
			cdxDoc(`"metadata":{"component":{"type":"application","name":"app","version":"1.0.0","purl":"pkg:golang/example.com/app@v1.0.0","hashes":[{"alg":"SHA-1","content":"` + strings.Repeat("1", 40) + `"},{"alg":"SHA-256","content":"` + strings.ToUpper(hexC) + `"}]}},`),
			&sbom.Document{Format: sbom.CycloneDX, SpecVersion: "1.6", Components: 3,
				Subjects: []sbom.Subject{{Name: "app", Version: "1.0.0", PURL: "pkg:golang/example.com/app@v1.0.0", Claims: []sbom.Claim{
					{Kind: sbom.ContentHash, Digest: digC, Field: "metadata.component.hashes[1]"}}}}}},
		{"cyclonedx 1.4", strings.Replace(cdxDoc(""), `"1.6"`, `"1.4"`, 1),
			&sbom.Document{Format: sbom.CycloneDX, SpecVersion: "1.4", Components: 3}},
		{"spdx 2.3 documentDescribes", spdxDoc("SPDX-2.3", `,"documentDescribes":["SPDXRef-img"]`),
			&sbom.Document{Format: sbom.SPDX, SpecVersion: "SPDX-2.3", Components: 2, Created: mustTime(t, "2026-01-02T03:04:05Z"),
				Subjects: []sbom.Subject{{Name: "registry.example/app", PURL: "pkg:oci/app@sha256%3A" + hexA + "?arch=amd64", Claims: []sbom.Claim{
					{Kind: sbom.ContentHash, Digest: digA, Field: "package SPDXRef-img checksums[0]"},
					{Kind: sbom.Manifest, Digest: digA, Field: "package SPDXRef-img externalRefs[0] purl"}}}}}},
		{"spdx 2.2 DESCRIBED_BY relationship",
			spdxDoc("SPDX-2.2", `,"relationships":[{"spdxElementId":"SPDXRef-img","relatedSpdxElement":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBED_BY"},{"spdxElementId":"SPDXRef-img","relatedSpdxElement":"SPDXRef-zlib","relationshipType":"CONTAINS"}]`),
			&sbom.Document{Format: sbom.SPDX, SpecVersion: "SPDX-2.2", Components: 2, Created: mustTime(t, "2026-01-02T03:04:05Z"),
				Subjects: []sbom.Subject{{Name: "registry.example/app", PURL: "pkg:oci/app@sha256%3A" + hexA + "?arch=amd64", Claims: []sbom.Claim{
					{Kind: sbom.ContentHash, Digest: digA, Field: "package SPDXRef-img checksums[0]"},
					{Kind: sbom.Manifest, Digest: digA, Field: "package SPDXRef-img externalRefs[0] purl"}}}}}},
		{"spdx describing nothing", spdxDoc("SPDX-2.3", ""),
			&sbom.Document{Format: sbom.SPDX, SpecVersion: "SPDX-2.3", Components: 2, Created: mustTime(t, "2026-01-02T03:04:05Z")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sbom.Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not JSON", `not json`, "sbom: not a JSON object"},
		{"array", `[1]`, "sbom: not a JSON object"},
		{"truncated", `{"bomFormat":"CycloneDX"`, "sbom: invalid JSON"},
		{"neither", `{"foo":1}`, "sbom: neither CycloneDX JSON (no bomFormat) nor SPDX JSON (no spdxVersion)"},
		{"both", `{"bomFormat":"CycloneDX","spdxVersion":"SPDX-2.3"}`, "both bomFormat (CycloneDX) and spdxVersion (SPDX)"},
		{"wrong bomFormat", strings.Replace(cdxDoc(""), `"CycloneDX"`, `"cyclonedx"`, 1), `sbom: malformed CycloneDX: bomFormat "cyclonedx", want "CycloneDX"`},
		{"cyclonedx 1.3", strings.Replace(cdxDoc(""), `"1.6"`, `"1.3"`, 1), `sbom: malformed CycloneDX: specVersion "1.3" is not supported (want one of 1.4, 1.5, 1.6, 1.7)`},
		{"cyclonedx no specVersion", `{"bomFormat":"CycloneDX"}`, `specVersion (missing) is not supported`},
		{"cyclonedx numeric specVersion", `{"bomFormat":"CycloneDX","specVersion":1.5}`, `specVersion 1.5 is not supported`},
		{"wrong type", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}`, "sbom: malformed CycloneDX: json: cannot unmarshal"},
		{"bad component type", `{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"name":"x"}}}`, "metadata.component needs a type and a name"},
		{"bad timestamp", `{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"timestamp":"yesterday"}}`, `metadata.timestamp "yesterday" is not an RFC 3339 time`},
		{"duplicate key", `{"bomFormat":"CycloneDX","specVersion":"1.5","specVersion":"1.4"}`, `malformed CycloneDX: keys "specVersion" and "specVersion" are the same to a case-insensitive reader`},
		{"case variant of a read key", `{"bomFormat":"CycloneDX","specVersion":"1.5","Metadata":{"component":{"type":"container","name":"x","version":"` + digA + `"}}}`, `malformed CycloneDX: key "Metadata", want "metadata"`},
		{"nested case variant", `{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"component":{"type":"container","name":"x","PURL":"pkg:oci/x@sha256%3A` + hexA + `"}}}`, `metadata.component: key "PURL", want "purl"`},
		{"two keys folding equal", `{"bomFormat":"CycloneDX","specVersion":"1.5","x-y":1,"X-Y":2}`, `keys "x-y" and "X-Y" are the same`},
		{"two keys folding equal under Unicode folding", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","hashes":[{"alg":"SHA-256","content":"` + hexA + `"}],"ha\u017fhes":[{"alg":"SHA-256","content":"` + strings.Repeat("b", 64) + `"}]}},`), `metadata.component: keys "hashes" and "haſhes" are the same to a case-insensitive reader`},
		{"read key spelled with a Unicode fold", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","hashe\u017f":[]}},`), `metadata.component: key "hasheſ", want "hashes"`},
		{"pkg:oci without version", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","purl":"pkg:oci/x?arch=amd64"}},`), "a pkg:oci package URL needs a version"},
		{"pkg:oci version not a digest", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","purl":"pkg:oci/x@latest"}},`), "the pkg:oci version is not a sha256 digest"},
		{"not a purl", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","purl":"oci/x@sha256:` + hexA + `"}},`), "is not a package URL"},
		{"short hash", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","hashes":[{"alg":"SHA-256","content":"abc"}]}},`), `metadata.component.hashes[0]: SHA-256 "abc" is not 64 hex digits`},
		{"bad image ID", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","properties":[{"name":"aquasecurity:trivy:ImageID","value":"sha256:xyz"}]}},`), `properties[aquasecurity:trivy:ImageID]: "sha256:xyz" is not a sha256 digest`},
		{"bad repo digest", cdxDoc(`"metadata":{"component":{"type":"container","name":"x","properties":[{"name":"aquasecurity:trivy:RepoDigest","value":"` + digA + `"}]}},`), `is not repository@sha256:<hex>`},
		{"spdx 2.1", spdxDoc("SPDX-2.1", ""), `sbom: malformed SPDX: spdxVersion "SPDX-2.1" is not supported (want one of SPDX-2.2, SPDX-2.3)`},
		{"spdx without namespace", strings.Replace(spdxDoc("SPDX-2.3", ""), `"documentNamespace":"https://example.com/ns",`, "", 1), "name, documentNamespace and creationInfo are required"},
		{"spdx wrong SPDXID", strings.Replace(spdxDoc("SPDX-2.3", ""), `"SPDXRef-DOCUMENT"`, `"SPDXRef-X"`, 1), `SPDXID "SPDXRef-X", want SPDXRef-DOCUMENT`},
		{"spdx duplicate package", strings.Replace(spdxDoc("SPDX-2.3", ""), `"SPDXRef-zlib"`, `"SPDXRef-img"`, 1), `two packages have SPDXID "SPDXRef-img"`},
		{"spdx bad checksum", strings.Replace(spdxDoc("SPDX-2.3", `,"documentDescribes":["SPDXRef-img"]`), hexA+`"}`, `abc"}`, 1), `package SPDXRef-img checksums[0]: SHA256 "abc" is not 64 hex digits`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sbom.Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse accepted %s", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v, want it to contain %q", err, tt.want)
			}
			var me *sbom.MalformedError
			if !errors.As(err, &me) {
				t.Errorf("Parse: %T, want *MalformedError", err)
			}
		})
	}
}

func TestCheckSubject(t *testing.T) {
	doc := func(claims ...sbom.Claim) *sbom.Document {
		return &sbom.Document{Format: sbom.CycloneDX, Subjects: []sbom.Subject{{Name: "x", Claims: claims}}}
	}
	manifest := func(d string) sbom.Claim { return sbom.Claim{Kind: sbom.Manifest, Digest: d, Field: "m"} }
	config := func(d string) sbom.Claim { return sbom.Claim{Kind: sbom.Config, Digest: d, Field: "c"} }
	hash := func(d string) sbom.Claim { return sbom.Claim{Kind: sbom.ContentHash, Digest: d, Field: "h"} }
	tests := []struct {
		name  string
		doc   *sbom.Document
		img   sbom.Image
		match *sbom.Claim // nil: accepted with no claim
		err   string      // non-empty: refused
	}{
		{"no claims", &sbom.Document{}, sbom.Image{Digest: digA}, nil, ""},
		{"manifest matches", doc(manifest(digA)), sbom.Image{Digest: digA}, &sbom.Claim{Kind: sbom.Manifest, Digest: digA, Field: "m"}, ""},
		{"manifest differs", doc(manifest(digB)), sbom.Image{Digest: digA},
			nil, "sbom: the SBOM describes another image: it names manifest digest " + digB + " (m), not " + digA},
		{"config matches, manifest differs (index digest or another manifest encoding)", doc(manifest(digC), config(digB)), sbom.Image{Digest: digA, Config: digB},
			&sbom.Claim{Kind: sbom.Config, Digest: digB, Field: "c"}, ""},
		{"manifest matches, config contradicts", doc(manifest(digA), config(digC)), sbom.Image{Digest: digA, Config: digB},
			nil, "it names config digest " + digC + " (c), but " + digA + " has config digest " + digB},
		{"index: manifest matches, config of a child not checked", doc(manifest(digA), config(digC)), sbom.Image{Digest: digA}, &sbom.Claim{Kind: sbom.Manifest, Digest: digA, Field: "m"}, ""},
		{"config only, image config unknown", doc(config(digB)), sbom.Image{Digest: digA},
			nil, "it names config digest " + digB + " (c), not " + digA},
		{"config only, differs", doc(config(digC)), sbom.Image{Digest: digA, Config: digB},
			nil, "has config digest " + digB},
		{"hash matches manifest", doc(hash(digA)), sbom.Image{Digest: digA, Config: digB}, &sbom.Claim{Kind: sbom.ContentHash, Digest: digA, Field: "h"}, ""},
		{"hash matches config", doc(hash(digB)), sbom.Image{Digest: digA, Config: digB}, &sbom.Claim{Kind: sbom.ContentHash, Digest: digB, Field: "h"}, ""},
		{"hash differs", doc(hash(digC)), sbom.Image{Digest: digA, Config: digB},
			nil, "it names hash digest " + digC + " (h), not " + digA + " (config " + digB + ")"},
		{"bad image digest", doc(manifest(digA)), sbom.Image{Digest: "sha256:abc"}, nil, `image digest "sha256:abc" is not sha256:<64 hex>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sbom.CheckSubject(tt.doc, tt.img)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("CheckSubject: %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckSubject: %v", err)
			}
			if diff := cmp.Diff(tt.match, got); diff != "" {
				t.Errorf("CheckSubject (-want +got):\n%s", diff)
			}
		})
	}
	_, err := sbom.CheckSubject(doc(manifest(digB)), sbom.Image{Digest: digA})
	if !errors.Is(err, sbom.ErrOtherSubject) {
		t.Errorf("CheckSubject: %v, want ErrOtherSubject", err)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
