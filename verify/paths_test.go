package verify_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/attest"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// The in-memory and streamed paths of attestation verification must give
// the same verdict, fail at the same step, and return the same statement,
// payload and signer, for every bundle: good ones and tampered ones, with
// each kind of authority.

// signRaw signs any payload in a DSSE envelope (sign.Statement refuses
// payloads that are not strict statements).
func signRaw(t testing.TB, k sgsign.Keypair, payloadType string, payload []byte, opts sign.Options) []byte {
	t.Helper()
	bo := opts.BundleOptions
	bo.Context = context.Background()
	pb, err := sgsign.Bundle(&sgsign.DSSEData{Data: payload, PayloadType: payloadType}, k, bo)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	out, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func stmt(digest, predicate string) string {
	return `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"` + digest[7:] + `"}}],"predicateType":"https://cyclonedx.org/bom","predicate":` + predicate + `}`
}

type pathCase struct {
	name    string
	bundle  []byte
	want    verify.Step // "" for verified
	prehash bool        // the streamed path checks the signature over the PAE digest
}

// pathCases signs the statements and tampers with the bundles that both
// paths must judge alike. keyFingerprint is the DSSE key ID of the signer.
func pathCases(t *testing.T, k sgsign.Keypair, opts sign.Options, prehash bool) []pathCase {
	t.Helper()
	s := func(payload string) []byte { return signRaw(t, k, attest.PayloadType, []byte(payload), opts) }
	// A payload whose base64 has padding, for the unpadded case.
	goodStmt := stmt(digestA, `{"bomFormat":"CycloneDX","components":[{"name":"x","version":"1"}]}`)
	for len(goodStmt)%3 != 1 {
		goodStmt = strings.Replace(goodStmt, `"bomFormat"`, ` "bomFormat"`, 1)
	}
	good := s(goodStmt)
	var many []string
	for i := range 1025 {
		many = append(many, fmt.Sprintf(`{"name":"s%d","digest":{"sha256":"%s"}}`, i, digestA[7:]))
	}
	fp, err := dsse.SHA256KeyID(k.GetPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	envelope := func(f func(env map[string]any)) []byte {
		return lite.EditJSON(t, good, func(m map[string]any) { f(m["dsseEnvelope"].(map[string]any)) })
	}
	return []pathCase{
		{"good", good, "", prehash},
		{"null predicate", s(stmt(digestA, `null`)), "", prehash},
		{"another subject", s(stmt(digestB, `{}`)), verify.StepSubject, false},
		{"tampered payload", tamperPayload(t, good), "", false},
		{"tampered signature", tamperSignature(t, good), "", false},
		{"predicate not an object", s(stmt(digestA, `[1]`)), verify.StepPayload, prehash},
		{"unknown field", s(strings.Replace(stmt(digestA, `{}`), `"predicateType"`, `"extra":1,"predicateType"`, 1)), verify.StepPayload, prehash},
		{"not JSON", s(`not json`), verify.StepSignature, prehash},
		{"subject not a list", s(`{"_type":"https://in-toto.io/Statement/v1","subject":"x","predicateType":"p"}`), verify.StepSignature, prehash},
		{"1025 subjects", s(`{"_type":"https://in-toto.io/Statement/v1","subject":[` + strings.Join(many, ",") + `],"predicateType":"p","predicate":{}}`), verify.StepSignature, prehash},
		{"non-hex digest of another algorithm", s(strings.Replace(stmt(digestA, `{}`), `"digest":{`, `"digest":{"dirHash":"zz",`, 1)), verify.StepSignature, prehash},
		{"payload type", signRaw(t, k, "text/plain", []byte(stmt(digestA, `{}`)), opts), verify.StepPayload, false},
		{"two signatures", envelope(func(env map[string]any) {
			sigs := env["signatures"].([]any)
			env["signatures"] = append(sigs, sigs[0])
		}), "", false},
		{"wrong key ID", envelope(func(env map[string]any) {
			env["signatures"].([]any)[0].(map[string]any)["keyid"] = "SHA256:bogus"
		}), "", false},
		{"right key ID", envelope(func(env map[string]any) {
			env["signatures"].([]any)[0].(map[string]any)["keyid"] = fp
		}), "", prehash},
		{"escaped payload", func() []byte {
			i := strings.Index(string(good), `"payload":"`) + len(`"payload":"`)
			return []byte(fmt.Sprintf(`%s\u%04x%s`, good[:i], good[i], good[i+1:]))
		}(), "", false},
		{"unpadded payload, which protobuf reads", envelope(func(env map[string]any) {
			raw, err := base64.StdEncoding.DecodeString(env["payload"].(string))
			if err != nil {
				t.Fatal(err)
			}
			env["payload"] = base64.RawStdEncoding.EncodeToString(raw)
		}), "", false},
		{"envelope under its protobuf name", lite.EditJSON(t, good, func(m map[string]any) {
			m["dsse_envelope"] = m["dsseEnvelope"]
			delete(m, "dsseEnvelope")
		}), "", false},
		{"payload twice", []byte(strings.Replace(string(good), `"dsseEnvelope":{`, `"dsseEnvelope":{"payload":"e30=",`, 1)), verify.StepBundle, false},
		{"message signature", func() []byte {
			b, err := sign.Blob(context.Background(), k, []byte("blob"), opts)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}(), verify.StepBundle, false},
		{"truncated", good[:len(good)/2], verify.StepBundle, false},
	}
}

// comparePaths checks that both paths agree on every case. A want of ""
// is not checked (tampering fails at a step that depends on the
// authority); the paths must agree all the same.
func comparePaths(t *testing.T, a verify.Authority, cases []pathCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			small := verify.VerifyStatementInMemory(digestA, c.bundle, a)
			if c.want != "" && small.Step != c.want {
				t.Errorf("in memory: step %q (%v), want %q", small.Step, small.Err, c.want)
			}
			if c.name == "good" && small.Step != "" {
				t.Fatalf("in memory: rejected at %s: %v", small.Step, small.Err)
			}
			// The keyless cached path (warm caches) and sigstore-go's
			// full verification agree.
			if k, ok := a.(*verify.Keyless); ok {
				full := verify.VerifyStatementInMemory(digestA, c.bundle, k.FullOnly())
				if full.Step != small.Step {
					t.Errorf("full verification step %q (%v), with the cached path %q (%v)", full.Step, full.Err, small.Step, small.Err)
				}
			}
			for _, size := range []bool{true, false} {
				large := verify.VerifyStatementStreamed(digestA, c.bundle, a, size)
				if large.Step != small.Step {
					t.Errorf("size known %v: streamed step %q (%v), in memory %q (%v)", size, large.Step, large.Err, small.Step, small.Err)
				}
				if c.prehash && !large.Prehashed {
					t.Errorf("size known %v: the streamed path did not check over the PAE digest", size)
				}
				if diff := cmp.Diff(small.Statement, large.Statement); diff != "" {
					t.Errorf("statement (-in memory +streamed):\n%s", diff)
				}
				if string(small.Payload) != string(large.Payload) {
					t.Errorf("payloads differ")
				}
				if diff := cmp.Diff(small.Signer, large.Signer); diff != "" {
					t.Errorf("signer (-in memory +streamed):\n%s", diff)
				}
			}
			compareDigestOnly(t, a, c, small)
			t.Logf("step %q: %v", small.Step, small.Err)
		})
	}
}

