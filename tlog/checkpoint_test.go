package tlog_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/tlog"
)

var (
	hash32  = bytes.Repeat([]byte{0xab}, 32)
	hash32s = base64.StdEncoding.EncodeToString(hash32)
)

func TestParseCheckpoint(t *testing.T) {
	tests := []struct {
		name string
		text string
		want tlog.Checkpoint
	}{
		{"minimal", "example.com/log\n0\n" + hash32s + "\n",
			tlog.Checkpoint{Origin: "example.com/log", Size: 0, Hash: hash32}},
		{"rekor v1 origin with spaces", "rekor.sigstore.dev - 1193050959916656506\n42\n" + hash32s + "\n",
			tlog.Checkpoint{Origin: "rekor.sigstore.dev - 1193050959916656506", Size: 42, Hash: hash32}},
		{"max size", "o\n18446744073709551615\n" + hash32s + "\n",
			tlog.Checkpoint{Origin: "o", Size: 18446744073709551615, Hash: hash32}},
		{"extensions", "o\n7\n" + hash32s + "\nTimestamp: 1234\nÜnïcode ext\n",
			tlog.Checkpoint{Origin: "o", Size: 7, Hash: hash32, Extensions: []string{"Timestamp: 1234", "Ünïcode ext"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tlog.ParseCheckpoint([]byte(tt.text))
			if err != nil {
				t.Fatalf("ParseCheckpoint: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCheckpoint mismatch (-want +got):\n%s", diff)
			}
			if got, want := string(got.Marshal()), tt.text; got != want {
				t.Errorf("Marshal() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	nonCanonical := []byte(hash32s)
	nonCanonical[len(nonCanonical)-2]++ // "q=" → "r=": same bytes, other trailing bits
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"no final newline", "o\n1\n" + hash32s},
		{"two lines", "o\n1\n"},
		{"empty origin", "\n1\n" + hash32s + "\n"},
		{"empty extension", "o\n1\n" + hash32s + "\n\next\n"},
		{"trailing empty line", "o\n1\n" + hash32s + "\n\n"},
		{"leading zero", "o\n01\n" + hash32s + "\n"},
		{"plus sign", "o\n+1\n" + hash32s + "\n"},
		{"negative", "o\n-1\n" + hash32s + "\n"},
		{"hex size", "o\n0x10\n" + hash32s + "\n"},
		{"size overflow", "o\n18446744073709551616\n" + hash32s + "\n"},
		{"size with space", "o\n1 \n" + hash32s + "\n"},
		{"hash not base64", "o\n1\nnot base64!\n"},
		{"hash unpadded", "o\n1\n" + strings.TrimRight(hash32s, "=") + "\n"},
		{"hash url encoding", "o\n1\n" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)) + "\n"},
		{"hash non-canonical bits", "o\n1\n" + string(nonCanonical) + "\n"},
		{"hash 31 bytes", "o\n1\n" + base64.StdEncoding.EncodeToString(hash32[:31]) + "\n"},
		{"hash 33 bytes", "o\n1\n" + base64.StdEncoding.EncodeToString(append(hash32, 1)) + "\n"},
		{"carriage return", "o\r\n1\n" + hash32s + "\n"},
		{"tab", "o\t\n1\n" + hash32s + "\n"},
		{"invalid utf-8", "o\xff\n1\n" + hash32s + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tlog.ParseCheckpoint([]byte(tt.text))
			if !errors.Is(err, tlog.ErrMalformedCheckpoint) {
				t.Errorf("ParseCheckpoint(%q) = %+v, %v; want ErrMalformedCheckpoint", tt.text, c, err)
			}
		})
	}
}

// testKey returns a deterministic Ed25519 log key for origin.
func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func signText(t testing.TB, text string, signers ...note.Signer) []byte {
	t.Helper()
	signed, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatalf("note.Sign: %v", err)
	}
	return signed
}

func newSigner(t testing.TB, origin string, seed byte) note.Signer {
	t.Helper()
	s, err := tlog.NewNoteSigner(origin, testKey(t, seed))
	if err != nil {
		t.Fatalf("NewNoteSigner: %v", err)
	}
	return s
}

func newVerifier(t testing.TB, origin string, seed byte) note.Verifier {
	t.Helper()
	v, err := tlog.NewNoteVerifier(origin, testKey(t, seed).Public())
	if err != nil {
		t.Fatalf("NewNoteVerifier: %v", err)
	}
	return v
}

func TestVerifyCheckpoint(t *testing.T) {
	const origin = "log.example"
	root := sha256.Sum256([]byte("root"))
	text := string(tlog.Checkpoint{Origin: origin, Size: 5, Hash: root[:]}.Marshal())
	logSigner := newSigner(t, origin, 1)
	witness := newSigner(t, "witness.example", 2)
	v := newVerifier(t, origin, 1)

	t.Run("signed by the log", func(t *testing.T) {
		c, err := tlog.VerifyCheckpoint(signText(t, text, logSigner), v)
		if err != nil {
			t.Fatalf("VerifyCheckpoint: %v", err)
		}
		if c.Origin != origin || c.Size != 5 || !bytes.Equal(c.Hash, root[:]) {
			t.Errorf("got %+v, want origin %q size 5 hash %x", c, origin, root)
		}
	})
	t.Run("cosigned by a witness", func(t *testing.T) {
		if _, err := tlog.VerifyCheckpoint(signText(t, text, witness, logSigner), v); err != nil {
			t.Fatalf("VerifyCheckpoint: %v", err)
		}
	})

	tampered := signText(t, text, logSigner)
	tampered[len(origin)+1] = '6' // size 5 → 6
	otherOrigin := string(tlog.Checkpoint{Origin: "other.example", Size: 5, Hash: root[:]}.Marshal())
	tests := []struct {
		name   string
		signed []byte
		want   error
	}{
		{"signed by another key", signText(t, text, newSigner(t, origin, 3)), tlog.ErrUnverifiedCheckpoint},
		{"signed by a witness only", signText(t, text, witness), tlog.ErrUnverifiedCheckpoint},
		{"text changed after signing", tampered, tlog.ErrUnverifiedCheckpoint},
		{"another origin in the text", signText(t, otherOrigin, logSigner), tlog.ErrOriginMismatch},
		{"signed text not a checkpoint", signText(t, "hello\n", logSigner), tlog.ErrMalformedCheckpoint},
		{"no signature block", []byte(text), tlog.ErrMalformedCheckpoint},
		{"empty", nil, tlog.ErrMalformedCheckpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tlog.VerifyCheckpoint(tt.signed, v)
			if !errors.Is(err, tt.want) {
				t.Errorf("VerifyCheckpoint = %+v, %v; want %v", c, err, tt.want)
			}
		})
	}
}
