package scan

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const ref = "registry.example/gate/sample@sha256:a1385a6a734a01bd5e1095baf7299070fdcf5bac125eb3252713f3a50b4b9895"

func TestNotInstalled(t *testing.T) {
	tr := Trivy{Path: filepath.Join(t.TempDir(), "trivy")}
	if _, err := tr.Scan(context.Background(), ref); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("got %v, want ErrNotInstalled", err)
	}
}

// The live scan is tested with the real trivy in
// cmd/hallmark/testdata/gate_trivy.txt.

func TestScanByDigestOnly(t *testing.T) {
	for _, r := range []string{
		"registry.example/gate/sample:latest",
		"registry.example/gate/sample@sha256:abc",
		"--output=/tmp/x@sha256:a1385a6a734a01bd5e1095baf7299070fdcf5bac125eb3252713f3a50b4b9895",
		"registry.example/gate/sample@sha256:a1385a6a734a01bd5e1095baf7299070fdcf5bac125eb3252713f3a50b4b9895 extra",
	} {
		_, err := Trivy{}.Scan(context.Background(), r)
		if err == nil || !strings.Contains(err.Error(), "does not name a digest") {
			t.Errorf("Scan(%q): got %v, want a refusal", r, err)
		}
	}
}

func TestTrivyEnv(t *testing.T) {
	got := trivyEnv([]string{"PATH=/bin", "TRIVY_CACHE_DIR=/c", "TRIVY_SEVERITY=CRITICAL", "TRIVY_IGNORE_UNFIXED=true",
		"TRIVY_SKIP_FILES=/var/lib/dpkg/status", "TRIVY_CONFIG=trivy.yaml", "TRIVY_IGNOREFILE=x", "TRIVY_USERNAME=ci"})
	want := []string{"PATH=/bin", "TRIVY_CACHE_DIR=/c", "TRIVY_USERNAME=ci"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}
