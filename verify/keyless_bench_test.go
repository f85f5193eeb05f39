package verify_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"hallmark.dev/internal/server"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

type keylessSet struct {
	tr      *root.TrustedRoot
	issuer  string
	data    [][]byte
	sums    [][]byte
	bundles [][]byte
}

func startServer(tb testing.TB) *server.Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: tb.TempDir(), DevOIDC: true})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return s
}

func newKeylessSet(tb testing.TB, n int) *keylessSet {
	tb.Helper()
	s := startServer(tb)
	tr, err := verify.ParseTrustedRoot(s.TrustedRoot())
	if err != nil {
		tb.Fatal(err)
	}
	sc, err := root.NewSigningConfigFromJSON(s.SigningConfig())
	if err != nil {
		tb.Fatal(err)
	}
	set := &keylessSet{tr: tr, issuer: s.URL() + "/oidc", data: make([][]byte, n), sums: make([][]byte, n), bundles: make([][]byte, n)}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token, err := s.DevIssuer().Mint("bench@example.com", "sigstore", 10*time.Minute, nil)
			if err != nil {
				errs <- err
				return
			}
			opts, err := sign.Services{Config: sc, IDToken: token, Log: true, Timestamp: true}.Options(time.Now())
			if err != nil {
				errs <- err
				return
			}
			kp, err := sgsign.NewEphemeralKeypair(nil)
			if err != nil {
				errs <- err
				return
			}
			data := []byte("artifact " + string(rune('A'+i%26)) + string(rune('a'+i/26)))
			b, err := sign.Blob(context.Background(), kp, data, opts)
			if err != nil {
				errs <- err
				return
			}
			sum := sha256.Sum256(data)
			set.data[i], set.sums[i], set.bundles[i] = data, sum[:], b
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return set
}

func BenchmarkKeyless(b *testing.B) {
	t0 := time.Now()
	set := newKeylessSet(b, 64)
	b.Logf("signed %d bundles in %s", len(set.bundles), time.Since(t0))
	b.Run("sigstore-go", func(b *testing.B) {
		v, err := sgverify.NewVerifier(set.tr, sgverify.WithObserverTimestamps(1), sgverify.WithTransparencyLog(1))
		if err != nil {
			b.Fatal(err)
		}
		id, err := sgverify.NewShortCertificateIdentity(set.issuer, "", "bench@example.com", "")
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
}
