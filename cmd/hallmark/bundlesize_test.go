package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/oci"
)

// TestBundleSizeCheckedFirst: a bundle or provenance file over the size
// limit is refused by its size, before it is read: refusing a sparse file
// of 200 MB allocates next to nothing. An attestation verified without its
// predicate (text output) has the limit of a streamed bundle.
func TestBundleSizeCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	sparse := func(name string, size int64) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	big := sparse("big.sigstore.json", 200<<20)
	huge := sparse("huge.sigstore.json", oci.MaxStreamedBundleSize+1)
	overBundle := "209715200 bytes, over the 67108864 byte limit"
	_, pem := lite.NewPEMKey(t)
	pub := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(pub, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	artifact := filepath.Join(dir, "app.tar.gz")
	if err := os.WriteFile(artifact, []byte("app"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"verify-blob", []string{"verify-blob", "--key", pub, "--bundle", big, artifact}, overBundle},
		{"verify-blob-attestation --output json", []string{"verify-blob-attestation", "--key", pub, "--bundle", big, "--type", "slsaprovenance1", "--output", "json", artifact}, overBundle},
		{"verify-blob-attestation", []string{"verify-blob-attestation", "--key", pub, "--bundle", huge, "--type", "slsaprovenance1", artifact},
			fmt.Sprintf("%d bytes, over the %d byte limit", oci.MaxStreamedBundleSize+1, oci.MaxStreamedBundleSize)},
		{"verify-provenance", []string{"verify-provenance", "--key", pub, "--source-uri", "github.com/org/app", "--provenance-path", big, artifact}, overBundle},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			code := run(c.args, strings.NewReader(""), &stdout, &stderr, func(string) (string, bool) { return "", false })
			runtime.ReadMemStats(&after)
			if code == 0 {
				t.Fatalf("exit 0, want a refusal; stdout:\n%s", stdout.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), c.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d MB to refuse the file, want under 8 MB", alloc>>20)
			}
		})
	}
}
