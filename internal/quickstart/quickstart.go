// Package quickstart runs hallmark's main job end to end on the embedded
// default, the release flow of seed 000: an in-process stack on a free
// loopback port, a sample image, the CVE gate refusing it, a documented
// exception, a keyless release (signature, then gate result, SBOM and
// provenance attestations), a consumer's verification, and the tampering
// and over-broad policies that must be rejected. With git and ssh-keygen
// installed, the release is also under seed 002's signing policy: the
// source's tag signed with an SSH key, the policy published by the release
// identity, the release refused with one maintainer's approval and
// allowed after a second's, and the provenance recording the policy.
// Each step is reported to a callback; the caller prints.
package quickstart

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
	"hallmark.dev/oci/store"
	"hallmark.dev/signpolicy"
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
	srv, err := startServer(ctx, filepath.Join(cfg.Dir, "data"))
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
		Command: fmt.Sprintf("hallmark serve --data ./hallmark-data --addr %s --dev-oidc --policy-writer http://%s/oidc=%s", userHost, userHost, releaseBot),
	})

	client := store.New(store.Options{Timeout: 10 * time.Second})
	if err := seed000(ctx, cfg.Dir, srv, client, host, userHost, report); err != nil {
		return err
	}
	report(Step{Title: fmt.Sprintf("done in %s", time.Since(start).Round(time.Millisecond))})
	return nil
}

// startServer starts the stack on a free loopback port, with the release
// identity of the server's own issuer as the signing policy writer: the
// port is reserved first to know the issuer's URL, and taken again if
// another process takes it in between.
func startServer(ctx context.Context, dataDir string) (*server.Server, error) {
	var err error
	for range 3 {
		var l net.Listener
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("quickstart: %w", err)
		}
		addr := l.Addr().String()
		if err = l.Close(); err != nil {
			return nil, fmt.Errorf("quickstart: %w", err)
		}
		cfg := server.Config{Addr: addr, DataDir: dataDir, DevOIDC: true}
		cfg.SigningPolicy.Writers = []signpolicy.Identity{{Issuer: "http://" + addr + "/oidc", Subject: releaseBot}}
		var srv *server.Server
		if srv, err = server.New(ctx, cfg); err == nil {
			return srv, nil
		}
	}
	return nil, err
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
