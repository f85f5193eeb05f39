package registry_test

import (
	"context"
	"testing"
	"time"

	"hallmark.dev/internal/testkit"
	"hallmark.dev/oci/store"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestRepositoryNamedLikeARecord: a repository whose path looks like the
// referrers index's own layout must not displace a referrer record.
func TestRepositoryNamedLikeARecord(t *testing.T) {
	reg := testkit.StartRegistry(t)
	ctx := context.Background()
	c := store.New(store.Options{Timeout: 5 * time.Second})
	d := reg.PushImage(t, "demo/z:v1", "z")
	_, desc, err := c.Resolve(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	bundle := []byte(`{"n":1}`)
	// The referrer's digest is predictable; squat the paths its record
	// would have had under a layout without a separate namespace.
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	squat := "demo/z/sha256-" + h.Hex + "/squat"
	reg.PushImage(t, squat+":v1", "squatter")
	if _, err := c.AttachBundle(ctx, d.Context(), desc, bundle, "p"); err != nil {
		t.Fatalf("attach: %v", err)
	}
	// Attestations: Signatures skips referrers of another predicate type.
	sigs, err := c.Attestations(ctx, d.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || string(sigs[0].Bundle) != string(bundle) {
		t.Errorf("got %d signatures %+v, want the one attached", len(sigs), sigs)
	}
}
