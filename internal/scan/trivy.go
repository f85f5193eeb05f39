// Package scan runs a vulnerability scanner on a container image and
// returns its report for the gate (hallmark.dev/internal/gate).
//
// Only trivy is run, as `trivy image --scanners vuln --format json` on
// an image named by digest: the vulnerability scanner alone, so that a
// secret or misconfiguration finding cannot trip (or hide behind) a CVE
// gate. trivy's own settings (cache directory, database repository,
// registry credentials, offline mode) come from its TRIVY_* environment
// variables, which are passed through.
package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ErrNotInstalled is returned when the trivy binary cannot be found.
var ErrNotInstalled = errors.New("trivy is not installed")

// Trivy runs a trivy binary.
type Trivy struct {
	// Path is the trivy binary; empty means "trivy" found on PATH.
	Path string
	// Env is the environment trivy runs with; nil means this process's.
	Env []string
}

// Output is what a scan produced.
type Output struct {
	// Report is trivy's JSON report, unparsed.
	Report []byte
	// Version is trivy's version, and DBVersion its vulnerability
	// database's, "v<schema>@<updated at>" (empty if trivy did not say).
	Version, DBVersion string
	// Started and Finished bound the scan.
	Started, Finished time.Time
}

var digestRefRE = regexp.MustCompile(`^[^-@\s][^@\s]*@sha256:[0-9a-f]{64}$`)

// Scan scans the image ref, which must name a digest (REPO@sha256:…).
func (t Trivy) Scan(ctx context.Context, ref string) (*Output, error) {
	if !digestRefRE.MatchString(ref) {
		return nil, fmt.Errorf("scan: %q does not name a digest: scan images by digest (REPO@sha256:…)", ref)
	}
	bin, err := t.binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hallmark-scan-")
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "report.json")
	o := &Output{Started: time.Now().UTC()}
	if _, err := t.run(ctx, bin, "image", "--scanners", "vuln", "--format", "json", "--output", out, "--quiet", "--", ref); err != nil {
		return nil, err
	}
	o.Finished = time.Now().UTC()
	if o.Report, err = os.ReadFile(out); err != nil {
		return nil, fmt.Errorf("scan: trivy wrote no report: %w", err)
	}
	o.Version, o.DBVersion, err = t.version(ctx, bin)
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (t Trivy) binary() (string, error) {
	name := t.Path
	if name == "" {
		name = "trivy"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("scan: %w (%s: %v)", ErrNotInstalled, name, errors.Unwrap(err))
	}
	return bin, nil
}

func (t Trivy) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = t.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("scan: trivy %s: %v%s", args[0], err, tail(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// tail returns the last lines trivy printed, to say why it failed.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return "\n" + strings.Join(lines, "\n")
}

// version asks trivy for its version and its database's.
func (t Trivy) version(ctx context.Context, bin string) (string, string, error) {
	out, err := t.run(ctx, bin, "version", "--format", "json")
	if err != nil {
		return "", "", err
	}
	var v struct {
		Version         string
		VulnerabilityDB *struct {
			Version   int
			UpdatedAt time.Time
		}
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", "", fmt.Errorf("scan: trivy version: %v", err)
	}
	var db string
	if v.VulnerabilityDB != nil && v.VulnerabilityDB.Version != 0 {
		db = fmt.Sprintf("v%d@%s", v.VulnerabilityDB.Version, v.VulnerabilityDB.UpdatedAt.UTC().Format(time.RFC3339))
	}
	return v.Version, db, nil
}