// compareDigestOnly checks the path of a large attestation verified
// without its payload in memory against the in-memory verdict small: it
// accepts what the in-memory path accepts, with the same statement (less
// its predicate) and signer, when the signature is checked over the PAE
// digest, and leaves the bundle to the in-memory path otherwise; the
// rejection it gives on its own (for bundles too large for the in-memory
// path) is at the same step, but for a statement that fails hallmark's
// strict check: the in-memory path may fail sigstore-go's lenient one
// first, at the signature step, or its subject checks, on fields the
// strict check did not get to; the path on its own rejects it after the
// signature and identity checks, at the payload step.
func compareDigestOnly(t *testing.T, a verify.Authority, c pathCase, small verify.Outcome) {
	t.Helper()
	dig := verify.VerifyStatementDigestOnly(digestA, c.bundle, a)
	if dig.Opened > 2 {
		t.Errorf("digest only: the bundle was read %d times, want at most 2", dig.Opened)
	}
	if c.prehash && dig.Undecided && small.Step == "" {
		t.Fatalf("digest only: left a bundle the in-memory path accepts to it: %v", dig.Err)
	}
	if !dig.Undecided {
		if dig.Step != small.Step {
			t.Fatalf("digest only: step %q (%v), in memory %q (%v)", dig.Step, dig.Err, small.Step, small.Err)
		}
		if dig.Step == "" {
			want := *small.Statement
			want.Predicate = nil
			if diff := cmp.Diff(&want, dig.Statement); diff != "" {
				t.Errorf("digest only: statement (-in memory +digest only):\n%s", diff)
			}
			if diff := cmp.Diff(small.Signer, dig.Signer); diff != "" {
				t.Errorf("digest only: signer (-in memory +digest only):\n%s", diff)
			}
		}
	}
	own := dig.Own
	if !c.prehash || (own.Step == "" && own.Err == nil && dig.Undecided) {
		return // left to the in-memory path before any check of its own
	}
	lenientFailed := small.Step == verify.StepSignature && strings.Contains(small.Err.Error(), "parsing in-toto statement")
	switch {
	case (own.Step == "") != (small.Step == ""):
		t.Errorf("digest only, on its own: step %q (%v), in memory %q (%v)", own.Step, own.Err, small.Step, small.Err)
	case own.Step != small.Step && !lenientFailed && (small.Step != verify.StepSignature || own.Step != verify.StepPayload):
		t.Errorf("digest only, on its own: step %q (%v), in memory %q (%v)", own.Step, own.Err, small.Step, small.Err)
	}
}

