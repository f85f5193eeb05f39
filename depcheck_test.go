package hallmark_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the produce-and-check packages that integrators
// embed free of server, registry-client, Kubernetes, cloud and CLI code:
// verification must stay pure, and signing must not pull in the server.
func TestDependencies(t *testing.T) {
	forbidden := []string{
		"hallmark.dev/internal/",
		"hallmark.dev/cmd/",
		"hallmark.dev/oci/store",
		"github.com/google/go-containerregistry/pkg/v1/remote",
		"github.com/google/go-containerregistry/pkg/registry",
		"github.com/distribution/distribution",
		"k8s.io/api",
		"k8s.io/apimachinery",
		"k8s.io/client-go",
		"sigs.k8s.io/controller-runtime",
		"github.com/aws/",
		"github.com/Azure/",
		"cloud.google.com/",
	}
	// Pure helpers under internal/ that import only the standard library
	// (and, for YAML, the YAML parser).
	allowed := map[string]bool{
		"hallmark.dev/internal/jsonstrict":            true,
		"hallmark.dev/internal/jsonstrict/yamlstrict": true,
	}
	for _, pkg := range []string{
		"hallmark.dev/verify",
		"hallmark.dev/sign",
		"hallmark.dev/attest",
		"hallmark.dev/oci",
		"hallmark.dev/keys",
		"hallmark.dev/tlog",
		"hallmark.dev/policy",
		"hallmark.dev/sbom",
		"hallmark.dev/slsa",
		"hallmark.dev/gate",
		"hallmark.dev/signpolicy",
	} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if allowed[dep] {
					continue
				}
				for _, f := range forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("%s depends on %s (forbidden: %s*)", pkg, dep, f)
					}
				}
			}
		})
	}
}
