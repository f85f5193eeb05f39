package verify_test

import (
	"crypto"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/keys"
	"hallmark.dev/verify"
)

// rootWithout returns the stack's trusted root without the named lists
// ("tlogs", "timestampAuthorities").
func (st *stack) rootWithout(t *testing.T, lists ...string) *root.TrustedRoot {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(st.srv.TrustedRoot(), &m); err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		delete(m, l)
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
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
