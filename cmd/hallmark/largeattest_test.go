package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
	"hallmark.dev/oci"
)

// TestVerifyLargeAttestation: an attestation whose bundle is over the
// limit of a bundle held in memory verifies, by verify-blob-attestation
// and by verify-attestation, in memory independent of its size, when what
// is printed does not hold the predicate (text output, no policy); asked
// for the predicate (--output json), it is refused by that limit.
func TestVerifyLargeAttestation(t *testing.T) {
	if testing.Short() {
		t.Skip("signs a 52 MB statement")
	}
	reg := testkit.StartRegistry(t)
	img := reg.PushImage(t, "demo/app:v1", "app")
	dir := t.TempDir()
	kp := testkit.NewKeyPair(t, dir, "cosign", keys.ECDSAP256, "pw")
	var pred bytes.Buffer
	pred.WriteString(`{"components":[`)
	for i := 0; pred.Len() < 52<<20; i++ {
		fmt.Fprintf(&pred, `{"name":"pkg-%07d","version":"1.0.%d","purl":"pkg:npm/pkg-%07d@1.0.%d"},`, i, i%10, i, i%10)
	}
	pred.WriteString(`{"name":"last"}]}`)
	predPath := lite.WriteFile(t, dir, "pred.json", pred.Bytes())
	pred = bytes.Buffer{}
	blob := lite.WriteFile(t, dir, "app.tar.gz", []byte("app"))
	bundle := filepath.Join(dir, "app.att.json")
	const typ = "https://example.com/big/v1"
	env := func(k string) (string, bool) {
		if k == "HALLMARK_PASSWORD" {
			return "pw", true
		}
		return "", false
	}
	hallmark := func(t *testing.T, args ...string) (code int, stdout, stderr string, alloc uint64) {
		t.Helper()
		var out, errOut bytes.Buffer
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		code = run(args, strings.NewReader(""), &out, &errOut, env)
		runtime.ReadMemStats(&after)
		return code, out.String(), errOut.String(), after.TotalAlloc - before.TotalAlloc
	}
	if code, _, stderr, _ := hallmark(t, "attest-blob", "--key", kp.KeyPath, "--predicate", predPath, "--type", typ, "--bundle", bundle, blob); code != 0 {
		t.Fatalf("attest-blob: %s", stderr)
	}
	if code, _, stderr, _ := hallmark(t, "attest", "--key", kp.KeyPath, "--predicate", predPath, "--type", typ, img.String()); code != 0 {
		t.Fatalf("attest: %s", stderr)
	}
	fi, err := os.Stat(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= oci.MaxBundleSize {
		t.Fatalf("bundle of %d bytes, want one over %d", fi.Size(), oci.MaxBundleSize)
	}
	overLimit := fmt.Sprintf("over the %d byte limit", oci.MaxBundleSize)
	for _, tc := range []struct {
		name   string
		args   []string
		stdout string // text output: verified
		stderr string // json output: refused
	}{
		{"verify-blob-attestation", []string{"verify-blob-attestation", "--key", kp.PubPath, "--bundle", bundle, "--type", typ, blob},
			"Verified " + typ + " attestation about " + blob + " with " + bundle, "bundle is " + fmt.Sprint(fi.Size()) + " bytes, " + overLimit},
		{"verify-attestation", []string{"verify-attestation", "--key", kp.PubPath, "--type", typ, img.String()},
			"Verified 1 " + typ + " attestation(s) for " + img.String(), overLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr, alloc := hallmark(t, tc.args...)
			if code != 0 || !strings.Contains(stdout, tc.stdout) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, tc.stdout)
			}
			t.Logf("bundle %d bytes: %d bytes allocated", fi.Size(), alloc)
			if limit := uint64(32 << 20); alloc > limit {
				t.Errorf("verifying allocated %d bytes, want at most %d", alloc, limit)
			}
			code, stdout, stderr, _ = hallmark(t, append(tc.args, "--output", "json")...)
			if code == 0 || !strings.Contains(stdout+stderr, tc.stderr) {
				t.Errorf("--output json: exit %d, stdout %.200q, stderr %q; want a refusal containing %q", code, stdout, stderr, tc.stderr)
			}
		})
	}
}
