package sbom_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/sbom"
)

// The sample image in testdata (see testdata/README.md): its manifest
// digest as an OCI layout (and pushed from it), its manifest digest when the
// docker-archive is pushed (a Docker v2 manifest), and its config digest,
// the same either way.
const (
	sampleManifest        = "sha256:c16027258f9eeeb4d5a895129136e6308d8723f1012c6a0701146f19d5a3f930"
	sampleArchiveManifest = "sha256:aef96d17a01d213677ea6e8bfe8fa2cb446b4ba692366b70669282495d963776"
	sampleConfig          = "sha256:9a138d832e13020554a9667337a50270d2f76c28c4d936188c4d8098d04df564"
	// syft's digest for the docker-archive: of an OCI manifest stereoscope
	// makes up from the archive, which no registry serves.
	syftArchiveManifest = "sha256:d887dec56aa0fc25f982109a3862bd229822f5591c338cd2d3d32b5f68a1e1fb"
)

// TestVectors parses the SBOMs real syft and trivy wrote for the sample
// image and checks what each claims, and that CheckSubject accepts it for
// the image it was made from and refuses it for another.
func TestVectors(t *testing.T) {
	type claim struct {
		Kind   sbom.Kind
		Digest string
	}
	tests := []struct {
		file       string
		format     sbom.Format
		spec       string
		components int
		claims     []claim
		// accepted and refused by CheckSubject for these images
		accept []sbom.Image
		refuse []sbom.Image
	}{
		{"syft-oci.cdx.json", sbom.CycloneDX, "1.7", 7, []claim{{sbom.Manifest, sampleManifest}},
			[]sbom.Image{{Digest: sampleManifest}, {Digest: sampleManifest, Config: sampleConfig}},
			[]sbom.Image{{Digest: sampleArchiveManifest, Config: sampleConfig}, {Digest: digA}}},
		{"syft-oci.spdx.json", sbom.SPDX, "SPDX-2.3", 5, []claim{{sbom.ContentHash, sampleManifest}, {sbom.Manifest, sampleManifest}},
			[]sbom.Image{{Digest: sampleManifest, Config: sampleConfig}},
			[]sbom.Image{{Digest: digA, Config: digB}}},
		// docker-archive: syft names a manifest no registry serves.
		{"syft-archive.cdx.json", sbom.CycloneDX, "1.7", 7, []claim{{sbom.Manifest, syftArchiveManifest}},
			nil,
			[]sbom.Image{{Digest: sampleManifest, Config: sampleConfig}, {Digest: sampleArchiveManifest, Config: sampleConfig}}},
		// From a registry by tag, syft writes the tag as the version in
		// CycloneDX (no digest), the manifest digest in SPDX.
		{"syft-registry.cdx.json", sbom.CycloneDX, "1.7", 7, nil,
			[]sbom.Image{{Digest: digA}}, nil},
		{"syft-registry.spdx.json", sbom.SPDX, "SPDX-2.3", 5, []claim{{sbom.ContentHash, sampleManifest}, {sbom.Manifest, sampleManifest}},
			[]sbom.Image{{Digest: sampleManifest}}, []sbom.Image{{Digest: digA}}},
		{"syft-registry-digest.cdx.json", sbom.CycloneDX, "1.7", 7, []claim{{sbom.Manifest, sampleManifest}},
			[]sbom.Image{{Digest: sampleManifest}}, []sbom.Image{{Digest: digA}}},
		// trivy from a layout or an archive: only the config digest.
		{"trivy-oci.cdx.json", sbom.CycloneDX, "1.6", 5, []claim{{sbom.Config, sampleConfig}},
			[]sbom.Image{{Digest: sampleManifest, Config: sampleConfig}, {Digest: sampleArchiveManifest, Config: sampleConfig}},
			[]sbom.Image{{Digest: sampleManifest}, {Digest: sampleManifest, Config: digB}}},
		{"trivy-oci.spdx.json", sbom.SPDX, "SPDX-2.3", 6, []claim{{sbom.Config, sampleConfig}},
			[]sbom.Image{{Digest: sampleManifest, Config: sampleConfig}},
			[]sbom.Image{{Digest: sampleManifest, Config: digB}}},
		{"trivy-archive.cdx.json", sbom.CycloneDX, "1.6", 5, []claim{{sbom.Config, sampleConfig}},
			[]sbom.Image{{Digest: sampleArchiveManifest, Config: sampleConfig}},
			[]sbom.Image{{Digest: sampleArchiveManifest, Config: digB}}},
		// trivy from a registry: the package URL and repository digest
		// name the manifest, the image ID the config.
		{"trivy-registry.cdx.json", sbom.CycloneDX, "1.6", 5, []claim{{sbom.Manifest, sampleManifest}, {sbom.Config, sampleConfig}, {sbom.Manifest, sampleManifest}},
			[]sbom.Image{{Digest: sampleManifest}, {Digest: sampleManifest, Config: sampleConfig}},
			[]sbom.Image{{Digest: digA, Config: digB}, {Digest: sampleManifest, Config: digB}}},
		{"trivy-registry.spdx.json", sbom.SPDX, "SPDX-2.3", 6, []claim{{sbom.Manifest, sampleManifest}, {sbom.Config, sampleConfig}, {sbom.Manifest, sampleManifest}},
			[]sbom.Image{{Digest: sampleManifest, Config: sampleConfig}},
			[]sbom.Image{{Digest: digA, Config: digB}}},
		// A root filesystem is no image.
		{"trivy-rootfs.cdx.json", sbom.CycloneDX, "1.6", 5, nil,
			[]sbom.Image{{Digest: digA}}, nil},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata has %d SBOMs, the table %d", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := sbom.Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if doc.Format != tt.format || doc.SpecVersion != tt.spec || doc.Components != tt.components {
				t.Errorf("Parse: %s %s, %d components; want %s %s, %d", doc.Format, doc.SpecVersion, doc.Components, tt.format, tt.spec, tt.components)
			}
			if doc.Created.IsZero() {
				t.Error("no creation time")
			}
			if len(doc.Subjects) != 1 {
				t.Fatalf("%d subjects, want 1", len(doc.Subjects))
			}
			var got []claim
			for _, c := range doc.Claims() {
				got = append(got, claim{c.Kind, c.Digest})
			}
			if diff := cmp.Diff(tt.claims, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			for _, img := range tt.accept {
				if _, err := sbom.CheckSubject(doc, img); err != nil {
					t.Errorf("CheckSubject(%+v): %v", img, err)
				}
			}
			for _, img := range tt.refuse {
				if _, err := sbom.CheckSubject(doc, img); !errors.Is(err, sbom.ErrOtherSubject) {
					t.Errorf("CheckSubject(%+v): %v, want ErrOtherSubject", img, err)
				}
			}
		})
	}
}
