package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/ops"
	"hallmark.dev/policy"
	"hallmark.dev/signpolicy"
)

func verifyProvenanceCmd(e *env) *cobra.Command {
	var (
		rf             registryFlags
		af             authorityFlags
		pf             provenanceFlags
		provenancePath string
		repository     string
		output         string
		printProv      bool
		policyDigest   string
	)
	cmd := &cobra.Command{
		Use:   "verify-provenance --source-uri REPO (--key PUB | --certificate-identity I --certificate-oidc-issuer U --trusted-root R) (IMAGE | --provenance-path FILE ARTIFACT...)",
		Short: "Verify SLSA build provenance for an image or for files (slsa-verifier's checks, offline)",
		Long: `Verify SLSA build provenance (v1 or v0.2): first the signature, under --key or a keyless
identity, then what the provenance says: the source repository (--source-uri), and when given the
tag, a semantic-version-compatible tag, the branch, the builder and the workflow inputs. The
artifacts must be among the provenance's subjects. With --signing-policy-digest, the same
provenance must record that hallmark release was allowed by that signing policy version.

For an IMAGE, the image's attestations are fetched from its registry. For files, --provenance-path
is a Sigstore bundle, a .intoto.jsonl file (one DSSE envelope or bundle per line, as
slsa-github-generator and 'gh attestation download' write them) or npm's attestations JSON.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if provenancePath != "" {
				if len(args) == 0 {
					return withHint(errors.New("no artifact given"), "name the files the provenance is about: hallmark verify-provenance --provenance-path FILE ARTIFACT...")
				}
				return nil
			}
			return exactArgs(1, "IMAGE (or --provenance-path FILE and the artifacts)")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			req, err := pf.requirements()
			if err != nil {
				return err
			}
			authority, err := af.authority()
			if err != nil {
				return err
			}
			checks, err := signingPolicyChecks(policyDigest)
			if err != nil {
				return err
			}
			var res *ops.VerifyProvenanceResult
			if provenancePath != "" {
				res, err = ops.VerifyArtifactProvenance(cmd.Context(), ops.VerifyArtifactProvenanceRequest{
					ProvenancePath: provenancePath, Artifacts: args, Authority: authority, Requirements: req, Checks: checks,
				})
			} else {
				res, err = ops.VerifyImageProvenance(cmd.Context(), rf.client(), ops.VerifyImageProvenanceRequest{
					Reference: args[0], Repository: e.repository(repository), Authority: authority, Requirements: req, Checks: checks,
				})
			}
			if output == "json" && res != nil {
				if jerr := e.json(res); jerr != nil {
					return jerr
				}
				return err
			}
			if err != nil {
				if res != nil && res.Passing() == nil && len(res.Verified) > 0 {
					for _, r := range res.Rejected {
						e.warn("ignored %s", r.Error())
					}
				}
				return err
			}
			e.printProvenance(res, printProv)
			return nil
		},
	}
	rf.bind(cmd)
	af.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&provenancePath, "provenance-path", "", "the provenance of the files given as arguments: a Sigstore bundle, .intoto.jsonl or npm attestations JSON")
	pf.bind(cmd, "required")
	fl.BoolVar(&printProv, "print-provenance", false, "print the verified provenance statement (JSON) on standard output")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	fl.StringVar(&repository, "repository", "", "look for attestations in this repository (also HALLMARK_REPOSITORY)")
	fl.StringVar(&policyDigest, "signing-policy-digest", "", "the signing policy version (sha256:…) the provenance must record as having allowed the release (hallmark release --source-repo)")
	return cmd
}

// signingPolicyChecks returns the check --signing-policy-digest asks for,
// none when it is empty.
func signingPolicyChecks(digest string) ([]policy.Check, error) {
	if digest == "" {
		return nil, nil
	}
	c, err := signpolicy.NewProvenanceCheck(digest)
	if err != nil {
		return nil, withHint(err, "--signing-policy-digest is the digest hallmark policy show prints for the version: sha256:<64 hex digits>")
	}
	return []policy.Check{c}, nil
}

// printProvenance reports the provenance that passed: on standard output,
// or, when the statement itself is printed there, on standard error.
func (e *env) printProvenance(res *ops.VerifyProvenanceResult, statement bool) {
	p := res.Passing()
	if p == nil {
		return
	}
	say := e.printf
	if statement {
		say = func(format string, args ...any) { e.info("%s", strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")) }
		e.printf("%s\n", multiline(p.Payload))
	}
	say("Verified SLSA provenance for %s\n", res.Subject)
	say("  provenance: %s, %s\n", p.Source, describeSigner(p.Signer))
	for _, c := range p.Checks {
		say("  %s: %s\n", c.Name, c.Detail)
	}
	for _, r := range res.Rejected {
		e.warn("ignored %s", r.Error())
	}
}
