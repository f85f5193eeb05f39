package verify_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"hallmark.dev/keys"
	"hallmark.dev/oci"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// bundleSeeds returns bundles from testdata and freshly signed ones.
func bundleSeeds(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seeds [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	if len(seeds) == 0 {
		t.Fatal("empty seed corpus: no testdata/*.sigstore.json")
	}
	return seeds
}

// FuzzParseBundle: parsing never panics, and a bundle that parses
// re-encodes to a bundle that parses to the same message.
func FuzzParseBundle(f *testing.F) {
	for _, s := range bundleSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := verify.ParseBundle(data)
		if err != nil {
			return
		}
		again, err := b.MarshalJSON()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		b2, err := verify.ParseBundle(again)
		if err != nil {
			t.Fatalf("re-encoded bundle does not parse: %v", err)
		}
		if diff := cmp.Diff(b.Bundle, b2.Bundle, protocmp.Transform()); diff != "" {
			t.Fatalf("round trip changed the bundle (-first +second):\n%s", diff)
		}
	})
}

// FuzzVerifyImage: whatever bytes are offered as a signature, a key that
// never signed anything verifies none of them, and nothing panics.
func FuzzVerifyImage(f *testing.F) {
	for _, s := range bundleSeeds(f) {
		f.Add(s)
	}
	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		f.Fatal(err)
	}
	ks, err := verify.NewKeys(s.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := verify.Image(digestA, []oci.Signature{{Source: "fuzz", Bundle: data}}, verify.ImagePolicy{Authority: ks})
		if err == nil || (res != nil && len(res.Verified) > 0) {
			t.Fatalf("a signature verified with a key that never signed: %q", data)
		}
	})
}

// TestGenerateSeeds writes the seed bundles when HALLMARK_WRITE_SEEDS=1.
func TestGenerateSeeds(t *testing.T) {
	if os.Getenv("HALLMARK_WRITE_SEEDS") != "1" {
		t.Skip("set HALLMARK_WRITE_SEEDS=1 to regenerate testdata seeds")
	}
	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := sign.Image(context.Background(), k, digestA, map[string]string{"repo": "org/app"}, sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := sign.Blob(context.Background(), k, []byte("blob"), sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"image.sigstore.json": img, "blob.sigstore.json": blob} {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzVerifyLegacy: whatever payload and signature annotation a registry
// serves in the legacy layout, a key that never signed verifies none.
func FuzzVerifyLegacy(f *testing.F) {
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"`+digestA+`"},"type":"cosign container image signature"},"optional":{"a":"b"}}`), "MEUCIQ==")
	f.Add([]byte(`{}`), "")
	s, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		f.Fatal(err)
	}
	ks, err := verify.NewKeys(s.Public())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte, sig string) {
		res, err := verify.Image(digestA, []oci.Signature{{Source: "fuzz", Legacy: &oci.Legacy{Payload: payload, Signature: sig}}}, verify.ImagePolicy{Authority: ks})
		if err == nil || (res != nil && len(res.Verified) > 0) {
			t.Fatalf("a legacy signature verified with a key that never signed: %q %q", payload, sig)
		}
	})
}
