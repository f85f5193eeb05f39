package store_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/oci"
	"hallmark.dev/oci/store"
)

func TestAttachAndFind(t *testing.T) {
	regs := map[string]*testkit.Registry{
		"hallmark registry":            testkit.StartRegistry(t),
		"memory with referrers API":    testkit.StartMemoryRegistry(t, true),
		"memory, referrers tag schema": testkit.StartMemoryRegistry(t, false),
	}
	for name, reg := range regs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := store.New(store.Options{Timeout: 5 * time.Second})
			d := reg.PushImage(t, "demo/app:v1", "app")
			ref, err := c.ParseReference(reg.Host + "/demo/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			got, desc, err := c.Resolve(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != d.String() {
				t.Fatalf("resolved %s, want %s", got, d)
			}
			for _, b := range []string{`{"n":1}`, `{"n":2}`} {
				if _, err := c.AttachBundle(ctx, d.Context(), desc, []byte(b), "https://sigstore.dev/cosign/sign/v1"); err != nil {
					t.Fatalf("attach: %v", err)
				}
			}
			h, err := v1.NewHash(d.DigestStr())
			if err != nil {
				t.Fatal(err)
			}
			sigs, err := c.Signatures(ctx, d.Context(), h)
			if err != nil {
				t.Fatal(err)
			}
			var bodies []string
			for _, s := range sigs {
				if !strings.HasPrefix(s.Source, "referrer sha256:") {
					t.Errorf("source %q", s.Source)
				}
				bodies = append(bodies, string(s.Bundle))
			}
			if len(bodies) != 2 || !contains(bodies, `{"n":1}`) || !contains(bodies, `{"n":2}`) {
				t.Errorf("got bundles %q, want both", bodies)
			}
			// Another image has none.
			other := reg.PushImage(t, "demo/other:v1", "other")
			oh, err := v1.NewHash(other.DigestStr())
			if err != nil {
				t.Fatal(err)
			}
			sigs, err = c.Signatures(ctx, other.Context(), oh)
			if err != nil || len(sigs) != 0 {
				t.Errorf("other image: got %d signatures, err %v", len(sigs), err)
			}
		})
	}
}

func TestUnreadableBundleIsReported(t *testing.T) {
	reg := testkit.StartRegistry(t)
	ctx := context.Background()
	c := store.New(store.Options{})
	d := reg.PushImage(t, "demo/app:v1", "app")
	_, desc, err := c.Resolve(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.AttachBundle(ctx, d.Context(), desc, []byte(`{}`), attest.CosignSignPredicateType)
	if err != nil {
		t.Fatal(err)
	}
	// An attestation of another type is not read as a signature.
	if _, err := c.AttachBundle(ctx, d.Context(), desc, []byte(`{}`), attest.PredicateCycloneDX); err != nil {
		t.Fatal(err)
	}
	// Delete the bundle blob behind the referrer.
	m, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	img, err := m.Image()
	if err != nil {
		t.Fatal(err)
	}
	mf, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodDelete, reg.Server.URL+"/v2/demo/app/blobs/"+mf.Layers[0].Digest.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := c.Signatures(ctx, d.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || sigs[0].Bundle != nil || !strings.Contains(sigs[0].Source, "unreadable") {
		t.Errorf("got %+v, want one unreadable signature", sigs)
	}
}

func TestResolveErrors(t *testing.T) {
	reg := testkit.StartRegistry(t)
	c := store.New(store.Options{Timeout: 2 * time.Second})
	ref, err := c.ParseReference(reg.Host + "/demo/missing:v1")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Resolve(context.Background(), ref)
	var re *store.RegistryError
	if !errors.As(err, &re) || re.Registry != reg.Host || !strings.HasSuffix(err.Error(), ": not found") {
		t.Errorf("got %v, want a not-found RegistryError naming %s", err, reg.Host)
	}
	if _, err := c.ParseReference("Bad::Ref"); err == nil {
		t.Error("bad reference accepted")
	}
}

// recorder is a transport that records requests and never sends them.
type recorder struct{ urls []string }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL.String())
	return nil, errors.New("recorder: not sent")
}

