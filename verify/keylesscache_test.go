package verify_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/verify"
)

// part returns a copy of the JSON value at path in a bundle.
func part(t *testing.T, b []byte, path ...string) any {
	t.Helper()
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		switch v := m.(type) {
		case map[string]any:
			m = v[p]
		case []any:
			m = v[0]
		}
	}
	return m
}

// replace returns b with the value at path set to v.
func replace(t *testing.T, b []byte, v any, path ...string) []byte {
	t.Helper()
	return lite.EditJSON(t, b, func(m map[string]any) {
		var cur any = m
		for i, p := range path {
			last := i == len(path)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					c[p] = v
					return
				}
				cur = c[p]
			case []any:
				if last {
					c[0] = v
					return
				}
				cur = c[0]
			}
		}
	})
}

func leafOf(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(part(t, b, "verificationMaterial", "certificate", "rawBytes").(string))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func stepOf(t *testing.T, err error) verify.Step {
	t.Helper()
	var se *verify.SignatureError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a rejection", err)
	}
	return se.Step
}

// TestKeylessCache: with caches warmed by good bundles, a bundle that
// reuses cached material (another bundle's certificate, checkpoint,
// inclusion proof or timestamp) or is tampered with is still rejected, at
// the step where a fresh authority, and sigstore-go's full verification,
// reject it; and a cached certificate chain is only used at times when
// every certificate of it is valid.
func TestKeylessCache(t *testing.T) {
	st := startStack(t)
	set := signKeylessBlobs(t, st, 3)
	// b is signed after the others, so that its checkpoint is another.
	later := signKeylessBlobs(t, st, 1)
	set.bundles, set.digests = append(set.bundles, later.bundles...), append(set.digests, later.digests...)
	a, b := set.bundles[0], set.bundles[3]
	if part(t, a, "verificationMaterial", "tlogEntries", "0", "inclusionProof", "checkpoint", "envelope") == part(t, b, "verificationMaterial", "tlogEntries", "0", "inclusionProof", "checkpoint", "envelope") {
		t.Fatal("the bundles share their checkpoint")
	}
	warm, err := verify.NewKeyless(st.tr, set.id)
	if err != nil {
		t.Fatal(err)
	}
	counted, decided, undecided := warm.CountCached()
	for i := range set.bundles {
		set.verify(t, counted, i)
		set.verify(t, counted, i)
	}
	if decided.Load() != 8 || undecided.Load() != 0 {
		t.Errorf("good bundles: the cached path decided %d and left %d to the full one, want 8 decided", decided.Load(), undecided.Load())
	}
	if chains, stamps, checkpoints := warm.CacheSizes(); chains != 4 || stamps != 4 || checkpoints < 2 {
		t.Errorf("cached %d chains, %d timestamps, %d checkpoints; want 4, 4 and at least 2", chains, stamps, checkpoints)
	}
	if scts, hashes, bundles := warm.ParseCacheSizes(); scts != 4 || hashes != 4 || bundles != 4 {
		t.Errorf("cached %d SCT checks, %d entry hashes, %d bundles; want 4 each", scts, hashes, bundles)
	}

	// The cached path reports what the full one does.
	got, err := verify.Blob("b", a, verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: warm})
	if err != nil {
		t.Fatal(err)
	}
	want, err := verify.Blob("b", a, verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: warm.FullOnly()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-full +cached):\n%s", diff)
	}

	flipped := func(path ...string) []byte {
		return replace(t, a, flipBase64(t, part(t, a, path...)), path...)
	}
	cp := []string{"verificationMaterial", "tlogEntries", "0", "inclusionProof", "checkpoint", "envelope"}
	for _, c := range []struct {
		name   string
		bundle []byte
		digest string
	}{
		{"another bundle's certificate", replace(t, a, part(t, b, "verificationMaterial", "certificate"), "verificationMaterial", "certificate"), set.digests[0]},
		{"tampered certificate", flipped("verificationMaterial", "certificate", "rawBytes"), set.digests[0]},
		{"another bundle's checkpoint", replace(t, a, part(t, b, cp...), cp...), set.digests[0]},
		{"tampered checkpoint", replace(t, a, strings.Replace(part(t, a, cp...).(string), "\n", "\n1", 1), cp...), set.digests[0]},
		{"another bundle's inclusion proof", replace(t, a, part(t, b, "verificationMaterial", "tlogEntries", "0", "inclusionProof"), "verificationMaterial", "tlogEntries", "0", "inclusionProof"), set.digests[0]},
		{"another bundle's log entry", replace(t, a, part(t, b, "verificationMaterial", "tlogEntries"), "verificationMaterial", "tlogEntries"), set.digests[0]},
		{"another bundle's timestamp", replace(t, a, part(t, b, "verificationMaterial", "timestampVerificationData"), "verificationMaterial", "timestampVerificationData"), set.digests[0]},
		{"tampered timestamp", flipped("verificationMaterial", "timestampVerificationData", "rfc3161Timestamps", "0", "signedTimestamp"), set.digests[0]},
		{"tampered signature", tamperSignature(t, a), set.digests[0]},
		{"another artifact", a, set.digests[1]},
	} {
		for _, mode := range []string{"log", "timestamp only"} {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				authority := func(k *verify.Keyless) *verify.Keyless {
					if mode == "log" {
						return k
					}
					tk, err := k.TimestampOnly()
					if err != nil {
						t.Fatal(err)
					}
					return tk
				}
				verifyWith := func(k *verify.Keyless) error {
					_, err := verify.Blob("b", c.bundle, verify.Artifact{Digest: c.digest}, verify.BlobPolicy{Authority: k})
					return err
				}
				// Timestamp-only verification does not look at the log:
				// log tampering passes it, alike on every path.
				stepOf := func(t *testing.T, err error) verify.Step {
					if err == nil && mode != "log" {
						return "verified"
					}
					return stepOf(t, err)
				}
				warmStep := stepOf(t, verifyWith(authority(warm)))
				cold, err := verify.NewKeyless(st.tr, set.id)
				if err != nil {
					t.Fatal(err)
				}
				coldStep := stepOf(t, verifyWith(authority(cold)))
				fullStep := stepOf(t, verifyWith(authority(cold).FullOnly()))
				if warmStep != coldStep || warmStep != fullStep {
					t.Errorf("steps: warm %s, cold %s, full %s", warmStep, coldStep, fullStep)
				}
				t.Logf("%s", warmStep)
			})
		}
	}

	t.Run("another identity", func(t *testing.T) {
		other, err := verify.NewKeyless(st.tr, verify.Identity{Issuer: st.issuer, Subject: "mallory@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second time with warm caches
			_, err := verify.Blob("b", a, verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: other})
			if step := stepOf(t, err); step != verify.StepIdentity {
				t.Errorf("step %s, want identity", step)
			}
		}
	})

	t.Run("chain validity", func(t *testing.T) {
		leaf := leafOf(t, a)
		for _, c := range []struct {
			name string
			at   time.Time
			ok   bool
		}{
			{"inside", leaf.NotBefore.Add(time.Second), true},
			{"before", leaf.NotBefore.Add(-time.Second), false},
			{"after", leaf.NotAfter.Add(time.Second), false},
			{"a year later", leaf.NotAfter.AddDate(1, 0, 0), false},
		} {
			_, err := warm.LeafChains(leaf, c.at)
			if (err == nil) != c.ok {
				t.Errorf("%s the certificate's validity: got %v", c.name, err)
			}
		}
	})
}

// TestKeylessCacheConcurrent: one authority verifying good and tampered
// bundles from many goroutines (run with -race) gives each its verdict.
func TestKeylessCacheConcurrent(t *testing.T) {
	st := startStack(t)
	set := signKeylessBlobs(t, st, 4)
	k, err := verify.NewKeyless(st.tr, set.id)
	if err != nil {
		t.Fatal(err)
	}
	bad := tamperSignature(t, set.bundles[0])
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				n := (g + i) % len(set.bundles)
				if _, err := verify.Blob("b", set.bundles[n], verify.Artifact{Digest: set.digests[n]}, verify.BlobPolicy{Authority: k}); err != nil {
					t.Errorf("good bundle %d: %v", n, err)
				}
				if _, err := verify.Blob("b", bad, verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: k}); err == nil {
					t.Error("tampered bundle verified")
				}
			}
		})
	}
	wg.Wait()
}
