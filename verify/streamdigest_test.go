package verify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/oci"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// bigAttestation is a keyed attestation about digestA whose statement
// holds a CycloneDX predicate of blocks copies of a block of components,
// generated (and encoded in base64) as it is read, without allocating:
// the bundle is never in memory, so what verifying it allocates is what
// the verifier holds.
type bigAttestation struct {
	prefix, suffix []byte // the bundle around its payload's characters
	head, block    []byte // the statement: head, block × blocks, tail
	blocks         int
	authority      *verify.Keys
}

const bigTail = `{"name":"last"}]}}`

func newBigAttestation(t *testing.T, blocks int) *bigAttestation {
	t.Helper()
	s := genKey(t, keys.ECDSAP256)
	kp, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verify.NewKeys(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	a := &bigAttestation{
		head:      []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + digestA[7:] + `"}}],"predicateType":"` + attest.PredicateCycloneDX + `","predicate":{"bomFormat":"CycloneDX","components":[`),
		blocks:    blocks,
		authority: ks,
	}
	var block strings.Builder
	for i := 0; block.Len() < 48<<10; i++ {
		fmt.Fprintf(&block, `{"type":"library","name":"pkg-%05d","version":"1.%d.0","purl":"pkg:npm/pkg-%05d@1.%d.0","hashes":[{"alg":"SHA-256","content":"%064x"}]},`, i, i%7, i, i%7, i)
	}
	a.block = []byte(block.String())
	// Sign the PAE of the payload, hashed as it is generated.
	h := sha256.New()
	fmt.Fprintf(h, "DSSEv1 %d %s %d ", len(attest.PayloadType), attest.PayloadType, a.payloadSize())
	if _, err := io.Copy(h, a.payload()); err != nil {
		t.Fatal(err)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, s.(*ecdsa.PrivateKey), h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := signRaw(t, kp, attest.PayloadType, []byte("{}"), sign.Options{})
	doc := lite.EditJSON(t, tmpl, func(m map[string]any) {
		env := m["dsseEnvelope"].(map[string]any)
		env["payload"] = "@PAYLOAD@"
		env["signatures"].([]any)[0].(map[string]any)["sig"] = base64.StdEncoding.EncodeToString(sig)
	})
	i := bytes.Index(doc, []byte("@PAYLOAD@"))
	a.prefix, a.suffix = doc[:i], doc[i+len("@PAYLOAD@"):]
	return a
}

func (a *bigAttestation) payloadSize() int64 {
	return int64(len(a.head) + a.blocks*len(a.block) + len(bigTail))
}

func (a *bigAttestation) payload() io.Reader {
	return io.MultiReader(bytes.NewReader(a.head), &repeatReader{b: a.block, n: a.blocks}, strings.NewReader(bigTail))
}

// size is the bundle's size.
func (a *bigAttestation) size() int64 {
	return int64(len(a.prefix) + len(a.suffix) + base64.StdEncoding.EncodedLen(int(a.payloadSize())))
}

// source is the bundle as a source that counts its reads; second, when
// set, gives the bundle's reads after the first.
func (a *bigAttestation) source(opened *int, second func() io.Reader) verify.BundleSource {
	return verify.BundleSource{Source: "big", Size: a.size(), Open: func() (io.ReadCloser, error) {
		*opened++
		if *opened >= 2 && second != nil {
			return io.NopCloser(second()), nil
		}
		return io.NopCloser(a.reader(a.prefix, a.suffix)), nil
	}}
}

func (a *bigAttestation) reader(prefix, suffix []byte) io.Reader {
	return io.MultiReader(bytes.NewReader(prefix), &base64Reader{r: a.payload()}, bytes.NewReader(suffix))
}

// repeatReader reads b n times.
type repeatReader struct {
	b   []byte
	n   int
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, r.b[r.off:])
	if r.off += k; r.off == len(r.b) {
		r.off, r.n = 0, r.n-1
	}
	return k, nil
}

