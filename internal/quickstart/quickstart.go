// Package quickstart runs hallmark's main job end to end on the embedded
// default: an in-process server on a free loopback port, a sample image,
// a fresh key, sign, verify, and a tampered signature that is rejected.
// Each step is reported to a callback; the caller prints.
package quickstart

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
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
	hello, err := push(ctx, host+"/demo/hello:v1", "hello from hallmark")
	if err != nil {
		return err
	}
	other, err := push(ctx, host+"/demo/other:v1", "something else entirely")
	if err != nil {
		return err
	}
	report(Step{
		Title:   "pushed two sample images",
		Detail:  fmt.Sprintf("%s\n%s", hello, other),
		Command: fmt.Sprintf("crane copy YOUR-IMAGE %s/demo/hello:v1", userHost),
	})

	k, err := keys.Generate(keys.ECDSAP256)
	if err != nil {
		return err
	}
	if err := writeKeys(cfg.Dir, k); err != nil {
		return err
	}
	signer, err := sign.NewKeySigner(k)
	if err != nil {
		return err
	}
	report(Step{
		Title:   "generated a signing key (ECDSA P-256, cosign format)",
		Detail:  fmt.Sprintf("%s and %s, fingerprint %s", filepath.Join(cfg.Dir, "cosign.key"), filepath.Join(cfg.Dir, "cosign.pub"), keys.Fingerprint(k.Public())),
		Command: "hallmark generate-key-pair",
	})

	ann := map[string]string{"repo": "example/hello", "workflow": "release"}
	signed, err := ops.SignImage(ctx, client, ops.SignImageRequest{
		Reference: host + "/demo/hello:v1", Annotations: ann, Signer: signer,
	})
	if err != nil {
		return err
	}
	report(Step{
		Title:   "signed the image by digest",
		Detail:  fmt.Sprintf("tag v1 resolved to %s\nsignature stored as OCI referrer %s", signed.Digest, signed.Signed[0].Referrer),
		Command: fmt.Sprintf("hallmark sign --key cosign.key -a repo=example/hello -a workflow=release %s/demo/hello:v1", userHost),
	})

	trusted, err := verify.NewKeys(k.Public())
	if err != nil {
		return err
	}
	policy := verify.ImagePolicy{Authority: trusted, Annotations: map[string]string{"repo": "example/hello"}}
	res, err := ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: host + "/demo/hello:v1", Policy: policy})
	if err != nil {
		return fmt.Errorf("quickstart: verification of the signed image failed: %w", err)
	}
	report(Step{
		Title:   "verified the signature and its annotations",
		Detail:  fmt.Sprintf("%s: %d signature verified with key %s", res.Image, len(res.Verified), res.Verified[0].Signer.KeyFingerprint),
		Command: fmt.Sprintf("hallmark verify --key cosign.pub -a repo=example/hello %s/demo/hello:v1", userHost),
	})

	// Tamper: copy the signature onto the other image's digest.
	helloDigest, err := v1.NewHash(signed.Digest)
	if err != nil {
		return err
	}
	helloRepo, err := name.NewRepository(host + "/demo/hello")
	if err != nil {
		return err
	}
	sigs, err := client.Signatures(ctx, helloRepo, helloDigest)
	if err != nil || len(sigs) == 0 || sigs[0].Bundle == nil {
		return fmt.Errorf("quickstart: read back the signature: %v", err)
	}
	otherRef, err := name.ParseReference(host + "/demo/other:v1")
	if err != nil {
		return err
	}
	otherDigest, otherDesc, err := client.Resolve(ctx, otherRef)
	if err != nil {
		return err
	}
	if _, err := client.AttachBundle(ctx, otherDigest.Context(), otherDesc, sigs[0].Bundle, "https://sigstore.dev/cosign/sign/v1"); err != nil {
		return err
	}
	_, err = ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: host + "/demo/other:v1", Policy: verify.ImagePolicy{Authority: trusted}})
	var nv *verify.NoValidSignatureError
	if !errors.As(err, &nv) {
		return fmt.Errorf("quickstart: a copied signature was not rejected: %v", err)
	}
	report(Step{
		Title:    "copied that signature onto another image: rejected",
		Detail:   err.Error(),
		Command:  fmt.Sprintf("hallmark verify --key cosign.pub %s/demo/other:v1   # exits 1", userHost),
		Rejected: true,
	})

	_, err = ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: host + "/demo/hello:v1",
		Policy: verify.ImagePolicy{Authority: trusted, Annotations: map[string]string{"repo": "evil/fork"}}})
	if !errors.As(err, &nv) {
		return fmt.Errorf("quickstart: a wrong annotation was not rejected: %v", err)
	}
	report(Step{
		Title:    "required an annotation the signer did not sign: rejected",
		Detail:   err.Error(),
		Command:  fmt.Sprintf("hallmark verify --key cosign.pub -a repo=evil/fork %s/demo/hello:v1   # exits 1", userHost),
		Rejected: true,
	})
	if err := keyless(ctx, srv, client, host, userHost, report); err != nil {
		return err
	}
	report(Step{Title: fmt.Sprintf("done in %s", time.Since(start).Round(time.Millisecond))})
	return nil
}

