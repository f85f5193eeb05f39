package keyfile_test

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/internal/keyfile"
)

func newP256(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeRaw(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
}

// checkNoTemporaries fails if dir holds a temporary file of the writers.
func checkNoTemporaries(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestWriteRead(t *testing.T) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  crypto.Signer
	}{
		{"ed25519", ed},
		{"p-256", newP256(t)},
		{"p-384", p384},
		{"rsa", rsaKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "key.pem")
			if err := keyfile.Write(path, tt.key); err != nil {
				t.Fatalf("Write: %v", err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("mode: got %04o, want 0600", got)
			}
			got, err := keyfile.Read(path)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			want := tt.key.Public().(interface{ Equal(crypto.PublicKey) bool })
			if !want.Equal(got.Public()) {
				t.Error("Read returned another key than Write wrote")
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			again, err := keyfile.Marshal(got)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if string(again) != string(data) {
				t.Error("Marshal of the key read does not reproduce the file")
			}
			checkNoTemporaries(t, dir)
		})
	}
}

func TestWriteNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	first := newP256(t)
	if err := keyfile.Write(path, first); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := keyfile.Write(path, newP256(t)); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Write: got %v, want an error matching fs.ErrExist", err)
	}
	got, err := keyfile.Read(path)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !first.Public().(*ecdsa.PublicKey).Equal(got.Public()) {
		t.Error("the second Write replaced the key")
	}
	checkNoTemporaries(t, dir)
}

func TestReadRefuses(t *testing.T) {
	der, err := x509.MarshalPKCS8PrivateKey(newP256(t))
	if err != nil {
		t.Fatal(err)
	}
	good := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	xder, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		perm fs.FileMode
		want string
	}{
		{"group readable", good, 0o640, "open to other users (mode 0640)"},
		{"world readable", good, 0o604, "open to other users (mode 0604)"},
		{"not PEM", []byte("key"), 0o600, "no PKCS #8 PRIVATE KEY PEM block"},
		{"EC PRIVATE KEY", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600, "no PKCS #8 PRIVATE KEY PEM block"},
		{"trailing data", append(good, "junk\n"...), 0o600, "trailing data after the key"},
		{"two keys", append(good, good...), 0o600, "trailing data after the key"},
		{"not PKCS #8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x05}}), 0o600, "key.pem: "},
		{"cannot sign", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: xder}), 0o600, "cannot sign"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key.pem")
			writeRaw(t, path, tt.data, tt.perm)
			_, err := keyfile.Read(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Read: got error %v, want one naming %s and containing %q", err, path, tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := keyfile.Read(filepath.Join(t.TempDir(), "key.pem")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Read: got %v, want an error matching fs.ErrNotExist", err)
		}
	})
}

func TestAllowExposed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	data, err := keyfile.Marshal(newP256(t))
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, path, data, 0o644)
	var warned []string
	warn := func(p string, perm fs.FileMode) { warned = append(warned, p+" "+perm.String()) }
	if _, err := keyfile.Read(path, keyfile.AllowExposed(warn)); err != nil {
		t.Fatalf("Read with AllowExposed: %v", err)
	}
	if want := path + " -rw-r--r--"; len(warned) != 1 || warned[0] != want {
		t.Errorf("warnings: got %q, want [%q]", warned, want)
	}
	if _, err := keyfile.Read(path, keyfile.AllowExposed(nil)); err != nil {
		t.Errorf("Read with AllowExposed(nil): %v", err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	calls := 0
	generate := func() (crypto.Signer, error) {
		calls++
		return newP256(t), nil
	}
	first, err := keyfile.LoadOrCreate(path, generate)
	if err != nil {
		t.Fatalf("first LoadOrCreate: %v", err)
	}
	second, err := keyfile.LoadOrCreate(path, generate)
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	if calls != 1 {
		t.Errorf("generate called %d times, want 1", calls)
	}
	if !first.Public().(*ecdsa.PublicKey).Equal(second.Public()) {
		t.Error("the second LoadOrCreate returned another key")
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := keyfile.LoadOrCreate(path, generate); err == nil {
		t.Error("LoadOrCreate accepted a world-readable key")
	}
	if _, err := keyfile.LoadOrCreate(path, generate, keyfile.AllowExposed(nil)); err != nil {
		t.Errorf("LoadOrCreate with AllowExposed: %v", err)
	}

	boom := errors.New("no entropy")
	_, err = keyfile.LoadOrCreate(filepath.Join(dir, "other.pem"), func() (crypto.Signer, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Errorf("LoadOrCreate with a failing generate: got %v, want %v", err, boom)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed LoadOrCreate left a key file (stat: %v)", err)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "doc.json")
	if err := keyfile.WriteFileExclusive(path, []byte("one"), 0o644); err != nil {
		t.Fatalf("WriteFileExclusive: %v", err)
	}
	if err := keyfile.WriteFileExclusive(path, []byte("two"), 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second WriteFileExclusive: got %v, want an error matching fs.ErrExist", err)
	}
	check := func(want string, wantPerm fs.FileMode) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != want {
			t.Errorf("contents: got %q, want %q", data, want)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != wantPerm {
			t.Errorf("mode: got %04o, want %04o", got, wantPerm)
		}
	}
	check("one", 0o644)
	if err := keyfile.WriteFileAtomic(path, []byte("three"), 0o600); err != nil {
		t.Fatalf("WriteFileAtomic: %v", err)
	}
	check("three", 0o600)
	checkNoTemporaries(t, dir)

	if err := keyfile.WriteFileAtomic(filepath.Join(dir, "missing", "doc.json"), nil, 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFileAtomic into a missing directory: got %v, want an error matching fs.ErrNotExist", err)
	}
}
