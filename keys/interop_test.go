package keys_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/keys"
)

// cosign returns a function that runs the cosign binary in dir with
// COSIGN_PASSWORD set to password, and returns its standard output. It
// skips the test if cosign is not on PATH, or fails it if
// HALLMARK_REQUIRE_PEERS=1.
func cosign(t *testing.T) func(dir, password string, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("cosign")
	if err != nil {
		if os.Getenv("HALLMARK_REQUIRE_PEERS") == "1" {
			t.Fatalf("cosign is not on PATH and HALLMARK_REQUIRE_PEERS=1: %v", err)
		}
		t.Skipf("cosign is not on PATH: %v", err)
	}
	return func(dir, password string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+password)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("cosign %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out, nil
	}
}

// TestCosignGenerateKeyPair checks that keys cosign writes load, and that
// cosign and hallmark write the same envelope parameters.
func TestCosignGenerateKeyPair(t *testing.T) {
	run := cosign(t)
	dir := t.TempDir()
	if _, err := run(dir, testPassword, "generate-key-pair", "--output-key-prefix", "peer"); err != nil {
		t.Fatal(err)
	}
	privPEM := readFile(t, filepath.Join(dir, "peer.key"))
	pubPEM := readFile(t, filepath.Join(dir, "peer.pub"))

	key, err := keys.DecryptPrivateKey(privPEM, []byte(testPassword))
	if err != nil {
		t.Fatalf("DecryptPrivateKey of cosign's key: %v", err)
	}
	pub, err := keys.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatalf("ParsePublicKey of cosign's key: %v", err)
	}
	if !equalPublic(key.Public(), pub) {
		t.Errorf("cosign's private key does not match its public key")
	}
	ourPub, err := keys.MarshalPublicKey(pub)
	if err != nil {
		t.Fatalf("MarshalPublicKey: %v", err)
	}
	if diff := cmp.Diff(string(pubPEM), string(ourPub)); diff != "" {
		t.Errorf("MarshalPublicKey differs from cosign's public key file (-cosign +ours):\n%s", diff)
	}
	if _, err := keys.DecryptPrivateKey(privPEM, []byte("not "+testPassword)); !errors.Is(err, keys.ErrWrongPassword) {
		t.Errorf("DecryptPrivateKey of cosign's key with a wrong password: got %v, want ErrWrongPassword", err)
	}

	keys.UseProductionKDF(t)
	ours, err := keys.EncryptPrivateKey(key, []byte(testPassword))
	if err != nil {
		t.Fatalf("EncryptPrivateKey: %v", err)
	}
	if got, want := pemType(t, ours), pemType(t, privPEM); got != want {
		t.Errorf("EncryptPrivateKey wrote PEM type %q, cosign writes %q", got, want)
	}
	if diff := cmp.Diff(kdfParams(t, privPEM), kdfParams(t, ours)); diff != "" {
		t.Errorf("scrypt parameters (-cosign +ours):\n%s", diff)
	}
}

// TestCosignPublicKey checks that cosign loads the keys hallmark writes.
func TestCosignPublicKey(t *testing.T) {
	run := cosign(t)
	keys.UseProductionKDF(t)
	for _, tt := range allAlgorithms {
		t.Run(string(tt.alg), func(t *testing.T) {
			key, err := keys.Generate(tt.alg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			for _, password := range []string{testPassword, ""} {
				privPEM, err := keys.EncryptPrivateKey(key, []byte(password))
				if err != nil {
					t.Fatalf("EncryptPrivateKey: %v", err)
				}
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "ours.key"), privPEM, 0o600); err != nil {
					t.Fatalf("writing key: %v", err)
				}
				got, err := run(dir, password, "public-key", "--key", "ours.key")
				if err != nil {
					t.Fatalf("password %q: %v", password, err)
				}
				want, err := keys.MarshalPublicKey(key.Public())
				if err != nil {
					t.Fatalf("MarshalPublicKey: %v", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("password %q: cosign public-key output differs (-ours +cosign):\n%s", password, diff)
				}
			}
		})
	}
}

// TestCosignImportKeyPair checks that cosign and hallmark accept the same
// keys to import, and that cosign's import of a key is the key.
func TestCosignImportKeyPair(t *testing.T) {
	run := cosign(t)
	tests := []struct {
		file        string
		unsupported bool
	}{
		{"ec-p256-sec1.pem", false},
		{"ec-p384-pkcs8.pem", false},
		{"rsa-pkcs1.pem", false},
		{"ed25519-pkcs8.pem", false},
		{"ec-p224-sec1.pem", true},
		{"rsa-1024-pkcs8.pem", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src, err := filepath.Abs(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatalf("resolving fixture path: %v", err)
			}
			ours, ourErr := keys.ParsePrivateKey(readFile(t, src))
			dir := t.TempDir()
			_, cosignErr := run(dir, testPassword, "import-key-pair", "--key", src, "--output-key-prefix", "imported", "--yes")
			if tt.unsupported {
				if !errors.Is(ourErr, keys.ErrUnsupportedKey) {
					t.Errorf("ParsePrivateKey: got %v, want ErrUnsupportedKey", ourErr)
				}
				if cosignErr == nil {
					t.Errorf("cosign import-key-pair accepted a key hallmark rejects")
				}
				return
			}
			if ourErr != nil {
				t.Fatalf("ParsePrivateKey: %v", ourErr)
			}
			if cosignErr != nil {
				t.Fatal(cosignErr)
			}
			imported, err := keys.DecryptPrivateKey(readFile(t, filepath.Join(dir, "imported.key")), []byte(testPassword))
			if err != nil {
				t.Fatalf("DecryptPrivateKey of cosign's import: %v", err)
			}
			if !equalPrivate(imported, ours) {
				t.Errorf("cosign's import is not the key ParsePrivateKey returns")
			}
		})
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("reading %s: %v", filepath.Base(name), err)
	}
	return data
}
