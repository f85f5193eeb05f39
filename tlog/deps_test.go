package tlog_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPure keeps the package free of I/O layers: checking a checkpoint or a
// proof takes bytes, never a network, a disk or a log implementation.
func TestPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "hallmark.dev/tlog").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"net/http",
		"os/exec",
		"github.com/transparency-dev/tessera",
		"github.com/sigstore/",
		"hallmark.dev/internal/",
		"google.golang.org/grpc",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") || strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f) {
				t.Errorf("tlog depends on %s (forbidden: %s)", dep, f)
			}
		}
	}
}
