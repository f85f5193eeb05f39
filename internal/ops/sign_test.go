package ops_test

import (
	"context"
	"crypto"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
)

// failingSigner signs n times, then fails as a key in a removed token
// does.
type failingSigner struct {
	crypto.Signer
	n int
}

func (s *failingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if s.n == 0 {
		return nil, errors.New("the token is gone (CKR_DEVICE_REMOVED)")
	}
	s.n--
	return s.Signer.Sign(r, digest, opts)
}

// TestSignImageRecursiveAllOrNothing: when one manifest of an index cannot
// be signed, no signature is stored, not even those made before.
func TestSignImageRecursiveAllOrNothing(t *testing.T) {
	reg := testkit.StartRegistry(t)
	d := reg.PushIndex(t, "demo/multi:v1", "multi")
	key, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.NewKeySigner(&failingSigner{Signer: key, n: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := store.New(store.Options{})
	res, err := ops.SignImage(context.Background(), c, ops.SignImageRequest{Reference: d.String(), Recursive: true, Signer: kp})
	if err == nil || !strings.Contains(err.Error(), "the token is gone (CKR_DEVICE_REMOVED)") {
		t.Fatalf("got %v, want the signer's failure", err)
	}
	if res != nil && len(res.Signed) != 0 {
		t.Errorf("reported signed: %+v, want none", res.Signed)
	}
	children, err := c.Children(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	subjects := []v1.Hash{h}
	for _, ch := range children {
		subjects = append(subjects, ch.Digest)
	}
	for _, s := range subjects {
		sigs, err := c.Signatures(context.Background(), d.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		if len(sigs) != 0 {
			t.Errorf("%s: %d signatures stored, want none", s, len(sigs))
		}
	}
}
