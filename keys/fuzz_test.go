package keys_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/keys"
)

// addSeeds adds every key fixture in testdata to f's seed corpus, each
// followed by extra, and fails if there are none.
func addSeeds(f *testing.F, extra ...any) {
	f.Helper()
	var files []string
	for _, pattern := range []string{"*.key", "*.pub", "*.pem"} {
		matches, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil {
			f.Fatalf("globbing testdata: %v", err)
		}
		files = append(files, matches...)
	}
	if len(files) == 0 {
		f.Fatal("empty seed corpus: no key files in testdata")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatalf("reading seed: %v", err)
		}
		f.Add(append([]any{data}, extra...)...)
	}
}

// checkError checks the properties every error of the package has.
func checkError(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "keys: ") {
		t.Errorf("error %q does not start with \"keys: \"", msg)
	}
}

// FuzzParsePublicKey checks that ParsePublicKey never panics, and that a key
// it accepts survives MarshalPublicKey and ParsePublicKey unchanged; for
// PKIX input, MarshalPublicKey reproduces the input's DER exactly.
func FuzzParsePublicKey(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := keys.ParsePublicKey(data)
		if err != nil {
			checkError(t, err)
			return
		}
		out, err := keys.MarshalPublicKey(pub)
		if err != nil {
			t.Fatalf("MarshalPublicKey of a parsed key: %v", err)
		}
		again, err := keys.ParsePublicKey(out)
		if err != nil {
			t.Fatalf("ParsePublicKey(MarshalPublicKey(key)): %v", err)
		}
		if !equalPublic(again, pub) {
			t.Fatalf("ParsePublicKey(MarshalPublicKey(key)) differs from key")
		}
		if keys.Fingerprint(pub) == "" {
			t.Errorf("Fingerprint of a parsed key is empty")
		}
		in, _ := pem.Decode(data)
		if in != nil && in.Type == "PUBLIC KEY" {
			reencoded, _ := pem.Decode(out)
			if reencoded == nil || !bytes.Equal(reencoded.Bytes, in.Bytes) {
				t.Errorf("MarshalPublicKey does not reproduce the PKIX input")
			}
		}
	})
}

// FuzzParsePrivateKey checks that ParsePrivateKey never panics, and that a
// key it accepts survives a PKCS #8 encoding and ParsePrivateKey unchanged,
// as does its public key through MarshalPublicKey and ParsePublicKey.
func FuzzParsePrivateKey(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := keys.ParsePrivateKey(data)
		if err != nil {
			checkError(t, err)
			return
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatalf("MarshalPKCS8PrivateKey of a parsed key: %v", err)
		}
		again, err := keys.ParsePrivateKey(pemEncode("PRIVATE KEY", der))
		if err != nil {
			t.Fatalf("ParsePrivateKey of the key's PKCS #8: %v", err)
		}
		if !equalPrivate(again, key) {
			t.Fatalf("ParsePrivateKey of the key's PKCS #8 differs from key")
		}
		pubPEM, err := keys.MarshalPublicKey(key.Public())
		if err != nil {
			t.Fatalf("MarshalPublicKey of a parsed key's public key: %v", err)
		}
		pub, err := keys.ParsePublicKey(pubPEM)
		if err != nil {
			t.Fatalf("ParsePublicKey(MarshalPublicKey(key.Public())): %v", err)
		}
		if !equalPublic(pub, key.Public()) {
			t.Fatalf("ParsePublicKey(MarshalPublicKey(key.Public())) differs from key.Public()")
		}
	})
}

// FuzzDecryptPrivateKey checks that DecryptPrivateKey never panics, and that
// a key it decrypts survives EncryptPrivateKey and DecryptPrivateKey under
// the same password unchanged.
func FuzzDecryptPrivateKey(f *testing.F) {
	addSeeds(f, []byte(testPassword))
	addSeeds(f, []byte{})
	f.Fuzz(func(t *testing.T, data, password []byte) {
		key, err := keys.DecryptPrivateKey(data, password)
		if err != nil {
			checkError(t, err)
			return
		}
		out, err := keys.EncryptPrivateKey(key, password)
		if err != nil {
			t.Fatalf("EncryptPrivateKey of a decrypted key: %v", err)
		}
		again, err := keys.DecryptPrivateKey(out, password)
		if err != nil {
			t.Fatalf("DecryptPrivateKey(EncryptPrivateKey(key)): %v", err)
		}
		if !equalPrivate(again, key) {
			t.Fatalf("DecryptPrivateKey(EncryptPrivateKey(key)) differs from key")
		}
	})
}
