// Package quickstart runs hallmark's main job end to end on the embedded
// default, the release flow of seed 000: an in-process stack on a free
// loopback port, a sample image, the CVE gate refusing it, a documented
// exception, a keyless release (signature, then gate result, SBOM and
// provenance attestations), a consumer's verification, and the tampering
// and over-broad policies that must be rejected.
// Each step is reported to a callback; the caller prints.
package quickstart

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
	"hallmark.dev/oci/store"
)

// Step is one thing the quickstart did.
type Step struct {
	// Title says what was done.
	Title string
	// Detail is the outcome, one or more lines.
	Detail string
	// Command is what a user types to do the same, if any.
	Command string
	// Rejected is true for a step whose point is a refusal.
	Rejected bool
}

// Config configures a run.
type Config struct {
	// Dir is a working directory for the server's data and the key files.
	Dir string
	// Report receives each step.
	Report func(Step)
}

// Run runs the quickstart.
func Run(ctx context.Context, cfg Config) error {
	report := cfg.Report
	if report == nil {
		report = func(Step) {}
	}
	start := time.Now()
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(cfg.Dir, "data"), DevOIDC: true})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	host := srv.Addr().String()
	// Commands name the address `hallmark serve` listens on by default.
	const userHost = server.DefaultAddr
	report(Step{
		Title:   "started the private stack: registry, CA, transparency log, timestamp authority, OIDC issuer",
		Detail:  fmt.Sprintf("http://%s/v2/ (data in %s)", host, filepath.Join(cfg.Dir, "data")),
		Command: "hallmark serve --data ./hallmark-data --addr 127.0.0.1:5005 --dev-oidc",
	})

	client := store.New(store.Options{Timeout: 10 * time.Second})
	if err := seed000(ctx, cfg.Dir, srv, client, host, userHost, report); err != nil {
		return err
	}
	report(Step{Title: fmt.Sprintf("done in %s", time.Since(start).Round(time.Millisecond))})
	return nil
}

func push(ctx context.Context, ref, text string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	img, err := sample.Image(text, "linux", "amd64")
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("quickstart: push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return r.Context().Digest(d.String()).String(), nil
}
