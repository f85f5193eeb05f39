package setup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

func TestNewSigner(t *testing.T) {
	dir := t.TempDir()
	kp := testkit.NewKeyPair(t, dir, "cosign", keys.ECDSAP256, "pw")
	tokenFile := filepath.Join(dir, "token.txt")
	if err := os.WriteFile(tokenFile, []byte("a.b.c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	asked := 0
	password := func(pw string) func() ([]byte, error) {
		return func() ([]byte, error) { asked++; return []byte(pw), nil }
	}
	for _, tc := range []struct {
		name  string
		s     Signing
		want  error  // errors.Is; nil with msg "" means built
		msg   string // a part of the error
		asked int    // times the password was asked for
	}{
		{name: "key alone", s: Signing{KeyPath: kp.KeyPath, Password: password("pw")}, asked: 1},
		{name: "wrong password", s: Signing{KeyPath: kp.KeyPath, Password: password("no")}, want: keys.ErrWrongPassword,
			msg: "cannot decrypt " + kp.KeyPath + ": wrong password or corrupted key", asked: 1},
		{name: "key and token: no password asked", s: Signing{KeyPath: kp.KeyPath, Password: password("pw"), IDToken: "a.b.c"}, want: sign.ErrKeyAndToken},
		{name: "key and token file", s: Signing{KeyPath: kp.KeyPath, Password: password("pw"), IDToken: tokenFile}, want: sign.ErrKeyAndToken},
		{name: "neither", s: Signing{}, want: sign.ErrNoSigner},
		{name: "keyless without services", s: Signing{IDToken: "a.b.c"}, want: sign.ErrKeylessNoConfig},
		{name: "token neither JWT nor file", s: Signing{IDToken: filepath.Join(dir, "missing")}, msg: "identity token: not a JWT and not a readable file"},
		{name: "server and files", s: Signing{IDToken: "a.b.c", Server: "https://hallmark.example", SigningConfigPath: "sc.json"}, want: ErrServerAndFiles},
		{name: "plain HTTP off loopback", s: Signing{IDToken: "a.b.c", Server: "http://hallmark.example"}, want: ErrPlainHTTP},
		{name: "missing key file", s: Signing{KeyPath: filepath.Join(dir, "missing.key"), Password: password("pw")}, msg: "read key: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked = 0
			s, err := NewSigner(context.Background(), tc.s)
			switch {
			case tc.want == nil && tc.msg == "":
				if err != nil || s == nil || s.Keypair == nil {
					t.Fatalf("got %v, %v; want a signer", s, err)
				}
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			case err == nil || !strings.Contains(err.Error(), tc.msg):
				t.Fatalf("got %v, want an error with %q", err, tc.msg)
			}
			if asked != tc.asked {
				t.Errorf("password asked %d times, want %d", asked, tc.asked)
			}
		})
	}
}

func TestNewAuthority(t *testing.T) {
	dir := t.TempDir()
	kp := testkit.NewKeyPair(t, dir, "cosign", keys.ECDSAP256, "pw")
	badRoot := filepath.Join(dir, "root.json")
	if err := os.WriteFile(badRoot, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := verify.Identity{Issuer: "https://issuer.example", Subject: "dev@example.com"}
	for _, tc := range []struct {
		name string
		a    Authority
		want error
		msg  string
	}{
		{name: "key", a: Authority{KeyPath: kp.PubPath}},
		{name: "key and identity, before any file is read", a: Authority{KeyPath: filepath.Join(dir, "missing.pub"), Identity: id}, want: verify.ErrKeysAndIdentities},
		{name: "missing key", a: Authority{KeyPath: filepath.Join(dir, "missing.pub")}, msg: "read key: "},
		{name: "not a key", a: Authority{KeyPath: badRoot}, msg: "load public key " + badRoot},
		{name: "bad trusted root", a: Authority{Identity: id, TrustedRootPath: badRoot}, msg: badRoot + ": invalid trusted root"},
		{name: "identity without a root", a: Authority{Identity: id}, want: verify.ErrKeylessNoRoot},
		{name: "nothing", a: Authority{}, want: verify.ErrNoAuthority},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAuthority(tc.a)
			switch {
			case tc.want == nil && tc.msg == "":
				if err != nil || a == nil {
					t.Fatalf("got %v, %v; want an authority", a, err)
				}
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			case err == nil || !strings.Contains(err.Error(), tc.msg):
				t.Fatalf("got %v, want an error with %q", err, tc.msg)
			}
		})
	}
}
