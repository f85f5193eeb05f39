package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/buildenv"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/policyops"
)

func releaseCmd(e *env) *cobra.Command {
	var (
		sf          signingFlags
		rf          registryFlags
		gf          gateFlags
		report      string
		scanImage   bool
		sbomPath    string
		provenance  string
		annotations []string
		repository  string
		logLimit    int
		output      string
		pf          policyReadFlags
		sourceRepo  string
		gitDir, tag string
		requirePol  bool
	)
	cmd := &cobra.Command{
		Use:   "release IMAGE (--report R.json | --scan) [--sbom SBOM.json] [--provenance FILE|auto] [--exceptions .trivyignore.yaml] (--key KEY | --identity-token T --server URL) [--server URL --source-repo URI --git-dir DIR --tag TAG (--policy-writer-key FILE | --policy-writer ISSUER=SUBJECT)]",
		Short: "Gate an image on its scan, then sign it and attest its SBOM, provenance and gate result",
		Long: `Release an image in the only safe order: resolve its digest once, gate the
scan report of that digest (refusing a report for another digest), check the
SBOM and the provenance, and only if all of that passes, sign the image and
attach the gate result (cosign's vuln predicate), the SBOM and the provenance
as attestations. Nothing is signed when any step before signing fails.

With --source-repo, the release is also checked against the source
repository's signing policy, stored on --server (as hallmark policy check
does: the tag in --git-dir signed by a named key, named approvals of its
commit, verified scans, among them this release's gate result), after the
gate and before signing: a denial signs nothing. The provenance attached
(--provenance) records the policy version that allowed the release, at
buildDefinition.internalParameters["https://hallmark.dev/signing-policy/v1"];
consumers require it with verify-provenance --signing-policy-digest. A
provenance file that carries that record already is refused. A repository
with no published policy is released with a notice, unless
--require-signing-policy.

Attestations larger than --tlog-limit are timestamped instead of logged
(verify them with --insecure-ignore-tlog), as for an SBOM too large for a
public log. Running the release again on the same digest (a weekly rebuild)
re-checks the exceptions and attaches a fresh set.`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if (report == "") == !scanImage {
				return withHint(errors.New("give exactly one of --report and --scan"),
					"--report REPORT.json gates a trivy or grype report of the image; --scan runs trivy on the image's digest")
			}
			ann, err := parseAnnotations(annotations)
			if err != nil {
				return err
			}
			req := ops.ReleaseRequest{Reference: args[0], Repository: e.repository(repository), Annotations: ann, LogLimit: logLimit}
			if sbomPath != "" {
				if req.SBOM, err = os.ReadFile(sbomPath); err != nil {
					return fmt.Errorf("read sbom: %w", err)
				}
			}
			switch provenance {
			case "":
			case "auto":
				if req.Provenance, err = e.autoProvenance(cmd.Context()); err != nil {
					return err
				}
			default:
				if req.Provenance, err = os.ReadFile(provenance); err != nil {
					return fmt.Errorf("read provenance: %w", err)
				}
			}
			s, err := e.signer(cmd.Context(), &sf, rf.allowHTTP)
			if err != nil {
				return err
			}
			req.Signer, req.Options, req.TimestampOnly = s.Keypair, s.Options, s.TimestampOnly
			stateDir := ""
			if sourceRepo != "" {
				if stateDir, err = e.stateDir(pf.stateDir); err != nil {
					return err
				}
			}
			check, err := policyops.NewReleasePolicy(cmd.Context(), policyops.ReleaseCheckConfig{
				SourceConfig: policyops.SourceConfig{Server: sf.server, AllowHTTP: rf.allowHTTP, WriterKeyPaths: pf.writerKeys, Writers: pf.writers, StateDir: stateDir},
				Repository:   sourceRepo, GitDir: gitDir, Tag: tag, Require: requirePol,
			})
			if errors.Is(err, policyops.ErrIncompleteReleaseCheck) {
				return withHint(err, "a signing policy check needs --source-repo URI, --git-dir DIR, --tag TAG and --server URL (the hallmark server that stores the policy)")
			}
			if err != nil {
				return policySourceError(err)
			}
			if check != nil {
				req.BeforeSign = check
			}
			req.Gate, req.ScanImage = gf.request(ops.GateRequest{ReportPath: report}), scanImage
			req.Events = func(ev ops.Event) {
				switch {
				case ev.Kind == ops.EventGated:
					e.warnExpiring(ev.Gate)
					if output == "text" {
						e.printGate(ev.Gate)
					}
				case ev.Kind == ops.EventSigningPolicy && ev.SigningPolicy != nil:
					if output == "text" {
						e.printf("\n")
						e.printCheck(ev.SigningPolicy)
					}
					if ev.SigningPolicy.Verdict == policyops.VerdictNoPolicy && !requirePol {
						e.info("notice: %s has no published signing policy: released without a signing policy check", ev.SigningPolicy.Repository)
					}
				}
			}
			res, err := ops.Release(cmd.Context(), rf.client(), req)
			if output == "json" {
				var v any = res
				if res == nil {
					v = struct{}{}
				}
				if jerr := e.json(v); jerr != nil {
					return jerr
				}
			} else if res != nil {
				e.printRelease(res)
			}
			if err != nil && res != nil && res.Gate != nil && !res.Gate.Passed {
				return withHint(err, "update the packages and rebuild, or record a reviewed exception (id, statement, expired_at) in .trivyignore.yaml")
			}
			if err != nil && (res == nil || res.Gate == nil) {
				return gf.error(err)
			}
			if err != nil {
				return signingPolicyError(err, sourceRepo)
			}
			if r := res.SigningPolicy.Record(); r != nil && !res.RecordsSigningPolicy() {
				e.info("notice: no provenance attached: nothing a consumer can check records that version %d (%s) of the signing policy allowed this release; pass --provenance auto or FILE", r.Version, r.Digest)
			}
			return nil
		},
	}
	sf.bind(cmd)
	rf.bind(cmd)
	gf.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&report, "report", "", "a trivy (JSON, schema 2) or grype (JSON) report of the image's digest")
	f.BoolVar(&scanImage, "scan", false, "scan the image's digest with trivy (--scanners vuln) instead of reading --report")
	f.StringVar(&sbomPath, "sbom", "", "a CycloneDX or SPDX JSON SBOM of the image, attested after checking it names this image")
	f.StringVar(&provenance, "provenance", "", "a SLSA v1 provenance predicate file, or auto to write one from the CI environment or the local checkout")
	f.StringArrayVarP(&annotations, "annotations", "a", nil, "key=value signed with the image signature (repeatable)")
	f.StringVar(&repository, "repository", "", "store signatures and attestations in this repository (also HALLMARK_REPOSITORY)")
	f.IntVar(&logLimit, "tlog-limit", 128<<10, "attestations larger than this many bytes get a signed timestamp instead of a log entry")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	f.StringVar(&sourceRepo, "source-repo", "", "check the release against this source repository's signing policy (git.example.com/acme/app), stored on --server")
	f.StringVar(&gitDir, "git-dir", "", "with --source-repo: the local git repository the tag is read from (its .git directory, or a bare repository)")
	f.StringVar(&tag, "tag", "", "with --source-repo: the release tag")
	f.BoolVar(&requirePol, "require-signing-policy", false, "with --source-repo: refuse to release when the repository has no published signing policy")
	pf.bindWriter(cmd)
	return cmd
}

// autoProvenance writes a SLSA v1 predicate from the CI environment, or
// the local checkout in the current directory.
func (e *env) autoProvenance(ctx context.Context) ([]byte, error) {
	b, err := buildenv.Detect(buildenv.SourceAuto, e.lookupEnv, buildenv.WorkingCheckout(ctx))
	if errors.Is(err, buildenv.ErrNotCheckout) || errors.Is(err, exec.ErrNotFound) {
		return nil, withHint(fmt.Errorf("--provenance auto: %w", err), "run in CI (GitHub Actions, GitLab CI) or a git checkout, or pass --provenance FILE")
	}
	if err != nil {
		return nil, fmt.Errorf("--provenance auto: %w", err)
	}
	for _, w := range b.Warnings {
		e.warn("provenance: %s", w)
	}
	return b.Predicate()
}
