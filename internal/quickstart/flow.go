package quickstart

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/attest"
	"hallmark.dev/gate"
	"hallmark.dev/internal/buildenv"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/policyops"
	"hallmark.dev/internal/server"
	"hallmark.dev/oci/store"
	hpolicy "hallmark.dev/policy"
	"hallmark.dev/sign"
	"hallmark.dev/signpolicy"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// gatePolicyCUE is the consumer's policy over the gate attestation, as
// cosign verify-attestation --policy takes it.
const gatePolicyCUE = `predicate: scanner: result: passed: true`

// releaseBot is the release workflow's identity: it signs the release and
// writes the signing policy.
const releaseBot = "release-bot@runner-images.example"

// seed000 runs the release flow of a team whose posture is "a valid
// signature means the image passed the CVE gate": gate, refuse, document an
// exception, release keylessly with SBOM, provenance and gate result, then
// verify as a consumer, and reject what must be rejected. With git and
// ssh-keygen, the release is under seed 002's signing policy too: refused
// with one maintainer's approval, allowed after a second's, the provenance
// recording the policy, which the consumer requires.
func seed000(ctx context.Context, dir string, srv *server.Server, client *store.Client, host, userHost string, report func(Step)) error {
	now := time.Now()
	userServer := "http://" + userHost
	// Keyless signing with the built-in OIDC issuer.
	// The built-in issuer vouches for email identities; a GitHub Actions
	// token would name the workflow (https://github.com/…/build.yml@refs/tags/…).
	const subject = releaseBot
	issuer := srv.URL() + "/oidc"
	token, err := srv.DevIssuer().Mint(subject, "sigstore", 10*time.Minute, nil)
	if err != nil {
		return err
	}
	sc, err := root.NewSigningConfigFromJSON(srv.SigningConfig())
	if err != nil {
		return err
	}
	tr, err := verify.ParseTrustedRoot(srv.TrustedRoot())
	if err != nil {
		return err
	}
	signer, err := sign.New(sign.Config{IDToken: token, SigningConfig: sc, TrustedRoot: tr, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	// The source under its signing policy, when git and ssh-keygen are
	// there to sign its tag, set up beside the image: the repository, the
	// policy, and the first maintainer's approval.
	var setup *policySetup
	missing := missingTools()
	if len(missing) == 0 {
		setup = startPolicySetup(ctx, dir, srv, sc, tr, signer, signpolicy.Identity{Issuer: issuer, Subject: subject}, userServer+"/oidc")
		defer setup.wait()
	}

	imageRef := host + "/runner-ubuntu:" + sampleTag
	image, err := push(ctx, imageRef, "runner image built from "+sampleRepo)
	if err != nil {
		return err
	}
	other, err := push(ctx, host+"/runner-ubuntu:unsigned", "an image nobody released")
	if err != nil {
		return err
	}
	d, err := name.NewDigest(image)
	if err != nil {
		return err
	}
	report(Step{
		Title:   "pushed the sample image to the embedded registry",
		Detail:  image,
		Command: fmt.Sprintf("crane copy YOUR-IMAGE %s/runner-ubuntu:%s", userHost, sampleTag),
	})
	var src *source
	if setup != nil {
		if src, err = setup.source(); err != nil {
			return err
		}
	}
	lookup := lookupSample
	if src != nil {
		// The provenance names the commit the tag and the approvals are about.
		lookup = func(k string) (string, bool) {
			if k == "GITHUB_SHA" {
				return src.commit, true
			}
			return lookupSample(k)
		}
	}

	// The CVE gate: the scan report of this very digest.
	reportJSON, err := trivyReport(image, now)
	if err != nil {
		return err
	}
	policy := gate.DefaultPolicy()
	exceptionsYAML := exceptions(now.AddDate(0, 0, 30))
	sbomJSON, err := cycloneDX(d.Context().Name(), d.DigestStr(), 400)
	if err != nil {
		return err
	}
	b, err := buildenv.Detect(buildenv.SourceGitHub, lookup, nil)
	if err != nil {
		return err
	}
	prov, err := b.Predicate()
	if err != nil {
		return err
	}
	// The inputs, as files: the release reads the report and the
	// exceptions from them, and the commands printed at the end name them.
	for name, data := range map[string][]byte{
		"trivy.json": reportJSON, ".trivyignore.yaml": exceptionsYAML, "sbom.cdx.json": sbomJSON,
		"gate-passed.cue": []byte(gatePolicyCUE + "\n"), "provenance.json": prov,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("quickstart: %w", err)
		}
	}

	const logLimit = 16 << 10
	release := func(exceptionsPath string) (*ops.ReleaseResult, error) {
		req := ops.ReleaseRequest{
			Reference: imageRef, SBOM: sbomJSON, Provenance: prov,
			Gate:       ops.GateRequest{ReportPath: filepath.Join(dir, "trivy.json"), ExceptionsPath: exceptionsPath},
			Invocation: gate.Invocation{URI: "https://github.com/" + sampleRepo + "/actions/runs/4242"},
			Signer:     signer.Keypair, Options: signer.Options, TimestampOnly: signer.TimestampOnly, LogLimit: logLimit,
		}
		if src != nil {
			req.BeforeSign = src.check
		}
		return ops.Release(ctx, client, req)
	}
	// Commands name what a user would type against hallmark serve.
	userRef := func(r string) string { return strings.Replace(r, host, userHost, 1) }
	releaseCmd := fmt.Sprintf("hallmark release --identity-token token.txt --server %s --report trivy.json --sbom sbom.cdx.json --provenance provenance.json", userServer)
	if src != nil {
		releaseCmd += fmt.Sprintf(" --source-repo %s --git-dir %s/.git --tag %s --policy-writer %s/oidc=%s", src.repo, sourceDir, sampleTag, userServer, releaseBot)
	}

	report(Step{
		Title:   "got an OIDC identity token from the built-in issuer (a CI job uses its own)",
		Detail:  fmt.Sprintf("subject %s, issuer %s", subject, issuer),
		Command: fmt.Sprintf("hallmark dev-token --server %s --subject %s > token.txt", userServer, subject),
	})
	if src == nil {
		report(Step{Title: fmt.Sprintf("skipped the signing policy steps (a release refused with one maintainer's approval, allowed after a second's): %s not installed, and they sign the release tag",
			strings.Join(missing, " and "))})
	} else {
		report(Step{
			Title:   "tagged the source commit " + sampleTag + ", signed with an SSH key (in production, the release key lives in an HSM)",
			Detail:  fmt.Sprintf("commit %s in %s\nrelease key %s", src.commit, filepath.Join(dir, sourceDir), filepath.Join(dir, tagKeyFile+".pub")),
			Command: fmt.Sprintf("git -C %s -c gpg.format=ssh -c user.signingkey=../%s tag -s -f -m 'release %s' %s   # %s/ and %s (ssh-keygen -t ed25519) are in the working directory", sourceDir, tagKeyFile, sampleTag, sampleTag, sourceDir, tagKeyFile),
		})
		pub, first, err := setup.published()
		if err != nil {
			return err
		}
		report(Step{
			Title: "the release identity, the policy writer, published the signing policy of " + src.repo + ": the tag signed by release-key, two of alice and bob approve, the gate passed",
			Detail: fmt.Sprintf("version %d (%s), log index %d\n%s names the issuer of hallmark serve at %s", pub.Version, pub.Digest, pub.LogIndex,
				filepath.Join(dir, policyFile), userHost),
			Command: fmt.Sprintf("hallmark policy publish --server %s --repo %s --policy %s --identity-token token.txt", userServer, src.repo, policyFile),
		})
		src.reportApproval(report, userServer, maintainers[0], first)
	}
	report(Step{
		Title:   "a trivy report of that digest (a sample: a fixable HIGH and an unfixed CRITICAL in OS packages, a HIGH in a Python package)",
		Detail:  filepath.Join(dir, "trivy.json"),
		Command: fmt.Sprintf("trivy image --scanners vuln --format json --output trivy.json %s   # or let release --scan run it", userRef(image)),
	})
	blocked, refused := release("")
	if refused == nil {
		return errors.New("quickstart: the gate let a fixable HIGH through")
	}
	refusal := refused.Error()
	if blocked != nil && blocked.Gate != nil && !blocked.Gate.Passed {
		var ids []string
		for _, b := range blocked.Gate.Blocking {
			ids = append(ids, fmt.Sprintf("%s in %s %s (fixed in %s, %s)", b.ID, b.Package, b.InstalledVersion, b.FixedVersion, b.Severity))
		}
		refusal = fmt.Sprintf("gate: %d blocking finding(s): %s; nothing was signed", len(ids), strings.Join(ids, "; "))
	}
	id, err := verify.NewAuthority(verify.AuthorityConfig{Identities: []verify.Identity{{Issuer: issuer, Subject: subject}}, TrustedRoot: tr})
	if err != nil {
		return err
	}
	if _, verr := ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: image, Policy: verify.ImagePolicy{Authority: id}}); verr == nil || !strings.Contains(verr.Error(), "no signatures") {
		return fmt.Errorf("quickstart: a refused release left a signature: %v", verr)
	}
	report(Step{
		Title:    "release refused by the CVE gate (fixable HIGH in an OS package): nothing signed",
		Detail:   refusal + "\n(the unfixed CRITICAL and the Python HIGH do not block under seed 000's policy: fixable, OS packages, HIGH+CRITICAL)",
		Command:  releaseCmd + fmt.Sprintf(" %s   # exits 1", userRef(imageRef)),
		Rejected: true,
	})

	if src != nil {
		denied, refused := release(filepath.Join(dir, ".trivyignore.yaml"))
		var de *policyops.DeniedError
		if !errors.As(refused, &de) {
			return fmt.Errorf("quickstart: the signing policy let a release with one approval through: %v", refused)
		}
		if _, verr := ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: image, Policy: verify.ImagePolicy{Authority: id}}); verr == nil || !strings.Contains(verr.Error(), "no signatures") {
			return fmt.Errorf("quickstart: a release the signing policy refused left a signature: %v", verr)
		}
		report(Step{
			Title:    "release refused by the signing policy (one maintainer approved): nothing signed",
			Detail:   fmt.Sprintf("%s\napprovals verified: %s; tag %s signed by %s", refused, strings.Join(denied.SigningPolicy.Evaluation.Input.Approvals, ", "), sampleTag, denied.SigningPolicy.Evaluation.Input.Tag.Signer),
			Command:  releaseCmd + fmt.Sprintf(" --exceptions .trivyignore.yaml %s   # exits 1", userRef(imageRef)),
			Rejected: true,
		})
		second, err := src.approve(ctx, srv, sc, tr, maintainers[1])
		if err != nil {
			return err
		}
		src.reportApproval(report, userServer, maintainers[1], second)
	}
	res, err := release(filepath.Join(dir, ".trivyignore.yaml"))
	if err != nil {
		return fmt.Errorf("quickstart: release: %w", err)
	}
	var lines []string
	for _, a := range res.Attached {
		l := fmt.Sprintf("%-10s %s", a.Kind, a.PredicateType)
		if a.TimestampOnly {
			l += fmt.Sprintf("  (%d KiB: timestamped, not logged)", a.Size>>10)
		}
		lines = append(lines, l)
	}
	title := "documented an exception (statement + expiry), released keylessly: signed, then gate result, SBOM and provenance attested"
	if rec := res.SigningPolicy.Record(); rec != nil {
		title = "released keylessly once two maintainers approved: signed, then gate result, SBOM and provenance attested"
		lines = append(lines, fmt.Sprintf("allowed by version %d of the signing policy (%s), approved by %s; the provenance records it", rec.Version, rec.Digest, strings.Join(res.SigningPolicy.Evaluation.Input.Approvals, " and ")))
	}
	report(Step{
		Title:   title,
		Detail:  fmt.Sprintf("identity %s from the built-in issuer\n%s", subject, strings.Join(lines, "\n")),
		Command: releaseCmd + fmt.Sprintf(" --exceptions .trivyignore.yaml %s", userRef(imageRef)),
	})

	// The consumer, offline from the trusted root.
	vres, err := ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: image, Policy: verify.ImagePolicy{Authority: id}})
	if err != nil {
		return fmt.Errorf("quickstart: verify: %w", err)
	}
	sg := vres.Verified[0].Signer
	verifyFlags := fmt.Sprintf("--trusted-root trust/trusted_root.json --certificate-identity %s --certificate-oidc-issuer %s/oidc", subject, userServer)
	report(Step{
		Title:   "consumer: verified the signature for the release workflow's identity",
		Detail:  fmt.Sprintf("%s\nidentity %s; %d log entry; signed timestamp", vres.Image, sg.Subject, sg.LogEntries),
		Command: fmt.Sprintf("hallmark trust export --data ./hallmark-data --out trust && hallmark verify %s %s", verifyFlags, userRef(image)),
	})
	gatePolicy, err := hpolicy.Parse("gate-passed.cue", []byte(gatePolicyCUE))
	if err != nil {
		return err
	}
	gateCheck, err := gate.NewCheck(gate.AttestationRequirements{MaxAge: 7 * 24 * time.Hour, PolicyDigest: policy.Digest()})
	if err != nil {
		return err
	}
	gres, err := ops.VerifyAttestations(ctx, client, ops.VerifyAttestationsRequest{Reference: image,
		Policy: verify.AttestationPolicy{Authority: id, PredicateType: attest.PredicateVuln}, Checks: []hpolicy.Check{gatePolicy, gateCheck}})
	if err != nil {
		return fmt.Errorf("quickstart: verify the gate attestation: %w", err)
	}
	report(Step{
		Title: "consumer: verified the gate attestation: the image passed, within 7 days, under the expected gate policy",
		Detail: fmt.Sprintf("%d gate attestation verified; gate policy %s; exception CVE-2099-1001 until %s\nCUE policy gate-passed.cue: passed (%s)",
			len(gres.Verified), policy.Digest(), now.AddDate(0, 0, 30).UTC().Format(time.DateOnly), strings.Join(strings.Fields(gatePolicyCUE), " ")),
		Command: fmt.Sprintf("hallmark verify-attestation --type vuln --gate-max-age 7d --gate-policy-digest %s --policy gate-passed.cue %s %s", policy.Digest(), verifyFlags, userRef(image)),
	})
	req := slsa.Requirements{SourceURI: "github.com/" + sampleRepo, SourceTag: sampleTag}
	preq := ops.VerifyImageProvenanceRequest{Reference: image, Authority: id, Requirements: req}
	provTitle, provDetail, provFlags := "consumer: verified the provenance: built from github.com/"+sampleRepo+" at tag "+sampleTag, "", ""
	if src != nil {
		check, err := signpolicy.NewProvenanceCheck(src.digest)
		if err != nil {
			return err
		}
		preq.Checks = []hpolicy.Check{check}
		provTitle += ", allowed by the signing policy"
		provDetail = fmt.Sprintf("\nsigning policy %s (the commands name the digest of %s)", src.digest, policyFile)
		provFlags = " --signing-policy-digest " + src.userDigest
	}
	pres, err := ops.VerifyImageProvenance(ctx, client, preq)
	if err != nil {
		return fmt.Errorf("quickstart: verify provenance: %w", err)
	}
	report(Step{
		Title:   provTitle,
		Detail:  fmt.Sprintf("%d provenance statement verified; builder %s%s", len(pres.Verified), b.BuilderID, provDetail),
		Command: fmt.Sprintf("hallmark verify-provenance --source-uri github.com/%s --source-tag %s%s %s %s", sampleRepo, sampleTag, provFlags, verifyFlags, userRef(image)),
	})
	tsID, err := verify.NewAuthority(verify.AuthorityConfig{Identities: []verify.Identity{{Issuer: issuer, Subject: subject}}, TrustedRoot: tr, InsecureIgnoreTlogUnsafe: true})
	if err != nil {
		return err
	}
	sres, err := ops.VerifyAttestations(ctx, client, ops.VerifyAttestationsRequest{Reference: image, Policy: verify.AttestationPolicy{Authority: tsID, PredicateType: attest.PredicateCycloneDX}})
	if err != nil {
		return fmt.Errorf("quickstart: verify the SBOM: %w", err)
	}
	report(Step{
		Title:   "consumer: verified the SBOM attestation by its RFC 3161 timestamp (too large for the log)",
		Detail:  fmt.Sprintf("%d CycloneDX attestation verified, %d KiB", len(sres.Verified), len(sbomJSON)>>10),
		Command: fmt.Sprintf("hallmark verify-attestation --type cyclonedx --insecure-ignore-tlog %s %s", verifyFlags, userRef(image)),
	})

	// What must be rejected.
	_, err = ops.VerifyImageProvenance(ctx, client, ops.VerifyImageProvenanceRequest{Reference: image, Authority: id,
		Requirements: slsa.Requirements{SourceURI: "github.com/" + sampleRepo, SourceTag: "v20250101"}})
	if err == nil {
		return errors.New("quickstart: provenance for another tag was accepted")
	}
	report(Step{
		Title:    "asked for another release tag than the one built: rejected",
		Detail:   err.Error(),
		Command:  fmt.Sprintf("hallmark verify-provenance --source-uri github.com/%s --source-tag v20250101 %s %s   # exits 1", sampleRepo, verifyFlags, userRef(image)),
		Rejected: true,
	})
	if err := copySignature(ctx, client, d, other); err != nil {
		return err
	}
	_, err = ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: other, Policy: verify.ImagePolicy{Authority: id}})
	var nv *verify.NoValidSignatureError
	if !errors.As(err, &nv) {
		return fmt.Errorf("quickstart: a copied signature was not rejected: %v", err)
	}
	report(Step{
		Title:    "copied the release signature onto an unreleased image: rejected",
		Detail:   err.Error(),
		Command:  fmt.Sprintf("hallmark verify %s %s   # exits 1", verifyFlags, userRef(other)),
		Rejected: true,
	})
	wide, err := verify.NewAuthority(verify.AuthorityConfig{Identities: []verify.Identity{{Issuer: issuer, SubjectRegexp: "release-bot"}}, TrustedRoot: tr})
	if err != nil {
		return err
	}
	_, err = ops.VerifyImage(ctx, client, ops.VerifyImageRequest{Reference: image, Policy: verify.ImagePolicy{Authority: wide}})
	if !errors.As(err, &nv) {
		return fmt.Errorf("quickstart: a partial identity regexp was not rejected: %v", err)
	}
	report(Step{
		Title:    "an identity regexp that matches only part of the identity: rejected (cosign would accept it)",
		Detail:   err.Error(),
		Command:  fmt.Sprintf("hallmark verify --trusted-root trust/trusted_root.json --certificate-identity-regexp release-bot --certificate-oidc-issuer %s/oidc %s   # exits 1", userServer, userRef(image)),
		Rejected: true,
	})
	return nil
}

// copySignature attaches the image's signature bundle to another image, as
// an attacker with registry write access would.
func copySignature(ctx context.Context, client *store.Client, from name.Digest, to string) error {
	h, err := v1.NewHash(from.DigestStr())
	if err != nil {
		return err
	}
	sigs, err := client.Signatures(ctx, from.Context(), h)
	if err != nil || len(sigs) == 0 || sigs[0].Bundle == nil {
		return fmt.Errorf("quickstart: read back the signature: %v", err)
	}
	toRef, err := name.ParseReference(to)
	if err != nil {
		return err
	}
	toDigest, toDesc, err := client.Resolve(ctx, toRef)
	if err != nil {
		return err
	}
	_, err = client.AttachBundle(ctx, toDigest.Context(), toDesc, sigs[0].Bundle, attest.CosignSignPredicateType)
	return err
}
