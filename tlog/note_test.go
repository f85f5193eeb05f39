package tlog_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	rekornote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/tlog"
)

func mustECDSA(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	return k
}

// logKeys are the two key types a log may use.
func logKeys(t *testing.T) map[string]crypto.Signer {
	return map[string]crypto.Signer{
		"ed25519":    testKey(t, 9),
		"ecdsa-p256": mustECDSA(t, elliptic.P256()),
	}
}

func TestLogIDMatchesRekorTiles(t *testing.T) {
	const origin = "log.example"
	for name, key := range logKeys(t) {
		t.Run(name, func(t *testing.T) {
			got, err := tlog.LogID(origin, key.Public())
			if err != nil {
				t.Fatalf("LogID: %v", err)
			}
			wantHash, want, err := rekornote.KeyHash(origin, key.Public())
			if err != nil {
				t.Fatalf("rekor-tiles KeyHash: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("LogID = %x, want %x (rekor-tiles)", got, want)
			}
			v, err := tlog.NewNoteVerifier(origin, key.Public())
			if err != nil {
				t.Fatalf("NewNoteVerifier: %v", err)
			}
			if v.KeyHash() != wantHash {
				t.Errorf("KeyHash() = %08x, want %08x (rekor-tiles)", v.KeyHash(), wantHash)
			}
		})
	}
}

func TestLogIDFormulas(t *testing.T) {
	ed := testKey(t, 4)
	h := sha256.Sum256(append([]byte("o\n\x01"), ed.Public().(ed25519.PublicKey)...))
	got, err := tlog.LogID("o", ed.Public())
	if err != nil {
		t.Fatalf("LogID: %v", err)
	}
	if !bytes.Equal(got, h[:]) {
		t.Errorf("ed25519 LogID = %x, want SHA-256(origin\\n\\x01key) %x", got, h)
	}
	ec := mustECDSA(t, elliptic.P256())
	der, err := x509.MarshalPKIXPublicKey(ec.Public())
	if err != nil {
		t.Fatalf("MarshalPKIXPublicKey: %v", err)
	}
	h = sha256.Sum256(der)
	got, err = tlog.LogID("any origin is ignored", ec.Public())
	if err != nil {
		t.Fatalf("LogID: %v", err)
	}
	if !bytes.Equal(got, h[:]) {
		t.Errorf("ecdsa LogID = %x, want SHA-256(PKIX) %x", got, h)
	}
}

// TestNoteSignaturesInterop signs with each implementation and verifies
// with the other: hallmark against rekor-tiles (what sigstore-go runs).
func TestNoteSignaturesInterop(t *testing.T) {
	const origin = "log.example"
	text := string(tlog.Checkpoint{Origin: origin, Size: 3, Hash: hash32}.Marshal())
	for name, key := range logKeys(t) {
		t.Run(name, func(t *testing.T) {
			ours, err := tlog.NewNoteSigner(origin, key)
			if err != nil {
				t.Fatalf("NewNoteSigner: %v", err)
			}
			ourV, err := tlog.NewNoteVerifier(origin, key.Public())
			if err != nil {
				t.Fatalf("NewNoteVerifier: %v", err)
			}
			sv, err := signature.LoadSignerVerifier(key, crypto.SHA256)
			if err != nil {
				t.Fatalf("LoadSignerVerifier: %v", err)
			}
			theirs, err := rekornote.NewNoteSigner(context.Background(), origin, sv)
			if err != nil {
				t.Fatalf("rekor-tiles NewNoteSigner: %v", err)
			}
			theirV, err := rekornote.NewNoteVerifier(origin, sv)
			if err != nil {
				t.Fatalf("rekor-tiles NewNoteVerifier: %v", err)
			}
			for _, c := range []struct {
				name string
				s    note.Signer
				v    note.Verifier
			}{
				{"hallmark signs, rekor-tiles verifies", ours, theirV},
				{"rekor-tiles signs, hallmark verifies", theirs, ourV},
				{"hallmark signs and verifies", ours, ourV},
			} {
				signed := signText(t, text, c.s)
				if _, err := tlog.VerifyCheckpoint(signed, c.v); err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
			}
		})
	}
}

// TestEd25519MatchesSumdbNote checks the Ed25519 form against x/mod's own
// C2SP signed-note implementation.
func TestEd25519MatchesSumdbNote(t *testing.T) {
	const origin = "log.example"
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	parts := strings.SplitN(vkey, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	pub := ed25519.PublicKey(raw[1:])
	sumdbSigner, err := note.NewSigner(skey)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	sumdbVerifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	ourV, err := tlog.NewNoteVerifier(origin, pub)
	if err != nil {
		t.Fatalf("NewNoteVerifier: %v", err)
	}
	if ourV.KeyHash() != sumdbVerifier.KeyHash() {
		t.Errorf("KeyHash() = %08x, want %08x (x/mod note)", ourV.KeyHash(), sumdbVerifier.KeyHash())
	}
	text := string(tlog.Checkpoint{Origin: origin, Size: 1, Hash: hash32}.Marshal())
	if _, err := tlog.VerifyCheckpoint(signText(t, text, sumdbSigner), ourV); err != nil {
		t.Errorf("x/mod signs, hallmark verifies: %v", err)
	}
}

func TestNoteKeyRejects(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey: %v", err)
	}
	p384 := mustECDSA(t, elliptic.P384())
	ed := testKey(t, 1)
	tests := []struct {
		name   string
		origin string
		pub    crypto.PublicKey
		want   error
	}{
		{"rsa", "o", rsaKey.Public(), tlog.ErrUnsupportedKey},
		{"p-384", "o", p384.Public(), tlog.ErrUnsupportedKey},
		{"nil key", "o", nil, tlog.ErrUnsupportedKey},
		{"short ed25519", "o", ed25519.PublicKey(make([]byte, 31)), tlog.ErrUnsupportedKey},
		{"empty origin", "", ed.Public(), tlog.ErrInvalidOrigin},
		{"origin with space", "a b", ed.Public(), tlog.ErrInvalidOrigin},
		{"origin with plus", "a+b", ed.Public(), tlog.ErrInvalidOrigin},
		{"origin not utf-8", "a\xff", ed.Public(), tlog.ErrInvalidOrigin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tlog.NewNoteVerifier(tt.origin, tt.pub); !errors.Is(err, tt.want) {
				t.Errorf("NewNoteVerifier: got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := tlog.NewNoteSigner("o", rsaKey); !errors.Is(err, tlog.ErrUnsupportedKey) {
		t.Errorf("NewNoteSigner(rsa): got %v, want ErrUnsupportedKey", err)
	}
	if _, err := tlog.NewNoteSigner("a b", ed); !errors.Is(err, tlog.ErrInvalidOrigin) {
		t.Errorf("NewNoteSigner(\"a b\"): got %v, want ErrInvalidOrigin", err)
	}
}

// TestNoteSignerMessageSigner: an ECDSA note key that only signs messages
// signs checkpoints that verify.
func TestNoteSignerMessageSigner(t *testing.T) {
	const origin = "log.example"
	key := mustECDSA(t, elliptic.P256())
	s, err := tlog.NewNoteSigner(origin, lite.MessageOnlySigner{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewNoteVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	signed := signText(t, string(tlog.Checkpoint{Origin: origin, Size: 3, Hash: hash32}.Marshal()), s)
	if _, err := tlog.VerifyCheckpoint(signed, v); err != nil {
		t.Error(err)
	}
}
