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
	)
	cmd := &cobra.Command{
		Use:   "release IMAGE (--report R.json | --scan) [--sbom SBOM.json] [--provenance FILE|auto] [--exceptions .trivyignore.yaml] (--key KEY | --identity-token T --server URL)",
		Short: "Gate an image on its scan, then sign it and attest its SBOM, provenance and gate result",
		Long: `Release an image in the only safe order: resolve its digest once, gate the
scan report of that digest (refusing a report for another digest), check the
SBOM and the provenance, and only if all of that passes, sign the image and
attach the gate result (cosign's vuln predicate), the SBOM and the provenance
as attestations. Nothing is signed when any step before signing fails.

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
			req.Gate, req.ScanImage = gf.request(ops.GateRequest{ReportPath: report}), scanImage
			req.Events = func(ev ops.Event) {
				if ev.Kind != ops.EventGated {
					return
				}
				e.warnExpiring(ev.Gate)
				if output == "text" {
					e.printGate(ev.Gate)
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
			return err
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