func TestPathsKeys(t *testing.T) {
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.ECDSAP384, keys.ECDSAP521, keys.RSA3072, keys.Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			s := genKey(t, alg)
			k, err := sign.NewKeySigner(s)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := verify.NewKeys(s.Public())
			if err != nil {
				t.Fatal(err)
			}
			comparePaths(t, ks, pathCases(t, k, sign.Options{}, alg != keys.Ed25519))
			// Another key: rejected alike.
			other, err := verify.NewKeys(genKey(t, alg).Public())
			if err != nil {
				t.Fatal(err)
			}
			comparePaths(t, other, []pathCase{{"another key", pathCases(t, k, sign.Options{}, false)[0].bundle, verify.StepSignature, false}})
		})
	}
}

// stack is the whole trust stack in process, with what signing needs.
type stack struct {
	srv    *server.Server
	tr     *root.TrustedRoot
	sc     *root.SigningConfig
	issuer string
}

// startStack starts the whole trust stack (CA, Rekor v2 log, TSA, dev
// OIDC issuer) on loopback.
func startStack(t testing.TB) *stack {
	t.Helper()
	s := testkit.StartStack(t, nil)
	return &stack{srv: s.Server, tr: s.TrustedRoot, sc: s.SigningConfig, issuer: s.Issuer}
}

