package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sirupsen/logrus"

	"hallmark.dev/internal/registry"
	"hallmark.dev/internal/testkit/lite"
)

const (
	bundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	sbomArtifactType   = "application/vnd.example.sbom+json"
	indexArtifactType  = "application/vnd.example.collection"
	emptyMediaType     = "application/vnd.oci.empty.v1+json"
)

// testRegistry is a registry served on loopback.
type testRegistry struct {
	srv  *httptest.Server
	host string // host:port, for image references
	dir  string
}

// startRegistry serves a registry over dir until the test ends.
func startRegistry(t *testing.T, dir string, logger *slog.Logger) *testRegistry {
	t.Helper()
	h, err := registry.New(t.Context(), registry.Config{Dir: dir, Logger: logger})
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testRegistry{srv: srv, host: strings.TrimPrefix(srv.URL, "http://"), dir: dir}
}

func (r *testRegistry) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatalf("parsing reference %q: %v", s, err)
	}
	return ref
}

func (r *testRegistry) repo(t *testing.T, s string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(r.host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatalf("parsing repository %q: %v", s, err)
	}
	return repo
}

// do sends a request and returns the response with its body read.
func (r *testRegistry) do(t *testing.T, method, path, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, r.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

// pushImage pushes a random image to repo:tag and returns its descriptor.
func pushImage(t *testing.T, r *testRegistry, repo, tag string) v1.Descriptor {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	if err := remote.Write(r.ref(t, repo+":"+tag), img); err != nil {
		t.Fatalf("pushing image: %v", err)
	}
	return descriptorOf(t, img)
}

func descriptorOf(t *testing.T, img v1.Image) v1.Descriptor {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("image digest: %v", err)
	}
	size, err := img.Size()
	if err != nil {
		t.Fatalf("image size: %v", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatalf("image media type: %v", err)
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}
}

// pushBlob uploads content to repo and returns its descriptor.
func pushBlob(t *testing.T, r *testRegistry, repo string, content []byte, mt types.MediaType) v1.Descriptor {
	t.Helper()
	l := static.NewLayer(content, mt)
	if err := remote.WriteLayer(r.repo(t, repo), l); err != nil {
		t.Fatalf("pushing blob: %v", err)
	}
	d, err := l.Digest()
	if err != nil {
		t.Fatalf("blob digest: %v", err)
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(content))}
}

// bundleManifest is a referrer as cosign v3 writes it: an OCI image manifest
// with a top-level artifactType, the empty config and the bundle as its one
// layer. Its blobs are pushed to repo.
func bundleManifest(t *testing.T, r *testRegistry, repo string, subject v1.Descriptor, bundle string) ([]byte, v1.Descriptor) {
	t.Helper()
	config := pushBlob(t, r, repo, []byte("{}"), emptyMediaType)
	if got, want := config.Digest.String(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"; got != want {
		t.Fatalf("empty config digest: got %s, want %s", got, want)
	}
	layer := pushBlob(t, r, repo, []byte(bundle), bundleArtifactType)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  bundleArtifactType,
		Config:        config,
		Layers:        []v1.Descriptor{layer},
		Subject:       &subject,
		Annotations: map[string]string{
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1",
			"org.opencontainers.image.created":  "2025-01-02T03:04:05Z",
		},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encoding manifest: %v", err)
	}
	return b, v1.Descriptor{
		MediaType:    types.OCIManifestSchema1,
		Digest:       sha256Hash(t, b),
		Size:         int64(len(b)),
		ArtifactType: bundleArtifactType,
		Annotations:  m.Annotations,
	}
}

func sha256Hash(t *testing.T, b []byte) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("hashing: %v", err)
	}
	return h
}

