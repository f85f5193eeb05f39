package verify_test

import (
	"bytes"
	"crypto"
	"errors"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
	"hallmark.dev/tlog"
	"hallmark.dev/verify"
)

// rootWithout returns the stack's trusted root without the named lists
// ("tlogs", "timestampAuthorities").
func (st *stack) rootWithout(t *testing.T, lists ...string) *root.TrustedRoot {
	t.Helper()
	data := lite.EditJSON(t, st.srv.TrustedRoot(), func(m map[string]any) {
		for _, l := range lists {
			delete(m, l)
		}
	})
	tr, err := verify.ParseTrustedRoot(data)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// NewAuthority refuses a config that contradicts itself or leaves out
// what the verification needs, and names the unsafe choice.
func TestNewAuthority(t *testing.T) {
	st := startStack(t)
	pub := genKey(t, keys.ECDSAP256).Public()
	id := verify.Identity{Issuer: st.issuer, Subject: "dev@example.com"}
	noTSA := st.rootWithout(t, "timestampAuthorities")
	for _, tc := range []struct {
		name string
		cfg  verify.AuthorityConfig
		want error // nil: built
	}{
		{"key", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}}, nil},
		{"key under a root", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, TrustedRoot: st.tr}, nil},
		{"key, timestamp only", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, TrustedRoot: st.tr, InsecureIgnoreTlogUnsafe: true, RequireSignedTimestamps: true}, nil},
		{"keyless", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: st.tr}, nil},
		{"keyless, timestamp only", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: st.tr, InsecureIgnoreTlogUnsafe: true}, nil},

		{"nothing", verify.AuthorityConfig{TrustedRoot: st.tr}, verify.ErrNoAuthority},
		{"key and identity", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, Identities: []verify.Identity{id}, TrustedRoot: st.tr}, verify.ErrKeysAndIdentities},
		{"keyless without a root", verify.AuthorityConfig{Identities: []verify.Identity{id}}, verify.ErrKeylessNoRoot},
		{"subject exact and regexp", verify.AuthorityConfig{Identities: []verify.Identity{{Issuer: st.issuer, Subject: "a", SubjectRegexp: "a"}}, TrustedRoot: st.tr}, verify.ErrSubjectChoice},
		{"no issuer", verify.AuthorityConfig{Identities: []verify.Identity{{Subject: "a"}}, TrustedRoot: st.tr}, verify.ErrIssuerChoice},
		{"signed timestamps for keys without a root", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, RequireSignedTimestamps: true}, verify.ErrSignedTimestampsNoRoot},
		{"signed timestamps with the log required, keyed", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, TrustedRoot: st.tr, RequireSignedTimestamps: true}, verify.ErrSignedTimestampsWithTlog},
		{"signed timestamps with the log required, keyless", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: st.tr, RequireSignedTimestamps: true}, verify.ErrSignedTimestampsWithTlog},
		{"no log entry and no timestamp authority, keyed", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, TrustedRoot: noTSA, InsecureIgnoreTlogUnsafe: true}, verify.ErrNoTimestampAuthority},
		{"no log entry and no timestamp authority, keyless", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: noTSA, InsecureIgnoreTlogUnsafe: true}, verify.ErrNoTimestampAuthority},
		{"keyless, SCT waived", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: st.tr, InsecureIgnoreSCTUnsafe: true}, nil},
		{"SCT waived for keys", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, TrustedRoot: st.tr, InsecureIgnoreSCTUnsafe: true}, verify.ErrIgnoreSCTWithKeys},
		{"witnessed", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: st.tr, WitnessPolicy: &tlog.Policy{}}, nil},
		{"witnesses without a root", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, WitnessPolicy: &tlog.Policy{}}, verify.ErrWitnessesNeedLog},
		{"witnesses with the log waived", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: st.tr, InsecureIgnoreTlogUnsafe: true, WitnessPolicy: &tlog.Policy{}}, verify.ErrWitnessesNeedLog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := verify.NewAuthority(tc.cfg)
			if tc.want == nil {
				if err != nil || a == nil {
					t.Fatalf("got %v, %v; want an authority", a, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || a != nil {
				t.Fatalf("got %v, %v; want %v", a, err, tc.want)
			}
		})
	}
}

// A trusted root that lists no transparency log cannot vouch for a log
// entry: a bundle without one must not verify unless the verifier waived
// the log (D14, as cosign and sigstore-java), keyed and keyless alike; and
// when it was waived the signer says the log was not checked.
func TestNoTransparencyLog(t *testing.T) {
	st := startStack(t)
	noLog := st.rootWithout(t, "tlogs")
	data := []byte("a release")
	id := verify.Identity{Issuer: st.issuer, Subject: "dev@example.com"}

	kp, opts := st.keyless(t, "dev@example.com", false, true)
	keyless, err := sign.Blob(t.Context(), kp, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	keyed, pub, trusted := st.timestampedWithKey(t, data)
	k, err := verify.NewKeyless(noLog, id)
	if err != nil {
		t.Fatal(err)
	}
	blob := func(a verify.Authority, b []byte) (*verify.BlobResult, error) {
		return verify.Blob("b.sigstore.json", b, verify.Artifact{Content: bytes.NewReader(data)}, verify.BlobPolicy{Authority: a})
	}
	for _, tc := range []struct {
		name   string
		a      verify.Authority
		bundle []byte
	}{
		{"keyless", k, keyless},
		{"keyed", trusted.WithTrustedRoot(noLog), keyed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := blob(tc.a, tc.bundle)
			var se *verify.SignatureError
			if !errors.As(err, &se) || se.Step != verify.StepLog || !errors.Is(err, verify.ErrNoTransparencyLog) {
				t.Fatalf("got %v, want a log step failure with ErrNoTransparencyLog", err)
			}
		})
	}

	for _, tc := range []struct {
		name   string
		cfg    verify.AuthorityConfig
		bundle []byte
	}{
		{"keyless", verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: noLog}, keyless},
		{"keyed", verify.AuthorityConfig{Keys: []crypto.PublicKey{pub}, TrustedRoot: noLog}, keyed},
	} {
		t.Run(tc.name+" config", func(t *testing.T) {
			if a, err := verify.NewAuthority(tc.cfg); !errors.Is(err, verify.ErrNoTransparencyLog) || a != nil {
				t.Fatalf("got %v, %v; want ErrNoTransparencyLog", a, err)
			}
			tc.cfg.InsecureIgnoreTlogUnsafe = true
			a, err := verify.NewAuthority(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := blob(a, tc.bundle)
			if err != nil {
				t.Fatalf("with the log waived: %v", err)
			}
			if !res.Signer.LogSkipped || res.Signer.LogEntries != 0 {
				t.Errorf("signer %+v, want the log skipped by request", res.Signer)
			}
		})
	}
	// Under a root with a log, a waived log is reported skipped too.
	a, err := verify.NewAuthority(verify.AuthorityConfig{Identities: []verify.Identity{id}, TrustedRoot: st.tr, InsecureIgnoreTlogUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := blob(a, keyless); err != nil || !res.Signer.LogSkipped {
		t.Errorf("got %+v, %v; want verified with the log skipped", res, err)
	}
}
