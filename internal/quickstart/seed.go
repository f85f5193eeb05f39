package quickstart

import (
	"encoding/json"
	"fmt"
	"time"
)

// The sample release: a runner image, built by a GitHub Actions workflow
// of example/runner-images on tag v20261122, scanned by trivy.
const (
	sampleRepo     = "example/runner-images"
	sampleTag      = "v20261122"
	sampleWorkflow = ".github/workflows/build.yml"
)

// sampleBuild is the environment the sample image's CI job ran in, as
// GitHub Actions sets it; buildenv reads it like any other.
var sampleBuild = map[string]string{
	"GITHUB_ACTIONS":             "true",
	"GITHUB_SERVER_URL":          "https://github.com",
	"GITHUB_REPOSITORY":          sampleRepo,
	"GITHUB_REPOSITORY_ID":       "100001",
	"GITHUB_REPOSITORY_OWNER_ID": "200002",
	"GITHUB_SHA":                 "8f2d1c0b9a8e7f6d5c4b3a29180706f5e4d3c2b1",
	"GITHUB_REF":                 "refs/tags/" + sampleTag,
	"GITHUB_REF_TYPE":            "tag",
	"GITHUB_WORKFLOW_REF":        sampleRepo + "/" + sampleWorkflow + "@refs/tags/" + sampleTag,
	"GITHUB_RUN_ID":              "4242",
	"GITHUB_RUN_ATTEMPT":         "1",
	"GITHUB_EVENT_NAME":          "push",
	"RUNNER_ENVIRONMENT":         "github-hosted",
}

func lookupSample(k string) (string, bool) {
	v, ok := sampleBuild[k]
	return v, ok
}

// trivyReport returns a trivy JSON report (schema 2) of the image: a fixed
// HIGH in an OS package (it blocks), an unfixed CRITICAL (no fix: it does
// not block under the fixable-only policy) and a HIGH in a Python package
// (out of the OS-only scope).
func trivyReport(image string, at time.Time) ([]byte, error) {
	vuln := func(id, pkg, purl, installed, fixed, status, severity string) map[string]any {
		v := map[string]any{"VulnerabilityID": id, "PkgName": pkg, "PkgIdentifier": map[string]any{"PURL": purl},
			"InstalledVersion": installed, "Status": status, "Severity": severity}
		if fixed != "" {
			v["FixedVersion"] = fixed
		}
		return v
	}
	report := map[string]any{
		"SchemaVersion": 2,
		"Trivy":         map[string]any{"Version": "0.70.0"},
		"CreatedAt":     at.UTC().Format(time.RFC3339),
		"ArtifactName":  image,
		"ArtifactType":  "container_image",
		"Metadata":      map[string]any{"OS": map[string]any{"Family": "ubuntu", "Name": "24.04"}, "RepoDigests": []string{image}},
		"Results": []any{
			map[string]any{"Target": image + " (ubuntu 24.04)", "Class": "os-pkgs", "Type": "ubuntu", "Vulnerabilities": []any{
				vuln("CVE-2099-1001", "libssl3t64", "pkg:deb/ubuntu/libssl3t64@3.0.13-0ubuntu3.1?arch=amd64&distro=ubuntu-24.04", "3.0.13-0ubuntu3.1", "3.0.13-0ubuntu3.5", "fixed", "HIGH"),
				vuln("CVE-2099-1002", "zlib1g", "pkg:deb/ubuntu/zlib1g@1.3.dfsg-3.1ubuntu2?arch=amd64&distro=ubuntu-24.04", "1:1.3.dfsg-3.1ubuntu2", "", "affected", "CRITICAL"),
			}},
			map[string]any{"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg", "Vulnerabilities": []any{
				vuln("CVE-2099-1004", "requests", "pkg:pypi/requests@2.25.0", "2.25.0", "2.31.0", "fixed", "HIGH"),
			}},
		},
	}
	return json.Marshal(report)
}

// exceptions is a .trivyignore.yaml with one reviewed, expiring exception.
func exceptions(expires time.Time) []byte {
	return fmt.Appendf(nil, `vulnerabilities:
  - id: CVE-2099-1001
    purls:
      - pkg:deb/ubuntu/libssl3t64@3.0.13-0ubuntu3.1?arch=amd64&distro=ubuntu-24.04
    statement: No TLS server runs in the image; the fixed package reaches the archive with the weekly rebuild.
    expired_at: %s
`, expires.UTC().Format(time.DateOnly))
}

// cycloneDX returns a CycloneDX 1.6 SBOM of the image with n components,
// naming the image's manifest digest as syft does for an OCI image.
func cycloneDX(repo, digest string, n int) ([]byte, error) {
	comps := make([]any, 0, n)
	for i := range n {
		name := fmt.Sprintf("pkg-%03d", i)
		comps = append(comps, map[string]any{"type": "library", "name": name, "version": "1.0." + fmt.Sprint(i),
			"purl": fmt.Sprintf("pkg:deb/ubuntu/%s@1.0.%d?arch=amd64&distro=ubuntu-24.04", name, i)})
	}
	return json.Marshal(map[string]any{
		"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
		"metadata":   map[string]any{"component": map[string]any{"type": "container", "name": repo, "version": digest}},
		"components": comps,
	})
}