// putBundle pushes a bundle referrer of subject by digest and returns its
// descriptor, checking the OCI-Subject header of the answer.
func putBundle(t *testing.T, r *testRegistry, repo string, subject v1.Descriptor, bundle string) v1.Descriptor {
	t.Helper()
	body, want := bundleManifest(t, r, repo, subject, bundle)
	resp, b := r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+want.Digest.String(), string(types.OCIManifestSchema1), body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT referrer: got status %d, want %d (body %s)", resp.StatusCode, http.StatusCreated, b)
	}
	if got := resp.Header.Get("OCI-Subject"); got != subject.Digest.String() {
		t.Errorf("OCI-Subject: got %q, want %q", got, subject.Digest)
	}
	return want
}

// pushSBOM pushes, with go-containerregistry, a referrer of subject whose
// artifact type comes from its config media type.
func pushSBOM(t *testing.T, r *testRegistry, repo string, subject v1.Descriptor) v1.Descriptor {
	t.Helper()
	layer := static.NewLayer([]byte(`{"sbom":true}`), sbomArtifactType)
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatalf("building sbom: %v", err)
	}
	img = mutate.ConfigMediaType(img, sbomArtifactType)
	img = mutate.Annotations(img, map[string]string{"kind": "sbom"}).(v1.Image)
	img = mutate.Subject(img, subject).(v1.Image)
	d := descriptorOf(t, img)
	if err := remote.Write(r.ref(t, repo+"@"+d.Digest.String()), img); err != nil {
		t.Fatalf("pushing sbom: %v", err)
	}
	d.ArtifactType = sbomArtifactType
	d.Annotations = map[string]string{"kind": "sbom"}
	return d
}

// putIndexReferrer pushes an empty OCI index with a subject and an artifact
// type.
func putIndexReferrer(t *testing.T, r *testRegistry, repo string, subject v1.Descriptor) v1.Descriptor {
	t.Helper()
	m := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		ArtifactType:  indexArtifactType,
		Manifests:     []v1.Descriptor{},
		Subject:       &subject,
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encoding index: %v", err)
	}
	resp, b := r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/collection", string(types.OCIImageIndex), body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT index: got status %d, want %d (body %s)", resp.StatusCode, http.StatusCreated, b)
	}
	if got := resp.Header.Get("OCI-Subject"); got != subject.Digest.String() {
		t.Errorf("OCI-Subject: got %q, want %q", got, subject.Digest)
	}
	return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: sha256Hash(t, body), Size: int64(len(body)), ArtifactType: indexArtifactType}
}

