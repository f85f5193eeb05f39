package verify_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// keylessBlobs are n blobs signed keylessly as bench@example.com, each
// with its own certificate, a Rekor v2 log entry and an RFC 3161
// timestamp, as `hallmark sign-blob` and cosign sign them.
type keylessBlobs struct {
	st      *stack
	id      verify.Identity
	sums    [][]byte
	digests []string
	bundles [][]byte
}

func signKeylessBlobs(tb testing.TB, st *stack, n int) *keylessBlobs {
	tb.Helper()
	set := &keylessBlobs{st: st, id: verify.Identity{Issuer: st.issuer, Subject: "bench@example.com"},
		sums: make([][]byte, n), digests: make([]string, n), bundles: make([][]byte, n)}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		kp, opts := st.keyless(tb, "bench@example.com", true, true)
		wg.Go(func() {
			data := fmt.Appendf(nil, "artifact %d\n", i)
			b, err := sign.Blob(context.Background(), kp, data, opts)
			sum := sha256.Sum256(data)
			set.sums[i], set.digests[i], set.bundles[i], errs[i] = sum[:], "sha256:"+hex.EncodeToString(sum[:]), b, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return set
}

func (set *keylessBlobs) verify(tb testing.TB, k *verify.Keyless, i int) {
	if _, err := verify.Blob("b", set.bundles[i], verify.Artifact{Digest: set.digests[i]}, verify.BlobPolicy{Authority: k}); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkKeyless: an admission controller re-verifying the same 64
// keyless bundles, over and over. Each iteration verifies one bundle, the
// next in turn, from its JSON:
//
//   - sigstore-go: bundle.UnmarshalJSON and Verify with the identity and
//     the artifact digest, on one verifier built once (as NewKeyless does);
//   - hallmark-cached: verify.Blob with one Keyless authority kept across
//     calls, whose caches are warm;
//   - hallmark-cold: verify.Blob with a new Keyless authority each time
//     (the command line's case: nothing to reuse).
func BenchmarkKeyless(b *testing.B) {
	st := startStack(b)
	set := signKeylessBlobs(b, st, 64)
	b.Run("sigstore-go", func(b *testing.B) {
		v, err := sgverify.NewVerifier(st.tr, sgverify.WithObserverTimestamps(1), sgverify.WithTransparencyLog(1))
		if err != nil {
			b.Fatal(err)
		}
		id, err := sgverify.NewShortCertificateIdentity(set.id.Issuer, "", set.id.Subject, "")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % len(set.bundles)
			i++
			var bun bundle.Bundle
			if err := bun.UnmarshalJSON(set.bundles[k]); err != nil {
				b.Fatal(err)
			}
			if _, err := v.Verify(&bun, sgverify.NewPolicy(sgverify.WithArtifactDigest("sha256", set.sums[k]), sgverify.WithCertificateIdentity(id))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hallmark-cached", func(b *testing.B) {
		k, err := verify.NewKeyless(st.tr, set.id)
		if err != nil {
			b.Fatal(err)
		}
		for i := range set.bundles {
			set.verify(b, k, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			set.verify(b, k, i%len(set.bundles))
			i++
		}
	})
	b.Run("hallmark-cold", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k, err := verify.NewKeyless(st.tr, set.id)
			if err != nil {
				b.Fatal(err)
			}
			set.verify(b, k, i%len(set.bundles))
			i++
		}
	})
}