// keyless signs with an identity instead of a key: a token from the
// server's development OIDC issuer is exchanged for a 10-minute certificate,
// the signature goes into the transparency log and gets an RFC 3161
// timestamp, and a consumer verifies it offline from the trusted root with
// the expected identity.
func keyless(ctx context.Context, srv *server.Server, client *store.Client, host, userHost string, report func(Step)) error {
	const subject = "release-bot@example.com"
	issuer := srv.URL() + "/oidc"
	token, err := srv.DevIssuer().Mint(subject, "sigstore", 10*time.Minute, nil)
	if err != nil {
		return err
	}
	report(Step{
		Title:   "got an OIDC identity token from the built-in issuer",
		Detail:  fmt.Sprintf("subject %s, issuer %s (a CI job would use its own token)", subject, issuer),
		Command: fmt.Sprintf("hallmark dev-token --server http://%s --subject %s > token.txt   # serve with --dev-oidc", userHost, subject),
	})
	sc, err := root.NewSigningConfigFromJSON(srv.SigningConfig())
	if err != nil {
		return err
	}
	tr, err := verify.ParseTrustedRoot(srv.TrustedRoot())
	if err != nil {
		return err
	}
	opts, err := sign.Services{Config: sc, TrustedRoot: tr, IDToken: token, Log: true, Timestamp: true}.Options(time.Now())
	if err != nil {
		return err
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return err
	}
	if _, err := push(ctx, host+"/demo/keyless:v1", "signed without a key"); err != nil {
		return err
	}
	signed, err := ops.SignImage(ctx, client, ops.SignImageRequest{
		Reference: host + "/demo/keyless:v1", Annotations: map[string]string{"repo": "example/keyless"}, Signer: kp, Options: opts,
	})
	if err != nil {
		return err
	}
	report(Step{
		Title:   "signed keylessly: certificate from the CA, entry in the log, RFC 3161 timestamp",
		Detail:  fmt.Sprintf("%s\nsignature %s", signed.Signed[0].Image, signed.Signed[0].Referrer),
		Command: fmt.Sprintf("hallmark sign --identity-token token.txt --server http://%s %s/demo/keyless:v1", userHost, userHost),
	})
	k, err := verify.NewKeyless(tr, verify.Identity{Issuer: issuer, Subject: subject})
	if err != nil {
		return err
	}
	res, err := ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: host + "/demo/keyless:v1", Policy: verify.ImagePolicy{Authority: k}})
	if err != nil {
		return fmt.Errorf("quickstart: keyless verification failed: %w", err)
	}
	v := res.Verified[0].Signer
	report(Step{
		Title:   "verified offline from the trusted root, for the expected identity",
		Detail:  fmt.Sprintf("identity %s from %s; %d log entry; timestamps %d", v.Subject, v.Issuer, v.LogEntries, len(v.Timestamps)),
		Command: fmt.Sprintf("hallmark trust export --data ./hallmark-data --out trust && hallmark verify --trusted-root trust/trusted_root.json --certificate-identity %s --certificate-oidc-issuer http://%s/oidc %s/demo/keyless:v1", subject, userHost, userHost),
	})
	mallory, err := verify.NewKeyless(tr, verify.Identity{Issuer: issuer, SubjectRegexp: "release-bot"})
	if err != nil {
		return err
	}
	_, err = ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: host + "/demo/keyless:v1", Policy: verify.ImagePolicy{Authority: mallory}})
	var nv *verify.NoValidSignatureError
	if !errors.As(err, &nv) {
		return fmt.Errorf("quickstart: a partial identity regexp was not rejected: %v", err)
	}
	report(Step{
		Title:    "an identity regexp that matches only part of the identity: rejected (cosign would accept it)",
		Detail:   err.Error(),
		Command:  fmt.Sprintf("hallmark verify --trusted-root trust/trusted_root.json --certificate-identity-regexp release-bot --certificate-oidc-issuer http://%s/oidc %s/demo/keyless:v1   # exits 1", userHost, userHost),
		Rejected: true,
	})
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

// writeKeys writes the key pair as a user would have it (empty password).
func writeKeys(dir string, k crypto.Signer) error {
	priv, err := keys.EncryptPrivateKey(k, nil)
	if err != nil {
		return err
	}
	pub, err := keys.MarshalPublicKey(k.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cosign.key"), priv, 0o600); err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cosign.pub"), pub, 0o644); err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	return nil
}