// referrers lists the referrers of subject with go-containerregistry.
func referrers(t *testing.T, r *testRegistry, repo string, subject v1.Hash, opts ...remote.Option) []v1.Descriptor {
	t.Helper()
	d, err := name.NewDigest(r.host+"/"+repo+"@"+subject.String(), name.Insecure)
	if err != nil {
		t.Fatalf("parsing digest reference: %v", err)
	}
	idx, err := remote.Referrers(d, opts...)
	if err != nil {
		t.Fatalf("remote.Referrers: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("referrers index: %v", err)
	}
	return m.Manifests
}

// sortDescriptors sorts by digest, the order in which the registry lists
// referrers.
func sortDescriptors(ds []v1.Descriptor) []v1.Descriptor {
	out := slices.Clone(ds)
	slices.SortFunc(out, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	return out
}

func TestPushPull(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatalf("image digest: %v", err)
	}
	if err := remote.Write(r.ref(t, "test/image:v1"), img); err != nil {
		t.Fatalf("pushing: %v", err)
	}
	for _, ref := range []string{"test/image:v1", "test/image@" + want.String()} {
		t.Run(ref, func(t *testing.T) {
			pulled, err := remote.Image(r.ref(t, ref))
			if err != nil {
				t.Fatalf("pulling: %v", err)
			}
			got, err := pulled.Digest()
			if err != nil {
				t.Fatalf("pulled digest: %v", err)
			}
			if got != want {
				t.Errorf("digest: got %s, want %s", got, want)
			}
			layers, err := pulled.Layers()
			if err != nil {
				t.Fatalf("layers: %v", err)
			}
			for _, l := range layers {
				rc, err := l.Compressed()
				if err != nil {
					t.Fatalf("fetching layer: %v", err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					t.Fatalf("reading layer: %v", err)
				}
				rc.Close()
			}
		})
	}
}

func TestReferrers(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	subject := pushImage(t, r, "test/image", "v1")
	bundle := putBundle(t, r, "test/image", subject, `{"bundle":1}`)
	sbom := pushSBOM(t, r, "test/image", subject)
	index := putIndexReferrer(t, r, "test/image", subject)

	t.Run("remote.Referrers", func(t *testing.T) {
		got := sortDescriptors(referrers(t, r, "test/image", subject.Digest))
		want := sortDescriptors([]v1.Descriptor{bundle, sbom, index})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("referrers (-want +got):\n%s", diff)
		}
	})

	t.Run("no fallback tag", func(t *testing.T) {
		tags, err := remote.List(r.repo(t, "test/image"))
		if err != nil {
			t.Fatalf("listing tags: %v", err)
		}
		if diff := cmp.Diff([]string{"collection", "v1"}, tags); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
	})

	for _, tc := range []struct {
		name         string
		artifactType string
		want         []v1.Descriptor
		wantFilter   string
	}{
		{"unfiltered", "", []v1.Descriptor{bundle, sbom, index}, ""},
		{"bundle", bundleArtifactType, []v1.Descriptor{bundle}, "artifactType"},
		{"config media type", sbomArtifactType, []v1.Descriptor{sbom}, "artifactType"},
		{"index", indexArtifactType, []v1.Descriptor{index}, "artifactType"},
		{"no match", "application/x-none", []v1.Descriptor{}, "artifactType"},
	} {
		t.Run("GET "+tc.name, func(t *testing.T) {
			path := "/v2/test/image/referrers/" + subject.Digest.String()
			if tc.artifactType != "" {
				path += "?" + url.Values{"artifactType": {tc.artifactType}}.Encode()
			}
			resp, body := r.do(t, http.MethodGet, path, "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, http.StatusOK, body)
			}
			if got, want := resp.Header.Get("Content-Type"), string(types.OCIImageIndex); got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			if got := resp.Header.Get("OCI-Filters-Applied"); got != tc.wantFilter {
				t.Errorf("OCI-Filters-Applied: got %q, want %q", got, tc.wantFilter)
			}
			var idx v1.IndexManifest
			if err := json.Unmarshal(body, &idx); err != nil {
				t.Fatalf("decoding index: %v", err)
			}
			if idx.SchemaVersion != 2 || idx.MediaType != types.OCIImageIndex {
				t.Errorf("index: got schemaVersion %d mediaType %q, want 2 %q", idx.SchemaVersion, idx.MediaType, types.OCIImageIndex)
			}
			if diff := cmp.Diff(sortDescriptors(tc.want), idx.Manifests); diff != "" {
				t.Errorf("manifests (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("no referrers", func(t *testing.T) {
		other := pushImage(t, r, "test/image", "v2")
		for _, repo := range []string{"test/image", "test/unknown"} {
			resp, body := r.do(t, http.MethodGet, "/v2/"+repo+"/referrers/"+other.Digest.String(), "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status: got %d, want %d (body %s)", repo, resp.StatusCode, http.StatusOK, body)
			}
			var idx map[string]any
			if err := json.Unmarshal(body, &idx); err != nil {
				t.Fatalf("decoding index: %v", err)
			}
			if diff := cmp.Diff(map[string]any{"schemaVersion": 2.0, "mediaType": string(types.OCIImageIndex), "manifests": []any{}}, idx); diff != "" {
				t.Errorf("%s: index (-want +got):\n%s", repo, diff)
			}
		}
	})
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	r1 := startRegistry(t, dir, nil)
	subject := pushImage(t, r1, "test/image", "v1")
	bundle := putBundle(t, r1, "test/image", subject, `{"bundle":1}`)
	sbom := pushSBOM(t, r1, "test/image", subject)
	r1.srv.Close()

	r2 := startRegistry(t, dir, nil)
	img, err := remote.Image(r2.ref(t, "test/image:v1"))
	if err != nil {
		t.Fatalf("pulling after restart: %v", err)
	}
	got, err := img.Digest()
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	if got != subject.Digest {
		t.Errorf("digest after restart: got %s, want %s", got, subject.Digest)
	}
	refs := sortDescriptors(referrers(t, r2, "test/image", subject.Digest))
	if diff := cmp.Diff(sortDescriptors([]v1.Descriptor{bundle, sbom}), refs); diff != "" {
		t.Errorf("referrers after restart (-want +got):\n%s", diff)
	}
}

func TestDeletedReferrer(t *testing.T) {
	dir := t.TempDir()
	r := startRegistry(t, dir, nil)
	subject := pushImage(t, r, "test/image", "v1")
	kept := putBundle(t, r, "test/image", subject, `{"bundle":"kept"}`)
	deleted := putBundle(t, r, "test/image", subject, `{"bundle":"deleted"}`)

	record := filepath.Join(dir, "_hallmark", "referrers", "test", "image", "_subjects",
		"sha256-"+subject.Digest.Hex, "sha256-"+deleted.Digest.Hex+".json")
	saved, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("reading referrer record: %v", err)
	}

	if err := remote.Delete(r.ref(t, "test/image@"+deleted.Digest.String())); err != nil {
		t.Fatalf("deleting referrer: %v", err)
	}
	if _, err := os.Stat(record); !os.IsNotExist(err) {
		t.Errorf("record after delete: got err %v, want not exist", err)
	}
	if diff := cmp.Diff([]v1.Descriptor{kept}, referrers(t, r, "test/image", subject.Digest)); diff != "" {
		t.Errorf("referrers after delete (-want +got):\n%s", diff)
	}

	// A record whose manifest is gone, as a failed removal would leave it,
	// is not listed either.
	if err := os.WriteFile(record, saved, 0o600); err != nil {
		t.Fatalf("restoring record: %v", err)
	}
	if diff := cmp.Diff([]v1.Descriptor{kept}, referrers(t, r, "test/image", subject.Digest)); diff != "" {
		t.Errorf("referrers with a stale record (-want +got):\n%s", diff)
	}

	// Deleting the subject's tag leaves the referrers alone.
	if err := remote.Delete(r.ref(t, "test/image:v1")); err != nil {
		t.Fatalf("deleting tag: %v", err)
	}
	if diff := cmp.Diff([]v1.Descriptor{kept}, referrers(t, r, "test/image", subject.Digest)); diff != "" {
		t.Errorf("referrers after untag (-want +got):\n%s", diff)
	}
}

func TestReferrersErrors(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	valid := "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{"short hex", http.MethodGet, "/v2/test/image/referrers/sha256:abc", http.StatusBadRequest, "DIGEST_INVALID"},
		{"no algorithm", http.MethodGet, "/v2/test/image/referrers/notadigest", http.StatusBadRequest, "DIGEST_INVALID"},
		{"unknown algorithm", http.MethodGet, "/v2/test/image/referrers/md5:d41d8cd98f00b204e9800998ecf8427e", http.StatusBadRequest, "DIGEST_INVALID"},
		{"upper-case hex", http.MethodGet, "/v2/test/image/referrers/" + strings.ToUpper(valid), http.StatusBadRequest, "DIGEST_INVALID"},
		{"invalid name", http.MethodGet, "/v2/Test/Image/referrers/" + valid, http.StatusBadRequest, "NAME_INVALID"},
		{"name too long", http.MethodGet, "/v2/" + strings.Repeat("a", 256) + "/referrers/" + valid, http.StatusBadRequest, "NAME_INVALID"},
		{"method", http.MethodPost, "/v2/test/image/referrers/" + valid, http.StatusMethodNotAllowed, "UNSUPPORTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := r.do(t, tc.method, tc.path, "", nil)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			var e struct {
				Errors []struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("decoding error body %q: %v", body, err)
			}
			if len(e.Errors) != 1 || e.Errors[0].Code != tc.wantCode {
				t.Errorf("errors: got %+v, want one with code %s", e.Errors, tc.wantCode)
			}
		})
	}
}

