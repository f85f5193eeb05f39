package ops_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"hallmark.dev/attest"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

const (
	sbomDoc = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}`
	provDoc = `{"buildDefinition":{"buildType":"https://example.com/b","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/builder"}}}`
	gateDoc = `{"scanner":{"uri":"pkg:github/aquasecurity/trivy","version":"0.70.0","result":{"passed":true}}}`
)

// refuseManifests makes the registry refuse manifest uploads whose body
// contains marker, once armed.
func refuseManifests(armed *atomic.Bool, marker string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if armed.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
					return
				}
				if bytes.Contains(body, []byte(marker)) {
					http.Error(w, "injected failure", http.StatusInternalServerError)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestRelease(t *testing.T) {
	var armed atomic.Bool
	reg := testkit.StartRegistryWrapped(t, refuseManifests(&armed, attest.PredicateCycloneDX))
	kp := testkit.NewKeyPair(t, t.TempDir(), "cosign", keys.ECDSAP256, "pw")
	signer, err := sign.NewKeySigner(kp.Signer)
	if err != nil {
		t.Fatal(err)
	}
	authority, err := verify.NewKeys(kp.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	c := store.New(store.Options{})
	ctx := context.Background()
	base := func(ref string) ops.ReleaseRequest {
		return ops.ReleaseRequest{
			Reference: ref, Signer: signer,
			Gate:       func(context.Context, string) ([]byte, error) { return []byte(gateDoc), nil },
			SBOM:       []byte(sbomDoc),
			Provenance: []byte(provDoc),
		}
	}
	countSigs := func(ref string) int {
		t.Helper()
		res, err := ops.VerifyImage(ctx, c, ops.VerifyImageRequest{Reference: ref, Policy: verify.ImagePolicy{Authority: authority}})
		if err != nil {
			return 0
		}
		return len(res.Verified)
	}

	t.Run("gate refuses: nothing signed", func(t *testing.T) {
		ref := reg.PushImage(t, "demo/blocked:v1", "blocked").String()
		req := base(ref)
		req.Gate = func(context.Context, string) ([]byte, error) { return nil, errors.New("2 blocking findings") }
		_, err := ops.Release(ctx, c, req)
		if err == nil || !strings.Contains(err.Error(), "gate: 2 blocking findings; nothing was signed") {
			t.Fatalf("got %v, want the gate's refusal", err)
		}
		if n := countSigs(ref); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("malformed provenance: nothing signed", func(t *testing.T) {
		ref := reg.PushImage(t, "demo/badprov:v1", "badprov").String()
		req := base(ref)
		req.Provenance = []byte("not json")
		if _, err := ops.Release(ctx, c, req); err == nil || !strings.Contains(err.Error(), "nothing was signed") {
			t.Fatalf("got %v, want a refusal before signing", err)
		}
		if n := countSigs(ref); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("sbom of another image: nothing signed", func(t *testing.T) {
		ref := reg.PushImage(t, "demo/badsbom:v1", "badsbom").String()
		req := base(ref)
		req.SBOM = []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"metadata":{"component":{"type":"container","name":"x","version":"sha256:` + strings.Repeat("ab", 32) + `"}},"components":[]}`)
		_, err := ops.Release(ctx, c, req)
		if err == nil || !strings.Contains(err.Error(), "nothing was signed") || !strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
			t.Fatalf("got %v, want the SBOM refused naming its digest", err)
		}
		if n := countSigs(ref); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("an index: nothing signed", func(t *testing.T) {
		// A scanner scans one platform of an index, and the report names
		// the index digest: a gate pass would cover the other platforms
		// unscanned.
		ref := reg.PushIndex(t, "demo/multi:v1", "multi").String()
		_, err := ops.Release(ctx, c, base(ref))
		if err == nil || !strings.Contains(err.Error(), "index") || !strings.Contains(err.Error(), "nothing was signed") {
			t.Fatalf("got %v, want the index refused", err)
		}
		if n := countSigs(ref); n != 0 {
			t.Fatalf("got %d signatures, want 0", n)
		}
	})
	t.Run("the gate sees the resolved digest", func(t *testing.T) {
		d := reg.PushImage(t, "demo/digest:v1", "digest")
		req := base(reg.Host + "/demo/digest:v1")
		var seen string
		req.Gate = func(_ context.Context, image string) ([]byte, error) { seen = image; return []byte(gateDoc), nil }
		if _, err := ops.Release(ctx, c, req); err != nil {
			t.Fatal(err)
		}
		if seen != d.String() {
			t.Fatalf("gate saw %s, want %s", seen, d.String())
		}
	})
	t.Run("pass: signed and attested", func(t *testing.T) {
		ref := reg.PushImage(t, "demo/ok:v1", "ok").String()
		res, err := ops.Release(ctx, c, base(ref))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, a := range res.Attached {
			kinds = append(kinds, a.Kind)
		}
		if got, want := strings.Join(kinds, ","), "signature,gate,sbom,provenance"; got != want {
			t.Fatalf("attached %s, want %s", got, want)
		}
		for _, pt := range []string{attest.PredicateVuln, attest.PredicateCycloneDX, attest.PredicateSLSAProvenance1} {
			if _, err := ops.VerifyAttestations(ctx, c, ops.VerifyAttestationsRequest{Reference: ref, Policy: verify.AttestationPolicy{Authority: authority, PredicateType: pt}}); err != nil {
				t.Errorf("%s: %v", pt, err)
			}
		}
	})
	t.Run("an attestation push fails, then a re-run completes", func(t *testing.T) {
		ref := reg.PushImage(t, "demo/partial:v1", "partial").String()
		armed.Store(true)
		res, err := ops.Release(ctx, c, base(ref))
		armed.Store(false)
		if !errors.Is(err, ops.ErrReleaseIncomplete) {
			t.Fatalf("got %v, want ErrReleaseIncomplete", err)
		}
		if len(res.Attached) != 3 || len(res.NotAttached) != 1 || res.NotAttached[0].Kind != "sbom" {
			t.Fatalf("attached %+v, not attached %+v; want all but the sbom", res.Attached, res.NotAttached)
		}
		if !strings.Contains(err.Error(), "not attached: sbom") {
			t.Fatalf("error %q does not name the sbom", err)
		}
		if _, err := ops.Release(ctx, c, base(ref)); err != nil {
			t.Fatalf("re-run: %v", err)
		}
		if _, err := ops.VerifyAttestations(ctx, c, ops.VerifyAttestationsRequest{Reference: ref, Policy: verify.AttestationPolicy{Authority: authority, PredicateType: attest.PredicateCycloneDX}}); err != nil {
			t.Fatalf("after the re-run: %v", err)
		}
	})
}
