package oci_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hallmark.dev/oci"
)

func hash(t testing.TB, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var (
	subjectDigest = "sha256:" + strings.Repeat("a", 64)
	layerDigest   = "sha256:" + strings.Repeat("b", 64)
)

func TestBundleReferrerRoundTrip(t *testing.T) {
	subject := v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: hash(t, subjectDigest), Size: 423}
	m, err := oci.BundleReferrer(subject, v1.Descriptor{Digest: hash(t, layerDigest), Size: 671}, "https://sigstore.dev/cosign/sign/v1", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(m, &got); err != nil {
		t.Fatal(err)
	}
	if got["artifactType"] != oci.BundleMediaType {
		t.Errorf("artifactType = %v, want %s", got["artifactType"], oci.BundleMediaType)
	}
	ann := got["annotations"].(map[string]any)
	for k, want := range map[string]string{
		oci.AnnotationBundleContent:       "dsse-envelope",
		oci.AnnotationBundlePredicateType: "https://sigstore.dev/cosign/sign/v1",
		oci.AnnotationCreated:             "1970-01-01T00:00:00Z",
	} {
		if ann[k] != want {
			t.Errorf("annotation %s = %v, want %s", k, ann[k], want)
		}
	}
	l, err := oci.BundleLayer(m, subject.Digest)
	if err != nil {
		t.Fatalf("BundleLayer: %v", err)
	}
	if l.Digest.String() != layerDigest || l.Size != 671 || l.MediaType != oci.BundleMediaType {
		t.Errorf("got layer %+v", l)
	}
	if _, err := oci.BundleLayer(m, hash(t, layerDigest)); err == nil || !strings.Contains(err.Error(), "does not refer to") {
		t.Errorf("other subject: got %v", err)
	}
}

func TestBundleLayerRejects(t *testing.T) {
	sub := `"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + subjectDigest + `","size":1}`
	layer := func(size int64) string {
		return `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"` + layerDigest + `","size":` + itoa(size) + `}`
	}
	tests := []struct{ name, manifest, want string }{
		{"not JSON", `{`, "not valid JSON"},
		{"no subject", `{"layers":[` + layer(1) + `]}`, "does not refer to"},
		{"no bundle layer", `{` + sub + `,"layers":[]}`, "has 0 bundle layers, want 1"},
		{"two bundle layers", `{` + sub + `,"layers":[` + layer(1) + `,` + layer(2) + `]}`, "has 2 bundle layers, want 1"},
		{"oversized", `{` + sub + `,"layers":[` + layer(1<<40) + `]}`, "over the limit"},
		{"negative size", `{` + sub + `,"layers":[` + layer(-1) + `]}`, "outside 0.."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oci.BundleLayer([]byte(tc.manifest), hash(t, subjectDigest))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestLegacyTag(t *testing.T) {
	if got, want := oci.LegacyTag(hash(t, subjectDigest), oci.LegacySignatureTagSuffix), "sha256-"+strings.Repeat("a", 64)+".sig"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// FuzzBundleLayer: whatever a registry returns, an accepted layer is a
// bundle layer of bounded size in a manifest about the subject.
func FuzzBundleLayer(f *testing.F) {
	subject := v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: hash(f, subjectDigest), Size: 1}
	seed, err := oci.BundleReferrer(subject, v1.Descriptor{Digest: hash(f, layerDigest), Size: 10}, "p", time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := oci.BundleLayer(data, subject.Digest)
		if err != nil {
			return
		}
		if !oci.IsBundleArtifact(string(l.MediaType)) || l.Size < 0 || l.Size > oci.MaxStreamedBundleSize {
			t.Fatalf("accepted layer %+v", l)
		}
		var m struct {
			Subject *v1.Descriptor `json:"subject"`
		}
		if err := json.Unmarshal(data, &m); err != nil || m.Subject == nil || m.Subject.Digest != subject.Digest {
			t.Fatalf("accepted a manifest not about the subject: %s", data)
		}
	})
}