func TestManifestPutErrors(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	subject := pushImage(t, r, "test/image", "v1")
	valid, _ := bundleManifest(t, r, "test/image", subject, `{"bundle":1}`)
	var m map[string]any
	if err := json.Unmarshal(valid, &m); err != nil {
		t.Fatalf("decoding manifest: %v", err)
	}
	m["subject"] = map[string]any{"mediaType": string(types.OCIManifestSchema1), "digest": "sha256:nothex", "size": 1}
	badSubject, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encoding manifest: %v", err)
	}

	for _, tc := range []struct {
		name       string
		body       []byte
		wantStatus int
		wantCode   string
	}{
		{"too large", bytes.Repeat([]byte(" "), registry.MaxManifestSize+1), http.StatusRequestEntityTooLarge, "MANIFEST_INVALID"},
		{"invalid subject digest", badSubject, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"not JSON", []byte("{"), http.StatusBadRequest, "MANIFEST_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := r.do(t, http.MethodPut, "/v2/test/image/manifests/bad", string(types.OCIManifestSchema1), tc.body)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d (body %s)", resp.StatusCode, tc.wantStatus, body)
			}
			if !strings.Contains(string(body), `"code":"`+tc.wantCode+`"`) {
				t.Errorf("body: got %s, want code %s", body, tc.wantCode)
			}
		})
	}
}