// base64Reader encodes r in base64 as it is read.
type base64Reader struct {
	r   io.Reader
	in  [3 << 12]byte
	out []byte
	buf [4 << 12]byte
	eof bool
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		n, err := io.ReadFull(b.r, b.in[:])
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			b.eof = true
		default:
			return 0, err
		}
		base64.StdEncoding.Encode(b.buf[:], b.in[:n])
		b.out = b.buf[:base64.StdEncoding.EncodedLen(n)]
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// TestLargeAttestationMemory: an attestation of about 80 MB, in a bundle
// over the limit of bundles held in memory, verifies without its
// predicate in two reads, allocating a fraction of its size (the bytes it
// allocates bound what it holds); asked for the predicate, it is refused
// by that limit. The test is about bytes allocated, not time.
func TestLargeAttestationMemory(t *testing.T) {
	a := newBigAttestation(t, 1600) // 1600 × 48 KiB: 80 MB of statement
	if a.size() <= oci.MaxBundleSize {
		t.Fatalf("bundle of %d bytes, want one over %d", a.size(), oci.MaxBundleSize)
	}
	p := verify.AttestationPolicy{Authority: a.authority, PredicateType: attest.PredicateCycloneDX, WithoutPredicate: true}
	opened := 0
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := verify.BlobAttestation(a.source(&opened, nil), verify.Artifact{Digest: digestA}, p)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if opened != 2 {
		t.Errorf("the bundle was read %d times, want 2", opened)
	}
	v := res.Verified[0]
	if v.Statement.Predicate != nil || v.Payload != nil || v.Statement.PredicateType != attest.PredicateCycloneDX {
		t.Errorf("got predicate %d bytes, payload %d bytes, type %s; want the statement without its predicate", len(v.Statement.Predicate), len(v.Payload), v.Statement.PredicateType)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("payload %d bytes, bundle %d bytes: %d bytes allocated", a.payloadSize(), a.size(), allocated)
	if limit := uint64(8 << 20); allocated > limit {
		t.Errorf("verifying allocated %d bytes, want at most %d (the payload is %d bytes)", allocated, limit, a.payloadSize())
	}

	p.WithoutPredicate = false
	_, err = verify.BlobAttestation(a.source(new(int), nil), verify.Artifact{Digest: digestA}, p)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("bundle is %d bytes, over the %d byte limit", a.size(), oci.MaxBundleSize)) {
		t.Errorf("with the predicate: %v, want the bundle limit", err)
	}
}

// TestLargeAttestationChanged: a bundle read twice must read the same
// twice but for its payload's characters; a payload that changed with
// its length is the bundle of the second read, whose signature fails.
func TestLargeAttestationChanged(t *testing.T) {
	a := newBigAttestation(t, 40) // 2 MB
	p := verify.AttestationPolicy{Authority: a.authority, PredicateType: attest.PredicateCycloneDX, WithoutPredicate: true}
	other := newBigAttestation(t, 40)
	longer := newBigAttestation(t, 41)
	for _, tc := range []struct {
		name   string
		second func() io.Reader
		step   verify.Step
		want   string
	}{
		{"another signature", func() io.Reader { return a.reader(other.prefix, other.suffix) }, verify.StepBundle, "the bundle changed between its two reads"},
		{"a longer payload", func() io.Reader { return longer.reader(a.prefix, a.suffix) }, verify.StepBundle, "the bundle changed between its two reads"},
		{"cut short", func() io.Reader { return io.LimitReader(a.reader(a.prefix, a.suffix), a.size()/2) }, verify.StepBundle, "malformed bundle: invalid JSON: unexpected end of input"},
		{"another payload of the same length", func() io.Reader {
			b := *a
			b.block = bytes.Replace(a.block, []byte("pkg-00001"), []byte("pkg-99999"), 1)
			return b.reader(a.prefix, a.suffix)
		}, verify.StepSignature, "does not verify with key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opened := 0
			_, err := verify.BlobAttestation(a.source(&opened, tc.second), verify.Artifact{Digest: digestA}, p)
			se, ok := firstRejection(err)
			if !ok || se.Step != tc.step || !strings.Contains(se.Err.Error(), tc.want) {
				t.Fatalf("got %v, want a rejection at %s: %s", err, tc.step, tc.want)
			}
			// Within the in-memory limits, a rejection is the in-memory
			// path's: a third read.
			if opened != 3 && tc.step != verify.StepBundle {
				t.Errorf("read %d times, want 3", opened)
			}
		})
	}
	// Over the limit of a streamed bundle, it is not opened.
	src := verify.BundleSource{Source: "huge", Size: oci.MaxStreamedBundleSize + 1, Open: func() (io.ReadCloser, error) {
		t.Error("the bundle was opened")
		return nil, io.EOF
	}}
	_, err := verify.BlobAttestation(src, verify.Artifact{Digest: digestA}, p)
	if se, ok := firstRejection(err); !ok || !strings.Contains(se.Error(), fmt.Sprintf("over the %d byte limit", oci.MaxStreamedBundleSize)) {
		t.Errorf("huge bundle: %v", err)
	}
}

func firstRejection(err error) (*verify.SignatureError, bool) {
	var nv *verify.NoValidSignatureError
	if !errors.As(err, &nv) || len(nv.Rejected) == 0 {
		return nil, false
	}
	return nv.Rejected[0], true
}

