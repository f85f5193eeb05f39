//go:build cgo

package pkcs11key_test

import (
	"context"
	"crypto"
	"testing"
	"time"

	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
)

// benchKeys returns an ECDSA P-256 key from a cosign key file (encrypted,
// then decrypted as `--key cosign.key` does) and one in a SoftHSM2 token.
func benchKeys(b *testing.B) (file []byte, key crypto.Signer, h *testkit.SoftHSM) {
	b.Helper()
	h = testkit.StartSoftHSM(b, "bench")
	if err := h.KeyGen("EC:prime256v1", "k", "01"); err != nil {
		b.Fatal(err)
	}
	k, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		b.Fatal(err)
	}
	if file, err = keys.EncryptPrivateKey(k, []byte("pw")); err != nil {
		b.Fatal(err)
	}
	if key, err = keys.DecryptPrivateKey(file, []byte("pw")); err != nil {
		b.Fatal(err)
	}
	return file, key, h
}

// BenchmarkSignTokenVsKeyFile measures, in the same run and interleaved,
// one signature as `hallmark sign` makes it (sign.KeySigner.SignData:
// SHA-256, then ECDSA P-256) with a key from a cosign key file and with a
// key in a SoftHSM2 token, and reports both and their ratio.
func BenchmarkSignTokenVsKeyFile(b *testing.B) {
	_, key, h := benchKeys(b)
	tok, err := pkcs11key.Open(h.URI("k"), pkcs11key.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tok.Close()
	fileSigner, err := sign.NewKeySigner(key)
	if err != nil {
		b.Fatal(err)
	}
	tokenSigner, err := sign.NewKeySigner(tok)
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}]}`)
	ctx := context.Background()
	var inFile, inToken time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, _, err := fileSigner.SignData(ctx, data); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, _, err := tokenSigner.SignData(ctx, data); err != nil {
			b.Fatal(err)
		}
		inFile += t1.Sub(t0)
		inToken += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(inFile.Nanoseconds())/n, "keyfile-ns/sig")
	b.ReportMetric(float64(inToken.Nanoseconds())/n, "token-ns/sig")
	b.ReportMetric(float64(inToken)/float64(inFile), "token/keyfile")
}

// BenchmarkOpenTokenVsKeyFile measures what a command pays once, before
// its first signature: decrypting a cosign key file (scrypt, N=2^16) or
// opening the key in the token (module already loaded: a session, a
// login, the key's lookup).
func BenchmarkOpenTokenVsKeyFile(b *testing.B) {
	file, _, h := benchKeys(b)
	// Keep the module loaded, as it is for a server's second key.
	keep, err := pkcs11key.Open(h.URI("k"), pkcs11key.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer keep.Close()
	var inFile, inToken time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := keys.DecryptPrivateKey(file, []byte("pw")); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		s, err := pkcs11key.Open(h.URI("k"), pkcs11key.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		inFile += t1.Sub(t0)
		inToken += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(inFile.Nanoseconds())/n, "keyfile-ns/open")
	b.ReportMetric(float64(inToken.Nanoseconds())/n, "token-ns/open")
	b.ReportMetric(float64(inToken)/float64(inFile), "token/keyfile")
}