func TestConcurrentReferrers(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	subject := pushImage(t, r, "test/image", "v1")

	const n = 16
	bodies := make([][]byte, n)
	want := make([]v1.Descriptor, n)
	for i := range n {
		bodies[i], want[i] = bundleManifest(t, r, "test/image", subject, fmt.Sprintf(`{"bundle":%d}`, i))
	}

	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPut,
				r.srv.URL+"/v2/test/image/manifests/"+want[i].Digest.String(), bytes.NewReader(bodies[i]))
			if err != nil {
				t.Errorf("building request %d: %v", i, err)
				return
			}
			req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
			resp, err := r.srv.Client().Do(req)
			if err != nil {
				t.Errorf("PUT %d: %v", i, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("PUT %d: got status %d, want %d", i, resp.StatusCode, http.StatusCreated)
			}
		})
	}
	wg.Wait()

	got := referrers(t, r, "test/image", subject.Digest)
	if diff := cmp.Diff(sortDescriptors(want), sortDescriptors(got)); diff != "" {
		t.Errorf("referrers (-want +got):\n%s", diff)
	}
}

func TestOnlyV2(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	for _, tc := range []struct {
		path       string
		wantStatus int
	}{
		{"/v2/", http.StatusOK},
		{"/", http.StatusNotFound},
		{"/v1/_ping", http.StatusNotFound},
		{"/v2x/", http.StatusNotFound},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, _ := r.do(t, http.MethodGet, tc.path, "", nil)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatalf("writing file: %v", err)
	}
	for _, tc := range []struct {
		name string
		dir  string
	}{
		{"no directory", ""},
		{"directory is a file", file},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := registry.New(t.Context(), registry.Config{Dir: tc.dir})
			if err == nil {
				t.Fatalf("New: got handler %v, want error", h)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "registry: ") {
				t.Errorf("error: got %q, want it to start with %q", msg, "registry: ")
			}
		})
	}
}

