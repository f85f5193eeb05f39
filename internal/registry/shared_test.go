package registry_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"hallmark.dev/internal/registry"
	"hallmark.dev/internal/sharedstore"
	"hallmark.dev/internal/testkit"
)

// alternate sends each request to the next of its handlers, as a load
// balancer in front of replicas may.
type alternate struct {
	hs []http.Handler
	n  atomic.Uint64
}

func (a *alternate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.hs[a.n.Add(1)%uint64(len(a.hs))].ServeHTTP(w, r)
}

// sharedRegistries returns n registries, as n replicas, on one bucket and
// database, each with the given upload secret.
func sharedRegistries(t *testing.T, secrets ...string) []http.Handler {
	t.Helper()
	s, err := sharedstore.Open(t.Context(), sharedstore.Config{
		Database:        testkit.SharedDatabase(t),
		ObjectStore:     testkit.SharedBucket(t),
		AccessKeyID:     testkit.TestS3AccessKey,
		SecretAccessKey: testkit.TestS3SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	name, params := s.RegistryDriver()
	var hs []http.Handler
	for _, secret := range secrets {
		h, err := registry.New(t.Context(), registry.Config{Storage: &registry.StorageDriver{Name: name, Parameters: params}, DB: s.DB, HTTPSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

func serveAlternating(t *testing.T, hs ...http.Handler) *testRegistry {
	t.Helper()
	srv := httptest.NewServer(&alternate{hs: hs})
	t.Cleanup(srv.Close)
	return &testRegistry{srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}

// TestSharedStorage runs two registries on one S3 bucket (distribution's
// S3 driver) and one database (the referrer records), each request to the
// other: images pushed in requests split between them pull back, the
// referrers of a subject are listed whichever registry recorded them, a
// deleted referrer is gone from both, and a third registry started later
// sees it all.
func TestSharedStorage(t *testing.T) {
	hs := sharedRegistries(t, "secret", "secret", "secret")
	r := serveAlternating(t, hs[0], hs[1])
	subject := pushImage(t, r, "test/image", "v1")
	bundle := putBundle(t, r, "test/image", subject, `{"bundle":1}`)
	sbom := pushSBOM(t, r, "test/image", subject)
	index := putIndexReferrer(t, r, "test/image", subject)
	want := sortDescriptors([]v1.Descriptor{bundle, sbom, index})
	for range 2 { // one listing from each registry
		if diff := cmp.Diff(want, sortDescriptors(referrers(t, r, "test/image", subject.Digest))); diff != "" {
			t.Fatalf("referrers (-want +got):\n%s", diff)
		}
	}
	if err := remote.Delete(r.ref(t, "test/image@"+sbom.Digest.String())); err != nil {
		t.Fatalf("deleting a referrer: %v", err)
	}
	want = sortDescriptors([]v1.Descriptor{bundle, index})
	late := serveAlternating(t, hs[2])
	for _, reg := range []*testRegistry{r, r, late} {
		if diff := cmp.Diff(want, sortDescriptors(referrers(t, reg, "test/image", subject.Digest))); diff != "" {
			t.Fatalf("referrers after delete (-want +got):\n%s", diff)
		}
	}
	img, err := remote.Image(late.ref(t, "test/image:v1"))
	if err != nil {
		t.Fatalf("pulling from the third registry: %v", err)
	}
	if got, err := img.Digest(); err != nil || got != subject.Digest {
		t.Fatalf("pulled %s (%v), want %s", got, err, subject.Digest)
	}
}

// TestSharedStorageNeedsOneSecret shows why replicas share the upload
// secret: a blob upload started on one registry is finished on another
// only if both have the same secret.
func TestSharedStorageNeedsOneSecret(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secrets []string
		want    int
	}{
		{"one secret", []string{"secret", "secret"}, http.StatusCreated},
		{"two secrets", []string{"secret-a", "secret-b"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := sharedRegistries(t, tc.secrets...)
			a, b := serveAlternating(t, hs[0]), serveAlternating(t, hs[1])
			resp, body := a.do(t, http.MethodPost, "/v2/test/image/blobs/uploads/", "", nil)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("starting the upload: %d %s", resp.StatusCode, body)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			content := []byte("a layer")
			q := loc.Query()
			q.Set("digest", digest.FromBytes(content).String())
			resp, body = b.do(t, http.MethodPut, loc.Path+"?"+q.Encode(), "application/octet-stream", content)
			if resp.StatusCode != tc.want {
				t.Fatalf("finishing the upload on the other registry: %d %s, want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want == http.StatusNotFound && !strings.Contains(string(body), "BLOB_UPLOAD_INVALID") {
				t.Fatalf("finishing the upload on the other registry: %s, want BLOB_UPLOAD_INVALID", body)
			}
		})
	}
}

// TestCopy copies a registry from its directory to a bucket and a
// database: images, tags and referrers are served from the copy.
func TestCopy(t *testing.T) {
	dir := t.TempDir()
	src := startRegistry(t, dir, nil)
	subject := pushImage(t, src, "test/image", "v1")
	bundle := putBundle(t, src, "test/image", subject, `{"bundle":1}`)
	sbom := pushSBOM(t, src, "nested/repo/image", pushImage(t, src, "nested/repo/image", "v2"))
	s, err := sharedstore.Open(t.Context(), sharedstore.Config{
		Database:        testkit.SharedDatabase(t),
		ObjectStore:     testkit.SharedBucket(t),
		AccessKeyID:     testkit.TestS3AccessKey,
		SecretAccessKey: testkit.TestS3SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	name, params := s.RegistryDriver()
	to := registry.Config{Storage: &registry.StorageDriver{Name: name, Parameters: params}, DB: s.DB, HTTPSecret: "x"}
	res, err := registry.Copy(t.Context(), dir, to)
	if err != nil {
		t.Fatal(err)
	}
	if res.Referrers != 2 || res.Blobs < 6 {
		t.Fatalf("copied %+v, want 2 referrers and 6 blobs at least", res)
	}
	h, err := registry.New(t.Context(), to)
	if err != nil {
		t.Fatal(err)
	}
	dst := serveAlternating(t, h)
	if diff := cmp.Diff([]v1.Descriptor{bundle}, referrers(t, dst, "test/image", subject.Digest)); diff != "" {
		t.Fatalf("referrers in the copy (-want +got):\n%s", diff)
	}
	img, err := remote.Image(dst.ref(t, "test/image:v1"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := img.Digest(); err != nil || d != subject.Digest {
		t.Fatalf("the copy's test/image:v1 is %s (%v), want %s", d, err, subject.Digest)
	}
	if _, err := remote.Image(dst.ref(t, "nested/repo/image@"+sbom.Digest.String())); err != nil {
		t.Fatalf("the copy's sbom manifest: %v", err)
	}
}
