package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/tlog"
)

// TestWitnessPolicyRefusals checks that serve refuses a witness policy the
// logs could not follow, and says why.
func TestWitnessPolicyRefusals(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := tlog.CosignatureVerifierKey("w.example/w", priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, policy, want string
	}{
		{"no url", "witness w " + vkey + "\nquorum w\n", "witness w has no URL"},
		{"quorum none", "quorum none\n", "its quorum is none"},
		{"malformed", "witness w\n", "malformed witness policy"},
		{"missing", "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if tc.policy != "" {
				if err := os.WriteFile(path, []byte(tc.policy), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := witnessGroup(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
	wg, err := witnessGroup(writeFile(t, dir, "good", "witness w "+vkey+" http://127.0.0.1:1\nquorum w\n"))
	if err != nil || len(wg.Components) != 1 {
		t.Fatalf("a good policy: %v, %d components", err, len(wg.Components))
	}
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