func TestLogging(t *testing.T) {
	// distribution must never fall back to the process-wide logrus logger.
	var global lite.SyncBuffer
	std := logrus.StandardLogger()
	out, level := std.Out, std.GetLevel()
	std.SetOutput(&global)
	std.SetLevel(logrus.TraceLevel)
	t.Cleanup(func() {
		std.SetOutput(out)
		std.SetLevel(level)
	})

	for _, tc := range []struct {
		name      string
		level     slog.Level
		nilLogger bool
		wantLogs  bool
	}{
		{"nil logger", 0, true, false},
		{"info", slog.LevelInfo, false, false},
		{"debug", slog.LevelDebug, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf lite.SyncBuffer
			var logger *slog.Logger
			if !tc.nilLogger {
				logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			}
			r := startRegistry(t, t.TempDir(), logger)
			subject := pushImage(t, r, "test/image", "v1")
			putBundle(t, r, "test/image", subject, `{"bundle":1}`)
			if _, err := remote.Image(r.ref(t, "test/image:missing")); err == nil {
				t.Fatalf("pulling a missing tag: got no error")
			}

			logs := buf.String()
			if got := strings.Contains(logs, "component=distribution"); got != tc.wantLogs {
				t.Errorf("distribution records in the logger: got %v, want %v; logs:\n%s", got, tc.wantLogs, logs)
			}
			if got := strings.Contains(logs, `msg="recorded referrer"`); got != tc.wantLogs {
				t.Errorf("referrer records in the logger: got %v, want %v; logs:\n%s", got, tc.wantLogs, logs)
			}
			if !tc.wantLogs && logs != "" {
				t.Errorf("logger: got %q, want nothing", logs)
			}
			if g := global.String(); g != "" {
				t.Errorf("process-wide logrus logger: got %q, want nothing", g)
			}
		})
	}
}

// peer returns the path of a peer program, skipping the test if it is not
// on PATH, unless HALLMARK_REQUIRE_PEERS=1.
func peer(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("HALLMARK_REQUIRE_PEERS") == "1" {
			t.Fatalf("%s is not on PATH and HALLMARK_REQUIRE_PEERS=1: %v", name, err)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return path
}

// runPeer runs a peer program and returns its standard output.
func runPeer(t *testing.T, dir string, env []string, prog string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), prog, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(prog), strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func TestCrane(t *testing.T) {
	crane := peer(t, "crane")
	r := startRegistry(t, t.TempDir(), nil)
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	tag, err := name.NewTag("example.com/image:v1")
	if err != nil {
		t.Fatalf("parsing tag: %v", err)
	}
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatalf("writing tarball: %v", err)
	}

	run := func(args ...string) string {
		t.Helper()
		return runPeer(t, "", nil, crane, append([]string{"--insecure"}, args...)...)
	}
	ref := r.host + "/crane/image:v1"
	pushed := run("push", tarPath, ref)
	digest := run("digest", ref)
	if !strings.HasSuffix(pushed, "@"+digest) {
		t.Errorf("crane push printed %q, want a reference ending in @%s", pushed, digest)
	}
	pulled, err := remote.Image(r.ref(t, "crane/image:v1"))
	if err != nil {
		t.Fatalf("pulling: %v", err)
	}
	got, err := pulled.Digest()
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	if got.String() != digest {
		t.Errorf("digest: got %s, want %s", got, digest)
	}
}

// TestCosign signs an image in the registry with cosign v3, which stores the
// signature as a Sigstore bundle through the referrers API, and verifies it.
func TestCosign(t *testing.T) {
	cosign := peer(t, "cosign")
	r := startRegistry(t, t.TempDir(), nil)
	subject := pushImage(t, r, "test/image", "v1")

	dir := t.TempDir()
	env := append(os.Environ(), "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"), "COSIGN_PASSWORD=", "COSIGN_YES=true")
	runPeer(t, dir, env, cosign, "generate-key-pair")
	ref := r.host + "/test/image@" + subject.Digest.String()
	runPeer(t, dir, env, cosign, "sign", "--key", "cosign.key", "--use-signing-config=false", "--tlog-upload=false",
		"--allow-http-registry", "--allow-insecure-registry", ref)
	runPeer(t, dir, env, cosign, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog",
		"--allow-http-registry", "--allow-insecure-registry", ref)

	got := referrers(t, r, "test/image", subject.Digest)
	if len(got) != 1 || got[0].ArtifactType != bundleArtifactType {
		t.Errorf("referrers: got %+v, want one with artifactType %s", got, bundleArtifactType)
	}
	tags, err := remote.List(r.repo(t, "test/image"))
	if err != nil {
		t.Fatalf("listing tags: %v", err)
	}
	if diff := cmp.Diff([]string{"v1"}, tags); diff != "" {
		t.Errorf("tags, with no referrers fallback tag (-want +got):\n%s", diff)
	}
}
