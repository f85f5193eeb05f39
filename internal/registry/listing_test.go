package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"hallmark.dev/internal/registry"
	"hallmark.dev/oci/store"
)

// startRegistryConfig serves a registry configured by cfg until the test
// ends.
func startRegistryConfig(t *testing.T, cfg registry.Config) *testRegistry {
	t.Helper()
	h, err := registry.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testRegistry{srv: srv, host: strings.TrimPrefix(srv.URL, "http://"), dir: cfg.Dir}
}

// annotatedReferrer is a referrer manifest of subject with annotations.
func annotatedReferrer(t *testing.T, r *testRegistry, repo string, subject v1.Descriptor, annotations map[string]string) ([]byte, v1.Hash) {
	t.Helper()
	config := pushBlob(t, r, repo, []byte("{}"), emptyMediaType)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  bundleArtifactType,
		Config:        config,
		Layers:        []v1.Descriptor{},
		Subject:       &subject,
		Annotations:   annotations,
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encoding manifest: %v", err)
	}
	return b, sha256Hash(t, b)
}

func TestReferrerAnnotationsCapped(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	subject := pushImage(t, r, "test/image", "v1")
	for _, tc := range []struct {
		name       string
		size       int // bytes of keys and values
		wantStatus int
	}{
		{"at the cap", registry.MaxReferrerAnnotationsSize, http.StatusCreated},
		{"one byte over", registry.MaxReferrerAnnotationsSize + 1, http.StatusBadRequest},
		{"4 MiB", 4<<20 - 4096, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const key = "org.example.note"
			body, d := annotatedReferrer(t, r, "test/image", subject, map[string]string{key: strings.Repeat("a", tc.size-len(key))})
			resp, answer := r.do(t, http.MethodPut, "/v2/test/image/manifests/"+d.String(), string(types.OCIManifestSchema1), body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("PUT: got %d %s, want %d", resp.StatusCode, answer, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusCreated {
				return
			}
			want := fmt.Sprintf("annotations of %d bytes, over the %d", tc.size, registry.MaxReferrerAnnotationsSize)
			if !strings.Contains(string(answer), `"code":"MANIFEST_INVALID"`) || !strings.Contains(string(answer), want) {
				t.Errorf("PUT: got %s, want MANIFEST_INVALID saying %q", answer, want)
			}
			// Refused before distribution stored it.
			if resp, _ := r.do(t, http.MethodHead, "/v2/test/image/manifests/"+d.String(), "", nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("HEAD of the refused manifest: got %d, want 404", resp.StatusCode)
			}
		})
	}
}

// page is one page of a referrers listing.
type page struct {
	descs  []v1.Descriptor
	link   string
	size   int
	filter string
}

// linkRE is the Link header of a next page (RFC 8288).
var linkRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// listAll reads every page of the referrers of subject, following Link.
func listAll(t *testing.T, base, repo string, subject v1.Hash, artifactType string) []page {
	t.Helper()
	u := base + "/v2/" + repo + "/referrers/" + subject.String()
	if artifactType != "" {
		u += "?" + url.Values{"artifactType": {artifactType}}.Encode()
	}
	var pages []page
	for u != "" {
		if len(pages) > 1000 {
			t.Fatalf("more than 1000 pages")
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: reading: %v", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: got %d %s", u, resp.StatusCode, b)
		}
		var idx v1.IndexManifest
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatalf("GET %s: decoding: %v", u, err)
		}
		p := page{descs: idx.Manifests, link: resp.Header.Get("Link"), size: len(b), filter: resp.Header.Get("OCI-Filters-Applied")}
		pages = append(pages, p)
		u = ""
		if p.link != "" {
			m := linkRE.FindStringSubmatch(p.link)
			if m == nil {
				t.Fatalf("Link %q: want <URL>; rel=\"next\"", p.link)
			}
			next, err := resp.Request.URL.Parse(m[1])
			if err != nil {
				t.Fatalf("Link %q: %v", p.link, err)
			}
			u = next.String()
		}
	}
	return pages
}

