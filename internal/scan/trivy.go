// Package scan runs a vulnerability scanner on a container image and
// returns its report for the gate (hallmark.dev/gate).
//
// Only trivy is run, as `trivy image --scanners vuln --format json` on
// an image named by digest: the vulnerability scanner alone, so that a
// secret or misconfiguration finding cannot trip a CVE gate.
//
// The gate, not trivy, decides what blocks, so trivy must report every
// vulnerability it finds: it runs with an empty configuration file (not
// ./trivy.yaml), no ignore file (not ./.trivyignore), every severity and
// both package types, and only those of its TRIVY_* environment variables
// that say where to find things (cache and database, registry and
// credentials, image source, offline mode, output noise): TRIVY_SEVERITY,
// TRIVY_IGNORE_UNFIXED, TRIVY_SKIP_FILES and the like are dropped.
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
	// Target, if set, is called with the reference once trivy is found
	// and before it runs; an error stops the scan (the caller refuses an
	// image index there, of which trivy would scan one platform).
	Target func(ctx context.Context, ref string) error
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
	if t.Target != nil {
		if err := t.Target(ctx, ref); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "hallmark-scan-")
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "report.json")
	// An empty configuration and an empty ignore file, in place of any
	// in the working directory.
	config, ignore := filepath.Join(dir, "trivy.yaml"), filepath.Join(dir, "empty.trivyignore")
	for _, f := range []string{config, ignore} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
	}
	o := &Output{Started: time.Now().UTC()}
	_, err = t.run(ctx, bin, "image", "--config", config, "--ignorefile", ignore,
		"--scanners", "vuln", "--severity", "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL", "--pkg-types", "os,library",
		"--exit-code", "0", "--format", "json", "--output", out, "--quiet", "--", ref)
	if err != nil {
		return nil, err
	}
	o.Finished = time.Now().UTC()
	if o.Report, err = os.ReadFile(out); err != nil {
		return nil, fmt.Errorf("scan: trivy wrote no report: %w", err)
	}
	o.Version, o.DBVersion, err = t.version(ctx, bin, config)
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
	env := t.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = trivyEnv(env)
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
func (t Trivy) version(ctx context.Context, bin, config string) (string, string, error) {
	out, err := t.run(ctx, bin, "version", "--config", config, "--format", "json")
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

// trivySettings are the TRIVY_* variables that say where and how to fetch,
// not what to report.
var trivySettings = map[string]bool{
	"CACHE_DIR": true, "DB_REPOSITORY": true, "JAVA_DB_REPOSITORY": true,
	"SKIP_DB_UPDATE": true, "SKIP_JAVA_DB_UPDATE": true, "OFFLINE_SCAN": true,
	"USERNAME": true, "PASSWORD": true, "REGISTRY_TOKEN": true, "INSECURE": true,
	"IMAGE_SRC": true, "PLATFORM": true, "DOCKER_HOST": true, "PODMAN_HOST": true, "TIMEOUT": true,
	"QUIET": true, "NO_PROGRESS": true, "DEBUG": true, "SKIP_VERSION_CHECK": true, "DISABLE_TELEMETRY": true,
}

// trivyEnv drops the TRIVY_* variables that could narrow the report.
func trivyEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, "TRIVY_"); ok && !trivySettings[name] {
			continue
		}
		out = append(out, kv)
	}
	return out
}
