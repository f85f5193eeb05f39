//go:build cgo

package pkcs11key_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
)

// open opens uri and closes the key when the test ends.
func open(t *testing.T, uri string, opts pkcs11key.Options) *pkcs11key.Signer {
	t.Helper()
	s, err := pkcs11key.Open(uri, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", uri, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// verify checks sig over msg with pub, as a verifier that knows the
// algorithm would.
func verify(t *testing.T, pub crypto.PublicKey, msg, sig []byte, opts crypto.SignerOpts) {
	t.Helper()
	var ok bool
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		h := opts.HashFunc().New()
		h.Write(msg)
		ok = ecdsa.VerifyASN1(k, h.Sum(nil), sig)
	case *rsa.PublicKey:
		h := opts.HashFunc().New()
		h.Write(msg)
		if pss, isPSS := opts.(*rsa.PSSOptions); isPSS {
			ok = rsa.VerifyPSS(k, opts.HashFunc(), h.Sum(nil), sig, pss) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(k, opts.HashFunc(), h.Sum(nil), sig) == nil
		}
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	}
	if !ok {
		t.Fatalf("signature does not verify with the public key (%s)", keys.Describe(pub))
	}
}

func TestSignWithKeysMadeByPKCS11Tool(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	msg := []byte("hallmark signs with a key it never sees")
	for _, tc := range []struct {
		keyType, label, id string
		want               string // keys.Describe of the public key
		opts               []crypto.SignerOpts
	}{
		{"EC:prime256v1", "p256", "01", "ECDSA P-256", []crypto.SignerOpts{crypto.SHA256}},
		{"EC:secp384r1", "p384", "02", "ECDSA P-384", []crypto.SignerOpts{crypto.SHA384, crypto.SHA256}},
		{"EC:secp521r1", "p521", "03", "ECDSA P-521", []crypto.SignerOpts{crypto.SHA512}},
		{"rsa:2048", "rsa", "04", "RSA 2048", []crypto.SignerOpts{crypto.SHA256, crypto.SHA512,
			&rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}}},
		{"EC:edwards25519", "ed", "05", "Ed25519", []crypto.SignerOpts{crypto.Hash(0)}},
	} {
		t.Run(tc.label, func(t *testing.T) {
			if err := h.KeyGen(tc.keyType, tc.label, tc.id); err != nil {
				t.Fatal(err)
			}
			s := open(t, h.URI(tc.label), pkcs11key.Options{})
			if got := keys.Describe(s.Public()); got != tc.want {
				t.Fatalf("public key: got %s, want %s", got, tc.want)
			}
			for _, opts := range tc.opts {
				// Sign over a digest, as crypto.Signer callers do.
				in := msg
				if h := opts.HashFunc(); h != 0 {
					w := h.New()
					w.Write(msg)
					in = w.Sum(nil)
				}
				sig, err := s.Sign(rand.Reader, in, opts)
				if err != nil {
					t.Fatalf("Sign(%v): %v", opts.HashFunc(), err)
				}
				verify(t, s.Public(), msg, sig, opts)
				// And over the message.
				sig, err = crypto.SignMessage(s, rand.Reader, msg, opts)
				if err != nil {
					t.Fatalf("SignMessage(%v): %v", opts.HashFunc(), err)
				}
				verify(t, s.Public(), msg, sig, opts)
			}
		})
	}
}

func TestEd25519phIsRefused(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	if err := h.KeyGen("EC:edwards25519", "ed", "01"); err != nil {
		t.Fatal(err)
	}
	s := open(t, h.URI("ed"), pkcs11key.Options{})
	d := sha512.Sum512([]byte("m"))
	_, err := s.Sign(rand.Reader, d[:], &ed25519.Options{Hash: crypto.SHA512})
	if err == nil || !strings.Contains(err.Error(), "Ed25519ph (pre-hashed Ed25519) is not supported") {
		t.Fatalf("got %v, want a refusal of Ed25519ph", err)
	}
}

