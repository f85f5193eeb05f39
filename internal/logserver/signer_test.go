package logserver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/internal/logserver"
)

// opaqueSigner hides its key behind crypto.Signer, as a key in a token
// does.
type opaqueSigner struct{ key crypto.Signer }

func (s opaqueSigner) Public() crypto.PublicKey { return s.key.Public() }
func (s opaqueSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.key.Sign(r, d, o)
}

// TestConfigSigner: a checkpoint key held elsewhere (a token) signs the
// log; it is never written to the directory, and a later start with
// another key, or none, is refused.
func TestConfigSigner(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []crypto.Signer{p256, ed} {
		t.Run(keyName(key), func(t *testing.T) {
			dir := t.TempDir()
			tl := startLog(t, dir, func(c *logserver.Config) { c.Signer = opaqueSigner{key} })
			tl.add(t, signedRequest(t, []byte("x")))
			if pub, ok := tl.PublicKey().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
				t.Errorf("PublicKey is not the signer's")
			}
			tl.close(t)
			if _, err := os.Stat(filepath.Join(dir, "log-key.pem")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("log-key.pem: got %v, want no such file", err)
			}
			startLog(t, dir, func(c *logserver.Config) { c.Signer = opaqueSigner{key} }).close(t)
			for name, cfg := range map[string]logserver.Config{
				"another key": {Dir: dir, Origin: testOrigin, Signer: other},
				"no key":      {Dir: dir, Origin: testOrigin},
			} {
				l, err := logserver.New(context.Background(), cfg)
				if err == nil {
					l.Close()
				}
				if !errors.Is(err, logserver.ErrKeyMismatch) {
					t.Errorf("%s: got %v, want ErrKeyMismatch", name, err)
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		cfg  logserver.Config
		want string
	}{
		{"P-384", logserver.Config{Signer: opaqueSigner{p384}}, "log key given: unsupported ecdsa curve P-384, want P-256"},
		{"type contradicts", logserver.Config{Signer: opaqueSigner{ed}, KeyType: logserver.KeyECDSAP256}, "the key given is ed25519, the configuration asks for ecdsa-p256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Dir, tc.cfg.Origin = t.TempDir(), testOrigin
			l, err := logserver.New(context.Background(), tc.cfg)
			if err == nil {
				l.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func keyName(k crypto.Signer) string {
	if _, ok := k.Public().(ed25519.PublicKey); ok {
		return "ed25519"
	}
	return "ecdsa-p256"
}