// keyless returns an ephemeral key and the options to sign with it
// keylessly as subject.
func (st *stack) keyless(t testing.TB, subject string, log, timestamp bool) (sgsign.Keypair, sign.Options) {
	t.Helper()
	token, err := st.srv.DevIssuer().Mint(subject, "sigstore", 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.EphemeralOptions(t, sign.Services{Config: st.sc, IDToken: token, Log: log, Timestamp: timestamp})
}

// timestampedWithKey signs data with a new P-256 key, timestamped by the
// stack's TSA and not logged, and returns the bundle, the public key, and
// the key as a trusted key.
func (st *stack) timestampedWithKey(t *testing.T, data []byte) ([]byte, crypto.PublicKey, *verify.Keys) {
	t.Helper()
	s := genKey(t, keys.ECDSAP256)
	kp, err := sign.NewKeySigner(s)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := sign.Services{Config: st.sc, Key: s.Public(), Timestamp: true}.Options(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := sign.Blob(t.Context(), kp, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := verify.NewKeys(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return b, s.Public(), ks
}

func TestPathsKeyless(t *testing.T) {
	st := startStack(t)
	id := verify.Identity{Issuer: st.issuer, Subject: "dev@example.com"}
	k, err := verify.NewKeyless(st.tr, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("log and timestamp", func(t *testing.T) {
		kp, opts := st.keyless(t, "dev@example.com", true, true)
		cases := pathCases(t, kp, opts, true)
		good := cases[0].bundle
		cases = append(cases, pathCase{"tampered checkpoint", lite.EditJSON(t, good, func(m map[string]any) {
			e := m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
			cp := e["inclusionProof"].(map[string]any)["checkpoint"].(map[string]any)
			lines := strings.SplitN(cp["envelope"].(string), "\n", 3)
			lines[1] = "999"
			cp["envelope"] = strings.Join(lines, "\n")
		}), verify.StepLog, true})
		comparePaths(t, k, cases)
		other, err := verify.NewKeyless(st.tr, verify.Identity{Issuer: st.issuer, Subject: "mallory@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		comparePaths(t, other, []pathCase{
			{"another identity", good, verify.StepIdentity, true},
			{"another identity, predicate not an object", cases[5].bundle, verify.StepIdentity, true},
			{"another identity, not JSON", cases[7].bundle, verify.StepSignature, true},
		})
	})
	t.Run("timestamp only", func(t *testing.T) {
		kp, opts := st.keyless(t, "dev@example.com", false, true)
		tk, err := k.TimestampOnly()
		if err != nil {
			t.Fatal(err)
		}
		comparePaths(t, tk, pathCases(t, kp, opts, true))
		// Without a log entry, the authority that requires one refuses.
		comparePaths(t, k, []pathCase{{"no log entry", pathCases(t, kp, opts, true)[0].bundle, verify.StepLog, false}})
	})
}

func TestPathsKeysWithLog(t *testing.T) {
	st := startStack(t)
	kp, ks := keyedPair(t)
	for _, c := range []struct {
		name           string
		log, timestamp bool
		authority      func() verify.Authority
	}{
		{"log", true, false, func() verify.Authority { return ks.WithTrustedRoot(st.tr) }},
		{"timestamp only", false, true, func() verify.Authority {
			tk, err := ks.WithTrustedRoot(st.tr).TimestampOnly()
			if err != nil {
				t.Fatal(err)
			}
			return tk
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts, err := sign.Services{Config: st.sc, Key: kp.GetPublicKey(), Log: c.log, Timestamp: c.timestamp}.Options(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			comparePaths(t, c.authority(), pathCases(t, kp, opts, true))
		})
	}
}

// TestStreamedSizeClaim: the payload buffer is sized from the claimed
// size, bounded by the bundle limit; a wrong claim costs nothing else.
func TestStreamedSizeClaim(t *testing.T) {
	k, err := sign.NewKeySigner(genKey(t, keys.ECDSAP256))
	if err != nil {
		t.Fatal(err)
	}
	good := signRaw(t, k, attest.PayloadType, []byte(stmt(digestA, `{}`)), sign.Options{})
	for _, size := range []int64{1 << 50, 1, 0, -1} {
		_, payload, err := verify.ReadStreamedBundle(strings.NewReader(string(good)), size)
		if err != nil || string(payload) != stmt(digestA, `{}`) {
			t.Errorf("claimed size %d: %v", size, err)
		}
	}
}

// FuzzReadStreamedBundle: the streaming reader makes of any input what
// ParseBundle makes of it: both reject it, or both accept it and give the
// same bundle (with the payload in the returned buffer), unless the
// reader asks for a whole read (a payload not in canonical base64).
func FuzzReadStreamedBundle(f *testing.F) {
	for _, b := range bundleSeeds(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"dsseEnvelope":{"payload":"e30=","payloadType":"x","signatures":[]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30","payloadType":"x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := verify.ParseBundle(data)
		for _, size := range []int64{-1, int64(len(data))} {
			got, payload, err := verify.ReadStreamedBundle(strings.NewReader(string(data)), size)
			if err != nil {
				if wantErr == nil && !strings.Contains(err.Error(), "canonical base64") {
					t.Fatalf("streamed read rejects what ParseBundle accepts: %v", err)
				}
				continue
			}
			if wantErr != nil {
				t.Fatalf("streamed read accepts what ParseBundle rejects (%v)", wantErr)
			}
			if payload != nil && string(payload) != string(want.GetDsseEnvelope().GetPayload()) {
				t.Fatalf("payload differs")
			}
			a, err := protojson.Marshal(want.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			b, err := protojson.Marshal(got.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			if string(a) != string(b) {
				t.Fatalf("bundles differ:\n%s\n%s", a, b)
			}
		}
	})
}

// TestBundleSourceOverLimit: a bundle source whose size is over the
// bundle limit is refused by its size, without being opened.
func TestBundleSourceOverLimit(t *testing.T) {
	src := verify.BundleSource{Source: "big", Size: 200 << 20, Open: func() (io.ReadCloser, error) {
		t.Error("the bundle was opened")
		return io.NopCloser(strings.NewReader("")), nil
	}}
	_, err := verify.AttestationsFrom(digestA, nil, []verify.BundleSource{src}, verify.AttestationPolicy{Authority: newFixture(t).keys, PredicateType: "p"})
	var nv *verify.NoValidSignatureError
	if !errors.As(err, &nv) || len(nv.Rejected) != 1 {
		t.Fatalf("got %v, want one rejection", err)
	}
	if got, want := nv.Rejected[0].Error(), "big: bundle check failed: bundle is 209715200 bytes, over the 67108864 byte limit"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