func TestPlainHTTPOffLoopbackRefused(t *testing.T) {
	rec := &recorder{}
	// AllowHTTP is off: a reference to a private address (which
	// go-containerregistry would fall back to plain HTTP for) must never
	// produce a plain-HTTP request.
	c := store.New(store.Options{Transport: rec, Timeout: time.Second})
	ref, err := c.ParseReference("10.0.0.1:5000/demo/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Resolve(context.Background(), ref)
	if err == nil || !strings.Contains(err.Error(), "--allow-http-registry") {
		t.Errorf("got %v, want the plain-HTTP refusal", err)
	}
	for _, u := range rec.urls {
		if strings.HasPrefix(u, "http://") {
			t.Errorf("plain HTTP request sent: %s", u)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true, "reg.localhost": false,
		"10.0.0.1": false, "192.168.1.1": false, "example.com": false, "localhost.example.com": false,
	} {
		if got := store.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestStalledBodyIsCutOff: a registry that sends headers and then stops
// sending the body is cut off by the idle timeout instead of hanging.
func TestStalledBodyIsCutOff(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"schemaVersion":2,`))
		w.(http.Flusher).Flush()
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c := store.New(store.Options{Timeout: 300 * time.Millisecond})
	repo, err := c.ParseRepository(strings.TrimPrefix(srv.URL, "http://") + "/demo/app")
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash("sha256:" + strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Signatures(context.Background(), repo, h)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
			t.Fatalf("got %v, want a timeout naming the registry", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Signatures still waiting on a stalled body after 30s")
	}
}

// TestAttestationsStreamed: bundle layers of at least the threshold are
// returned to be read as streams, which give the layer's content and fail
// at the end when the registry serves other bytes than the digest.
func TestAttestationsStreamed(t *testing.T) {
	reg := testkit.StartMemoryRegistry(t, true)
	var tamper atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tamper.Load() || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			reg.Server.Config.Handler.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.Server.Config.Handler.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)-1] ^= 1
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(proxy.Close)
	host := strings.TrimPrefix(proxy.URL, "http://")
	ctx := context.Background()
	c := store.New(store.Options{Timeout: 5 * time.Second})
	reg.PushImage(t, "demo/app:v1", "app")
	ref, err := c.ParseReference(host + "/demo/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	d, desc, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	small, large := `{"n":1}`, `{"n":"`+strings.Repeat("x", 100)+`"}`
	for _, b := range []string{small, large} {
		if _, err := c.AttachBundle(ctx, d.Context(), desc, []byte(b), "https://cyclonedx.org/bom"); err != nil {
			t.Fatal(err)
		}
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	sigs, streamed, err := c.AttestationsStreamed(ctx, d.Context(), h, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || string(sigs[0].Bundle) != small || len(streamed) != 1 || streamed[0].Size != int64(len(large)) {
		t.Fatalf("got %d in memory and %d streamed, want the small one in memory and the large one streamed", len(sigs), len(streamed))
	}
	read := func() ([]byte, error) {
		rc, err := streamed[0].Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	got, err := read()
	if err != nil || string(got) != large {
		t.Fatalf("streamed read: %q, %v", got, err)
	}
	tamper.Store(true)
	if _, err := read(); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("tampered layer: got %v, want a digest error", err)
	}
}

// TestAttestationsStreamedOverMemoryLimit: a bundle layer over the limit
// of a bundle held in memory is returned as a stream all the same, whole
// and readable: a verifier that does not hold its payload reads it (up to
// oci.MaxStreamedBundleSize), one that does refuses it by its size.
func TestAttestationsStreamedOverMemoryLimit(t *testing.T) {
	reg := testkit.StartMemoryRegistry(t, true)
	ctx := context.Background()
	c := store.New(store.Options{Timeout: 30 * time.Second})
	reg.PushImage(t, "demo/app:v1", "app")
	ref, err := c.ParseReference(reg.Host + "/demo/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	d, desc, err := c.Resolve(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, oci.MaxBundleSize+1)
	for i := range big {
		big[i] = 'x'
	}
	if _, err := c.AttachBundle(ctx, d.Context(), desc, big, "https://cyclonedx.org/bom"); err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	sigs, streamed, err := c.AttestationsStreamed(ctx, d.Context(), h, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 0 || len(streamed) != 1 || streamed[0].Size != int64(len(big)) {
		t.Fatalf("got %d in memory (%v) and %d streamed, want the layer streamed", len(sigs), sigs, len(streamed))
	}
	rc, err := streamed[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil || n != int64(len(big)) {
		t.Errorf("streamed read: %d bytes, %v; want %d", n, err, len(big))
	}
}
