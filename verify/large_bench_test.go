package verify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"hallmark.dev/attest"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// largeStatement is an in-toto statement about digest whose predicate is
// an SBOM-shaped object of about size bytes.
func largeStatement(digest string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"%s"}}],"predicateType":"https://cyclonedx.org/bom","predicate":{"bomFormat":"CycloneDX","specVersion":"1.6","components":[`, digest[7:])
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"library","name":"pkg-%d","version":"1.%d.0","purl":"pkg:npm/pkg-%d@1.%d.0","hashes":[{"alg":"SHA-256","content":"%064x"}],"licenses":[{"license":{"id":"MIT"}}]}`, i, i%100, i, i%100, i)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

// peakHeap samples the heap's object bytes until stop is called and
// returns the largest value seen above the value at the start.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

// BenchmarkLargeAttestation verifies a 16 MiB CycloneDX attestation (key
// signed, as `hallmark attest-blob --key` makes it) from its bundle JSON:
// sigstore-go's verifier the standard way (parse, Verify), and hallmark's
// streamed path. B/op is what each allocates; peak-heap-MB the largest
// growth of the heap seen while it runs (sampled every 200 µs), to
// compare with payload-MB. bench/bigattest/run measures the peak RSS of
// the command-line tools at 50 MB.
//
//	go test -run XXX -bench LargeAttestation -benchtime 3x ./verify/
func BenchmarkLargeAttestation(b *testing.B) {
	artifact := []byte("release artifact\n")
	sum := sha256.Sum256(artifact)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	payload := largeStatement(digest, 16<<20)
	if _, err := attest.ParseStatement(payload); err != nil {
		b.Fatal(err)
	}
	k, pub := benchKey(b)
	bun, err := sign.Statement(context.Background(), k, payload, sign.Options{})
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, peak uint64) {
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(len(payload))/(1<<20), "payload-MB")
	}
	b.Run("sigstore-go", func(b *testing.B) {
		v := benchSigstoreGoVerifier(b, pub)
		b.ReportAllocs()
		var peak uint64
		for b.Loop() {
			stop := peakHeap()
			var sb bundle.Bundle
			if err := sb.UnmarshalJSON(bun); err != nil {
				b.Fatal(err)
			}
			res, err := v.Verify(&sb, sgverify.NewPolicy(sgverify.WithArtifactDigest("sha256", sum[:]), sgverify.WithKey()))
			if err != nil || res.Statement.GetPredicateType() != attest.PredicateCycloneDX {
				b.Fatal(err)
			}
			peak = max(peak, stop())
		}
		report(b, peak)
	})
	b.Run("hallmark", func(b *testing.B) {
		ks := benchKeys(b, pub)
		src := verify.BundleSource{Source: "b", Size: int64(len(bun)), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(bun)), nil
		}}
		b.ReportAllocs()
		var peak uint64
		for b.Loop() {
			stop := peakHeap()
			if _, err := verify.AttestationsFrom(digest, nil, []verify.BundleSource{src}, verify.AttestationPolicy{Authority: ks, PredicateType: attest.PredicateCycloneDX}); err != nil {
				b.Fatal(err)
			}
			peak = max(peak, stop())
		}
		report(b, peak)
	})
}