func TestOpenRefusals(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	for _, k := range []struct{ typ, label, id string }{
		{"EC:prime256v1", "release", "01"},
		{"EC:secp256k1", "k1", "02"},
		{"rsa:1024", "small", "03"},
		{"EC:prime256v1", "twin", "04"},
		{"EC:prime256v1", "twin", "05"},
	} {
		if err := h.KeyGen(k.typ, k.label, k.id); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	text := filepath.Join(dir, "module.txt")
	pinFile := filepath.Join(dir, "pin")
	for name, data := range map[string]string{text: "not a library\n", pinFile: h.PIN + "\n"} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, notModule, err := testkit.BuildPKCS11Shim(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := "pkcs11:token=hallmark;object=release?module-path=" + h.Module
	for _, tc := range []struct {
		name string
		uri  string
		opts pkcs11key.Options
		want error
		msg  string
	}{
		{name: "wrong PIN", uri: base + "&pin-value=0000", want: pkcs11key.ErrWrongPIN,
			msg: `pkcs11: token "hallmark": wrong PIN (CKR_PIN_INCORRECT)`},
		{name: "no PIN", uri: base, want: pkcs11key.ErrNoPIN,
			msg: `pkcs11: token "hallmark": the token needs a PIN and none was given`},
		{name: "PIN callback fails", uri: base, opts: pkcs11key.Options{PIN: func(string) (string, error) { return "", errors.New("no terminal") }},
			msg: `pkcs11: token "hallmark": no terminal`},
		{name: "missing token", uri: "pkcs11:token=nope;object=release?pin-value=1234&module-path=" + h.Module, want: pkcs11key.ErrNoToken,
			msg: `pkcs11: no token matches token="nope" (the module's tokens: "hallmark")`},
		{name: "missing object", uri: "pkcs11:token=hallmark;object=nope?pin-value=1234&module-path=" + h.Module, want: pkcs11key.ErrNoKey,
			msg: `pkcs11: no private key matches object="nope" in token "hallmark" (its private keys: `},
		{name: "two keys match", uri: h.URI("twin"), want: pkcs11key.ErrAmbiguous,
			msg: `pkcs11: several match: 2 private keys match object="twin" in token "hallmark"; name one with object= and id=`},
		{name: "module does not exist", uri: "pkcs11:token=hallmark;object=release?module-path=/nonexistent/libp11.so", want: pkcs11key.ErrModule,
			msg: "pkcs11: cannot load the PKCS#11 module /nonexistent/libp11.so: no such file"},
		{name: "module is a text file", uri: "pkcs11:token=hallmark;object=release?module-path=" + text, want: pkcs11key.ErrModule,
			msg: "pkcs11: cannot load the PKCS#11 module " + text + ": not a PKCS#11 module"},
		{name: "module is another library", uri: "pkcs11:token=hallmark;object=release?module-path=" + notModule, want: pkcs11key.ErrModule,
			msg: "pkcs11: cannot load the PKCS#11 module " + notModule + ": not a PKCS#11 module"},
		{name: "no module", uri: "pkcs11:token=hallmark;object=release", want: pkcs11key.ErrNoModule,
			msg: "pkcs11: no PKCS#11 module named"},
		{name: "secp256k1", uri: h.URI("k1"), want: keys.ErrUnsupportedKey,
			msg: `pkcs11: key "k1" in token "hallmark": keys: unsupported key: EC key on curve secp256k1 (want P-256, P-384, P-521 or Ed25519)`},
		{name: "RSA 1024", uri: h.URI("small"), want: keys.ErrUnsupportedKey,
			msg: `pkcs11: key "small" in token "hallmark": keys: unsupported key: RSA key of 1024 bits (want 2048 to 4096)`},
		{name: "a public key", uri: h.URI("release") + "&x-vendor=1", msg: ""},
		{name: "type=public", uri: "pkcs11:token=hallmark;object=release;type=public?pin-value=1234&module-path=" + h.Module,
			msg: "pkcs11: type=public: a signing key is a private key (type=private)"},
		{name: "bad URI", uri: "pkcs11:token=hallmark;colour=blue", want: pkcs11key.ErrInvalidURI,
			msg: `pkcs11: invalid PKCS#11 URI: unknown attribute "colour"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := pkcs11key.Open(tc.uri, tc.opts)
			if tc.msg == "" && tc.want == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want %q", tc.msg)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want errors.Is %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("got %q, want prefix %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if strings.Contains(err.Error(), "pin-value=1234") {
				t.Errorf("error carries the PIN: %q", err)
			}
		})
	}
}

func TestPINSources(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	if err := h.KeyGen("EC:prime256v1", "release", "01"); err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(h.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "pkcs11:token=hallmark;object=release?module-path=" + h.Module
	asked := ""
	for _, tc := range []struct {
		name string
		uri  string
		opts pkcs11key.Options
	}{
		{"pin-value", base + "&pin-value=" + h.PIN, pkcs11key.Options{}},
		{"pin-source path", base + "&pin-source=" + pinFile, pkcs11key.Options{}},
		{"pin-source file URI", base + "&pin-source=file:" + pinFile, pkcs11key.Options{}},
		{"Options.PIN", base, pkcs11key.Options{PIN: func(token string) (string, error) { asked = token; return h.PIN, nil }}},
		{"Options.ModulePath", "pkcs11:token=hallmark;object=release?pin-value=" + h.PIN, pkcs11key.Options{ModulePath: h.Module}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open(t, tc.uri, tc.opts)
		})
	}
	if asked != "hallmark" {
		t.Errorf("Options.PIN asked for token %q, want hallmark", asked)
	}
}

func TestGenerate(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	for _, alg := range []keys.Algorithm{keys.ECDSAP256, keys.ECDSAP384, keys.RSA3072, keys.Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			u, err := pkcs11key.ParseURI(h.URI("gen-" + string(alg)))
			if err != nil {
				t.Fatal(err)
			}
			s, err := pkcs11key.Generate(u, pkcs11key.Options{}, alg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			defer s.Close()
			msg := []byte("m")
			opts := crypto.SignerOpts(crypto.SHA256)
			if alg == keys.Ed25519 {
				opts = crypto.Hash(0)
			}
			sig, err := crypto.SignMessage(s, rand.Reader, msg, opts)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, s.Public(), msg, sig, opts)
			if len(s.URI().ID) != 8 {
				t.Errorf("id %X: want 8 random bytes", s.URI().ID)
			}
			if _, err := pkcs11key.Generate(u, pkcs11key.Options{}, alg); !errors.Is(err, pkcs11key.ErrExists) {
				t.Errorf("second Generate: got %v, want ErrExists", err)
			}
		})
	}
	// pkcs11-tool, which reads the token on its own, sees a private key
	// that never left it.
	out, err := h.PKCS11Tool("--list-objects", "--type", "privkey", "--label", "gen-ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "never extractable") || !strings.Contains(out, "always sensitive") {
		t.Errorf("pkcs11-tool -O: want a key that is always sensitive and never extractable:\n%s", out)
	}
}

func TestListTokensAndKeys(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	for _, k := range []struct{ typ, label, id string }{
		{"EC:prime256v1", "release", "01"}, {"EC:secp256k1", "k1", "02"},
	} {
		if err := h.KeyGen(k.typ, k.label, k.id); err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := pkcs11key.ListTokens(h.Module)
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 || tokens[0].Label != "hallmark" || !tokens[0].LoginRequired {
		t.Fatalf("ListTokens: got %+v, want the one token hallmark, needing a login", tokens)
	}
	u, err := pkcs11key.ParseURI("pkcs11:token=hallmark?pin-value=1234&module-path=" + h.Module)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pkcs11key.ListKeys(u, pkcs11key.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListKeys: got %+v, want 2 keys", list)
	}
	k1, release := list[0], list[1]
	if release.Label != "release" || release.Type != "ECDSA P-256" || release.ID != "01" || release.Unsupported != "" {
		t.Errorf("release: got %+v", release)
	}
	if k1.Label != "k1" || k1.Type != "EC secp256k1" || !strings.Contains(k1.Unsupported, "unsupported key") {
		t.Errorf("k1: got %+v", k1)
	}
	// Each key's URI opens it, with a PIN from elsewhere.
	open(t, release.URI, pkcs11key.Options{PIN: func(string) (string, error) { return h.PIN, nil }})
}

// sha256Of is the digest the signing paths compute.
func sha256Of(b []byte) []byte { d := sha256.Sum256(b); return d[:] }

// shim builds the test module that forwards to SoftHSM2 and sets its
// environment; see testkit.BuildPKCS11Shim.
func shim(t *testing.T, h *testkit.SoftHSM, env map[string]string) string {
	t.Helper()
	path, _, err := testkit.BuildPKCS11Shim(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HALLMARK_SHIM_MODULE", h.Module)
	for k, v := range env {
		t.Setenv(k, v)
	}
	return path
}

func TestTokenRemovedBetweenSignatures(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	if err := h.KeyGen("EC:prime256v1", "release", "01"); err != nil {
		t.Fatal(err)
	}
	module := shim(t, h, map[string]string{"HALLMARK_SHIM_REMOVE_AFTER": "1"})
	s := open(t, "pkcs11:token=hallmark;object=release?pin-value=1234&module-path="+module, pkcs11key.Options{})
	if _, err := s.Sign(rand.Reader, sha256Of([]byte("one")), crypto.SHA256); err != nil {
		t.Fatalf("first signature: %v", err)
	}
	_, err := s.Sign(rand.Reader, sha256Of([]byte("two")), crypto.SHA256)
	if !errors.Is(err, pkcs11key.ErrTokenGone) {
		t.Fatalf("second signature: got %v, want ErrTokenGone", err)
	}
	if want := `pkcs11: signing with key "release" in token "hallmark": the token is gone (CKR_DEVICE_REMOVED)`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	// The signer stays unusable, and says so again.
	if _, err := s.Sign(rand.Reader, sha256Of([]byte("three")), crypto.SHA256); !errors.Is(err, pkcs11key.ErrTokenGone) {
		t.Errorf("third signature: got %v, want ErrTokenGone", err)
	}
}

func TestTokenThatOnlyHashes(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	if err := h.KeyGen("EC:prime256v1", "release", "01"); err != nil {
		t.Fatal(err)
	}
	module := shim(t, h, map[string]string{"HALLMARK_SHIM_HASH_ONLY": "1"})
	s := open(t, "pkcs11:token=hallmark;object=release?pin-value=1234&module-path="+module, pkcs11key.Options{})
	msg := []byte("a message the token hashes")
	for _, hash := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		sig, err := crypto.SignMessage(s, rand.Reader, msg, hash)
		if err != nil {
			t.Fatalf("SignMessage(%v): %v", hash, err)
		}
		verify(t, s.Public(), msg, sig, hash)
	}
	_, err := s.Sign(rand.Reader, sha256Of(msg), crypto.SHA256)
	if err == nil || !strings.Contains(err.Error(), "it signs ECDSA only over whole messages (CKM_ECDSA_SHA256), and was given a digest") {
		t.Errorf("Sign over a digest: got %v, want a refusal naming CKM_ECDSA_SHA256", err)
	}
}