// TestDigestOnlyRejections: the path of an attestation too large for
// memory, on its own, refuses a payload changed at its start, middle or
// end, a changed signature and a statement about another artifact, with
// the step and message of the in-memory path.
// TestDigestOnlyLeavesSmallBundles: a bundle the in-memory path can read
// gets that path's verdict, even when the streamed path would refuse it
// for its own bounds (here over 16 MiB outside the payload, as JSON
// whitespace), so --output text and --output json agree.
func TestDigestOnlyLeavesSmallBundles(t *testing.T) {
	kp, ks := keyedPair(t)
	good := signRaw(t, kp, attest.PayloadType, []byte(stmt(digestA, `{}`)), sign.Options{})
	padded := append([]byte("{"+strings.Repeat(" ", 17<<20)), good[1:]...)
	if full := verify.VerifyStatementInMemory(digestA, padded, ks); full.Err != nil {
		t.Fatalf("in memory: %v", full.Err)
	}
	if got := verify.VerifyStatementWithoutPredicate(digestA, padded, ks); got.Err != nil {
		t.Fatalf("without the predicate: step %q: %v, want it verified as in memory", got.Step, got.Err)
	}
}

func TestDigestOnlyRejections(t *testing.T) {
	flipAt := func(t *testing.T, b []byte, at func(n int) int) []byte {
		return lite.EditJSON(t, b, func(m map[string]any) {
			env := m["dsseEnvelope"].(map[string]any)
			raw, err := base64.StdEncoding.DecodeString(env["payload"].(string))
			if err != nil {
				t.Fatal(err)
			}
			raw[at(len(raw))] ^= 1
			env["payload"] = base64.StdEncoding.EncodeToString(raw)
		})
	}
	// changed and resigned are the steps that refuse a changed payload and
	// signature: a log entry binds both, a timestamp the signature.
	check := func(t *testing.T, a verify.Authority, kp sgsign.Keypair, opts sign.Options, changed, resigned verify.Step) {
		good := signRaw(t, kp, attest.PayloadType, []byte(stmt(digestA, `{"bomFormat":"CycloneDX","components":[{"name":"x"}]}`)), opts)
		for _, tc := range []struct {
			name   string
			bundle []byte
			step   verify.Step
		}{
			{"payload changed at its start", flipAt(t, good, func(int) int { return 2 }), changed},
			{"payload changed in its middle", flipAt(t, good, func(n int) int { return n / 2 }), changed},
			{"payload changed at its end", flipAt(t, good, func(n int) int { return n - 2 }), changed},
			{"another signature", tamperSignature(t, good), resigned},
			{"another subject", signRaw(t, kp, attest.PayloadType, []byte(stmt(digestB, `{}`)), opts), verify.StepSubject},
		} {
			t.Run(tc.name, func(t *testing.T) {
				full := verify.VerifyStatementInMemory(digestA, tc.bundle, a)
				own := verify.VerifyStatementDigestOnly(digestA, tc.bundle, a).Own
				if full.Step != tc.step {
					t.Fatalf("in memory: step %q (%v), want %q", full.Step, full.Err, tc.step)
				}
				if own.Step != full.Step || own.Err == nil || own.Err.Error() != full.Err.Error() {
					t.Errorf("streamed: step %q: %v\nin memory: step %q: %v", own.Step, own.Err, full.Step, full.Err)
				}
			})
		}
	}
	t.Run("key", func(t *testing.T) {
		kp, ks := keyedPair(t)
		check(t, ks, kp, sign.Options{}, verify.StepSignature, verify.StepSignature)
	})
	t.Run("keyless", func(t *testing.T) {
		st := startStack(t)
		k, err := verify.NewKeyless(st.tr, verify.Identity{Issuer: st.issuer, Subject: "dev@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		kp, opts := st.keyless(t, "dev@example.com", true, true)
		check(t, k, kp, opts, verify.StepLog, verify.StepLog)
		t.Run("timestamp only", func(t *testing.T) {
			tk, err := k.TimestampOnly()
			if err != nil {
				t.Fatal(err)
			}
			kp, opts := st.keyless(t, "dev@example.com", false, true)
			check(t, tk, kp, opts, verify.StepSignature, verify.StepTimestamp)
		})
	})
}

// keyedPair is an ECDSA P-256 key signer and the verifier of its key.
func keyedPair(t *testing.T) (sgsign.Keypair, *verify.Keys) {
	t.Helper()
	s := genKey(t, keys.ECDSAP256)
	kp, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verify.NewKeys(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return kp, ks
}
