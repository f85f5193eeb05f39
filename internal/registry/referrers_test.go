package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"hallmark.dev/internal/jsonstrict"
)

const (
	testSubject = `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}`
	testConfig  = `{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}`
)

var parseReferrerTests = []struct {
	name         string
	contentType  string
	body         string
	wantRef      bool
	wantType     string
	wantMedia    string
	wantErr      bool
	wantAnnotate map[string]string
}{
	{
		name:        "cosign v3 bundle",
		contentType: mediaTypeImageManifest,
		body:        `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":` + testConfig + `,"layers":[],"subject":` + testSubject + `,"annotations":{"dev.sigstore.bundle.content":"message-signature"}}`,
		wantRef:     true, wantType: "application/vnd.dev.sigstore.bundle.v0.3+json", wantMedia: mediaTypeImageManifest,
		wantAnnotate: map[string]string{"dev.sigstore.bundle.content": "message-signature"},
	},
	{
		name:        "artifact type from config",
		contentType: mediaTypeImageManifest + "; charset=utf-8",
		body:        `{"schemaVersion":2,"config":{"mediaType":"application/vnd.example.sbom","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":` + testSubject + `}`,
		wantRef:     true, wantType: "application/vnd.example.sbom", wantMedia: mediaTypeImageManifest,
	},
	{
		name:        "index without artifact type",
		contentType: mediaTypeImageIndex,
		body:        `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"subject":` + testSubject + `}`,
		wantRef:     true, wantType: "", wantMedia: mediaTypeImageIndex,
	},
	{
		name:      "no content type, media type in body",
		body:      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x-a","manifests":[],"subject":` + testSubject + `}`,
		wantRef:   true,
		wantType:  "application/x-a",
		wantMedia: mediaTypeImageIndex,
	},
	{
		name:        "no subject",
		contentType: mediaTypeImageManifest,
		body:        `{"schemaVersion":2,"config":` + testConfig + `,"layers":[]}`,
	},
	{
		name:        "null subject",
		contentType: mediaTypeImageManifest,
		body:        `{"schemaVersion":2,"config":` + testConfig + `,"layers":[],"subject":null}`,
	},
	{
		name:        "docker manifest",
		contentType: "application/vnd.docker.distribution.manifest.v2+json",
		body:        `{"schemaVersion":2,"config":` + testConfig + `,"layers":[],"subject":` + testSubject + `}`,
	},
	{
		name:        "not JSON",
		contentType: mediaTypeImageManifest,
		body:        `{"subject":`,
	},
	{
		name:        "invalid subject digest",
		contentType: mediaTypeImageManifest,
		body:        `{"schemaVersion":2,"config":` + testConfig + `,"layers":[],"subject":{"digest":"sha256:../../etc"}}`,
		wantErr:     true,
	},
	{
		name:        "subject without digest",
		contentType: mediaTypeImageManifest,
		body:        `{"schemaVersion":2,"config":` + testConfig + `,"layers":[],"subject":{}}`,
		wantErr:     true,
	},
}

func TestParseReferrer(t *testing.T) {
	for _, tc := range parseReferrerTests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := parseReferrer(tc.contentType, []byte(tc.body))
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tc.wantErr)
			}
			if gotRef := ref != nil; gotRef != tc.wantRef {
				t.Fatalf("referrer: got %+v, want one %v", ref, tc.wantRef)
			}
			if ref == nil {
				return
			}
			want := descriptor{
				MediaType:    tc.wantMedia,
				Digest:       digest.FromString(tc.body),
				Size:         int64(len(tc.body)),
				ArtifactType: tc.wantType,
				Annotations:  tc.wantAnnotate,
			}
			if diff := cmp.Diff(want, ref.desc); diff != "" {
				t.Errorf("descriptor (-want +got):\n%s", diff)
			}
			if got, want := ref.subject.String(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"; got != want {
				t.Errorf("subject: got %s, want %s", got, want)
			}
		})
	}
}

// TestRecordStrict: a referrer record the index did not write as it
// writes records (a key repeated, or in another case) is refused.
func TestRecordStrict(t *testing.T) {
	subject := digest.FromString("subject")
	d := descriptor{MediaType: mediaTypeImageManifest, Digest: digest.FromString("referrer"), Size: 8}
	for _, tt := range []struct{ name, edit, want string }{
		{"as written", "", ""},
		{"repeated key", `{"size":9,`, `duplicate JSON key "size"`},
		{"key in another case", `{"Size":9,`, `unknown field "Size"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, err := openReferrerIndex(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := x.put(t.Context(), "repo", subject, d); err != nil {
				t.Fatal(err)
			}
			if tt.edit != "" {
				name := filepath.Join(x.subjectDir("repo", subject), digestFileName(d.Digest)+recordSuffix)
				b, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, bytes.Replace(b, []byte("{"), []byte(tt.edit), 1), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, ok, err := x.get(t.Context(), "repo", subject, d.Digest)
			if tt.want == "" {
				if err != nil || !ok || got.Digest != d.Digest {
					t.Fatalf("get: %v, %v, %v, want the record", got, ok, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("get: %v, %v, %v, want an error with %q", got, ok, err, tt.want)
			}
		})
	}
}

// FuzzParseReferrer checks that whatever a client pushes, a referrer the
// registry would record names a valid subject, describes exactly the pushed
// bytes, and survives the index's record encoding unchanged.
func FuzzParseReferrer(f *testing.F) {
	for _, tc := range parseReferrerTests {
		f.Add(tc.contentType, []byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		ref, err := parseReferrer(contentType, body)
		if err != nil {
			if ref != nil || !errors.Is(err, errInvalidSubject) && !errors.Is(err, errAnnotationsTooLarge) {
				t.Fatalf("got referrer %+v and error %v, want nil and errInvalidSubject or errAnnotationsTooLarge", ref, err)
			}
			return
		}
		if ref == nil {
			return
		}
		if err := ref.subject.Validate(); err != nil {
			t.Errorf("subject %q: %v", ref.subject, err)
		}
		if got, want := ref.desc.Digest, digest.FromBytes(body); got != want {
			t.Errorf("digest: got %s, want %s", got, want)
		}
		if got, want := ref.desc.Size, int64(len(body)); got != want {
			t.Errorf("size: got %d, want %d", got, want)
		}
		if n := annotationsSize(ref.desc.Annotations); n > MaxReferrerAnnotationsSize {
			t.Errorf("recorded annotations of %d bytes, over the %d cap", n, MaxReferrerAnnotationsSize)
		}
		if mt := ref.desc.MediaType; mt != mediaTypeImageManifest && mt != mediaTypeImageIndex {
			t.Errorf("media type: got %q, want an OCI manifest or index", mt)
		}
		b, err := json.Marshal(ref.desc)
		if err != nil {
			t.Fatalf("encoding record: %v", err)
		}
		var got descriptor
		if err := jsonstrict.Unmarshal(b, &got, recordRules); err != nil {
			t.Fatalf("decoding record %s: %v", b, err)
		}
		if diff := cmp.Diff(ref.desc, got); diff != "" {
			t.Errorf("record round trip (-want +got):\n%s", diff)
		}
	})
}