func TestReferrersPaging(t *testing.T) {
	const pageSize = 4 << 10
	r := startRegistryConfig(t, registry.Config{Dir: t.TempDir(), ReferrersPageSize: pageSize})
	subject := pushImage(t, r, "test/image", "v1")
	var want []v1.Descriptor
	for i := range 30 {
		want = append(want, putBundle(t, r, "test/image", subject, fmt.Sprintf(`{"bundle":%d}`, i)))
	}
	sbom := pushSBOM(t, r, "test/image", subject)
	want = sortDescriptors(append(want, sbom))

	for _, tc := range []struct {
		name         string
		artifactType string
		want         []v1.Descriptor
		wantFilter   string
	}{
		{"all", "", want, ""},
		{"filtered", bundleArtifactType, slices.DeleteFunc(slices.Clone(want), func(d v1.Descriptor) bool { return d.ArtifactType != bundleArtifactType }), "artifactType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pages := listAll(t, r.srv.URL, "test/image", subject.Digest, tc.artifactType)
			if len(pages) < 3 {
				t.Fatalf("got %d pages of at most %d bytes for %d referrers, want 3 at least", len(pages), pageSize, len(tc.want))
			}
			var got []v1.Descriptor
			for i, p := range pages {
				if p.size > pageSize {
					t.Errorf("page %d is %d bytes, over the %d page size", i, p.size, pageSize)
				}
				if len(p.descs) == 0 {
					t.Errorf("page %d is empty", i)
				}
				if last := i == len(pages)-1; last != (p.link == "") {
					t.Errorf("page %d of %d: Link %q", i, len(pages), p.link)
				}
				if p.filter != tc.wantFilter {
					t.Errorf("page %d: OCI-Filters-Applied %q, want %q", i, p.filter, tc.wantFilter)
				}
				got = append(got, p.descs...)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("referrers over all pages (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("hallmark's client reads every page", func(t *testing.T) {
		c := store.New(store.Options{})
		repo, err := c.ParseRepository(r.host + "/test/image")
		if err != nil {
			t.Fatalf("ParseRepository: %v", err)
		}
		sigs, err := c.Attestations(t.Context(), repo, subject.Digest)
		if err != nil {
			t.Fatalf("Attestations: %v", err)
		}
		if got := len(sigs); got != 30 {
			var srcs []string
			for _, s := range sigs {
				srcs = append(srcs, s.Source)
			}
			t.Errorf("got %d bundles, want the 30 pushed: %v", got, srcs)
		}
	})

	t.Run("bad cursor", func(t *testing.T) {
		resp, body := r.do(t, http.MethodGet, "/v2/test/image/referrers/"+subject.Digest.String()+"?last=nope", "", nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"DIGEST_INVALID"`) || !strings.Contains(string(body), "last") {
			t.Errorf("got %d %s, want 400 DIGEST_INVALID about last", resp.StatusCode, body)
		}
	})
}

// TestReferrersDefaultPageHoldsManySignatures: with the default page size,
// go-containerregistry's remote.Referrers (crane, cosign), which reads only
// the first page, sees a subject's every referrer up to hundreds of them.
func TestReferrersDefaultPageHoldsManySignatures(t *testing.T) {
	r := startRegistry(t, t.TempDir(), nil)
	subject := pushImage(t, r, "test/image", "v1")
	var want []v1.Descriptor
	for i := range 40 {
		want = append(want, putBundle(t, r, "test/image", subject, fmt.Sprintf(`{"bundle":%d}`, i)))
	}
	if diff := cmp.Diff(sortDescriptors(want), referrers(t, r, "test/image", subject.Digest)); diff != "" {
		t.Errorf("remote.Referrers (-want +got):\n%s", diff)
	}
	if pages := listAll(t, r.srv.URL, "test/image", subject.Digest, ""); len(pages) != 1 {
		t.Errorf("got %d pages, want 1", len(pages))
	}
}

// TestReferrersListingMemoryBounded lists, from 3 clients at once, 40
// referrers whose records carry 4 MiB of annotations each (records written
// before the annotation cap): the registry's heap must not grow with the
// number of referrers and clients.
func TestReferrersListingMemoryBounded(t *testing.T) {
	dir := t.TempDir()
	r := startRegistryConfig(t, registry.Config{Dir: dir})
	subject := pushImage(t, r, "test/image", "v1")
	const n = 40
	var want []v1.Descriptor
	for i := range n {
		want = append(want, putBundle(t, r, "test/image", subject, fmt.Sprintf(`{"bundle":%d}`, i)))
	}
	// Give every record 4 MiB of annotations, as a registry without the
	// cap would have recorded them.
	recordDir := filepath.Join(dir, "_hallmark", "referrers", "test", "image", "_subjects", "sha256-"+subject.Digest.Hex)
	big := strings.Repeat("a", 4<<20)
	for _, d := range want {
		path := filepath.Join(recordDir, "sha256-"+d.Digest.Hex+".json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading record: %v", err)
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("decoding record: %v", err)
		}
		rec["annotations"] = json.RawMessage(`{"org.example.padding":"` + big + `"}`)
		if b, err = json.Marshal(rec); err != nil {
			t.Fatalf("encoding record: %v", err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatalf("writing record: %v", err)
		}
	}
	big = ""

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	ctx, stop := context.WithCancel(t.Context())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for ctx.Err() == nil {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	results := make([][]page, 3)
	for i := range results {
		wg.Go(func() { results[i] = listAll(t, r.srv.URL, "test/image", subject.Digest, "") })
	}
	wg.Wait()
	stop()
	<-sampled

	for i, pages := range results {
		var got []string
		for _, p := range pages {
			for _, d := range p.descs {
				got = append(got, d.Digest.String())
				if len(d.Annotations) > 0 {
					t.Errorf("client %d: referrer %s listed with %d annotations over the cap, want none", i, d.Digest, len(d.Annotations))
				}
			}
		}
		if len(got) != n {
			t.Errorf("client %d: got %d referrers, want %d", i, len(got), n)
		}
	}
	// Unbounded, the three listings hold 40 × 4 MiB each, read and decoded
	// and encoded again: well over 1 GiB. Bounded, a few records at a time.
	const bound = 160 << 20
	if grew := int64(peak.Load()) - int64(base); grew > bound {
		t.Errorf("heap in use grew by %d MiB while listing, want under %d MiB", grew>>20, bound>>20)
	} else {
		t.Logf("heap in use grew by %d MiB at most", int64(math.Max(0, float64(grew)))>>20)
	}
}
