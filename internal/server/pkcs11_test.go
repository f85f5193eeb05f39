//go:build cgo

package server_test

import (
	"context"
	"crypto"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
)

// TestTokenKeys: the CA, the timestamp authority and the log sign with
// keys in a token (SoftHSM2, keys made by pkcs11-tool); the trusted root
// carries their public keys; no key of theirs is written to the data
// directory; a keyless signature verifies from the trusted root, before
// and after the CA is rotated to another key in the token.
func TestTokenKeys(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	for _, k := range []struct{ typ, label, id string }{
		{"EC:secp384r1", "ca", "01"}, {"EC:prime256v1", "tsa", "02"}, {"EC:edwards25519", "log", "03"}, {"EC:prime256v1", "ca2", "04"},
	} {
		if err := h.KeyGen(k.typ, k.label, k.id); err != nil {
			t.Fatal(err)
		}
	}
	public := func(label string) crypto.PublicKey {
		s, err := pkcs11key.Open(h.URI(label), pkcs11key.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.Public()
	}
	dir, addr := t.TempDir(), freeAddr(t)
	start := func(caKey string) *server.Server {
		return testkit.Serve(t, server.Config{Addr: addr, DataDir: dir, DevOIDC: true,
			CAKey: h.URI(caKey), TSAKey: h.URI("tsa"), LogKey: h.URI("log")})
	}
	data := []byte("artifact\n")
	s1 := start("ca")
	tr, err := root.NewTrustedRootFromJSON(s1.TrustedRoot())
	if err != nil {
		t.Fatal(err)
	}
	equal := func(what string, got, want crypto.PublicKey) {
		t.Helper()
		if eq, ok := got.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(want) {
			t.Errorf("%s: the trusted root does not carry the token's key", what)
		}
	}
	equal("CA intermediate", tr.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Intermediates[0].PublicKey, public("ca"))
	equal("TSA leaf", tr.TimestampingAuthorities()[0].(*root.SigstoreTimestampingAuthority).Leaf.PublicKey, public("tsa"))
	for _, l := range tr.RekorLogs() {
		equal("log", l.PublicKey, public("log"))
	}
	for _, f := range []string{"ca/intermediate-key.pem", "tsa/leaf-key.pem", "log/log-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: got %v, want no such file", f, err)
		}
	}
	before := signKeylessBlob(t, s1, data, true)
	s1.Close()

	if _, err := server.RotateCA(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	s2 := start("ca2")
	after := signKeylessBlob(t, s2, data, true)
	verifyAcrossRotation(t, s2, data, before, after)
}

// TestTokenKeyRefusals: a key that cannot be opened, or that is not the
// one a service was created with, stops the start; a refused start writes
// nothing.
func TestTokenKeyRefusals(t *testing.T) {
	h := testkit.StartSoftHSM(t, "hallmark")
	for _, k := range []struct{ typ, label, id string }{
		{"EC:prime256v1", "tsa", "01"}, {"EC:prime256v1", "other", "02"}, {"EC:secp384r1", "p384", "03"},
	} {
		if err := h.KeyGen(k.typ, k.label, k.id); err != nil {
			t.Fatal(err)
		}
	}
	used := t.TempDir()
	s, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: used, TSAKey: h.URI("tsa")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"wrong PIN", server.Config{TSAKey: "pkcs11:token=hallmark;object=tsa?pin-value=0000&module-path=" + h.Module},
			`server: TSA key: pkcs11: token "hallmark": wrong PIN (CKR_PIN_INCORRECT)`},
		{"missing key", server.Config{LogKey: h.URI("nope")}, `server: log key: pkcs11: no private key matches object="nope"`},
		{"not a URI", server.Config{LogKey: "/etc/log-key.pem"}, `server: log key: invalid PKCS#11 URI: want the prefix "pkcs11:"`},
		{"CA key without a CA", server.Config{CAKey: h.URI("other")}, "server: a CA key is configured but no OIDC issuer"},
		{"log key of the wrong type", server.Config{LogKey: h.URI("p384")}, "server: transparency log: log key given: unsupported ecdsa curve P-384, want P-256"},
		{"another TSA key", server.Config{DataDir: used, TSAKey: h.URI("other")}, "server: timestamp authority: tsa: the signing key given is not the one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr = "127.0.0.1:0"
			fresh := cfg.DataDir == ""
			if fresh {
				cfg.DataDir = filepath.Join(t.TempDir(), "data")
			}
			s, err := server.New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %q, want prefix %q", err, tc.want)
			}
			if _, err := os.Stat(cfg.DataDir); fresh && tc.name != "log key of the wrong type" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("data directory: got %v, want none written", err)
			}
		})
	}
}
