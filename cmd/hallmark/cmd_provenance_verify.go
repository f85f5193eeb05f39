package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/ops"
	"hallmark.dev/slsa"
)

func verifyProvenanceCmd(e *env) *cobra.Command {
	var (
		rf             registryFlags
		af             authorityFlags
		req            slsa.Requirements
		provenancePath string
		inputs         []string
		repository     string
		output         string
		printProv      bool
	)
	cmd := &cobra.Command{
		Use:   "verify-provenance --source-uri REPO (--key PUB | --certificate-identity I --certificate-oidc-issuer U --trusted-root R) (IMAGE | --provenance-path FILE ARTIFACT...)",
		Short: "Verify SLSA build provenance for an image or for files (slsa-verifier's checks, offline)",
		Long: `Verify SLSA build provenance (v1 or v0.2): first the signature, under --key or a keyless
identity, then what the provenance says: the source repository (--source-uri), and when given the
tag, a semantic-version-compatible tag, the branch, the builder and the workflow inputs. The
artifacts must be among the provenance's subjects.

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
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			if req.SourceURI == "" {
				return withHint(errors.New("no --source-uri given"), "name the repository the artifact must be built from, e.g. --source-uri github.com/org/repo")
			}
			in, err := parseWorkflowInputs(inputs)
			if err != nil {
				return err
			}
			req.BuildWorkflowInputs = in
			if err := req.Validate(); err != nil {
				return err
			}
			authority, err := af.authority()
			if err != nil {
				return err
			}
			var res *ops.VerifyProvenanceResult
			if provenancePath != "" {
				res, err = ops.VerifyArtifactProvenance(ops.VerifyArtifactProvenanceRequest{
					ProvenancePath: provenancePath, Artifacts: args, Authority: authority, Requirements: req,
				})
			} else {
				res, err = ops.VerifyImageProvenance(cmd.Context(), rf.client(), ops.VerifyImageProvenanceRequest{
					Reference: args[0], Repository: e.repository(repository), Authority: authority, Requirements: req,
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
	fl.StringVar(&req.SourceURI, "source-uri", "", "the repository the artifact must be built from, e.g. github.com/org/repo (required)")
	fl.StringVar(&req.SourceTag, "source-tag", "", "the exact tag that must have been built")
	fl.StringVar(&req.SourceVersionedTag, "source-versioned-tag", "", "a semantic version (vX, vX.Y or vX.Y.Z) the built tag must be compatible with")
	fl.StringVar(&req.SourceBranch, "source-branch", "", "the branch that must have been built")
	fl.StringVar(&req.BuilderID, "builder-id", "", "the builder that must have built it: its id, or id@version for that version")
	fl.StringArrayVar(&req.TrustedBuilders, "trusted-builder", nil, "a builder to trust (id or id@version, repeatable); without any, every builder is accepted")
	fl.StringArrayVar(&inputs, "build-workflow-input", nil, "an input the build must have been given, key=value (repeatable)")
	fl.BoolVar(&printProv, "print-provenance", false, "print the verified provenance statement (JSON) on standard output")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	fl.StringVar(&repository, "repository", "", "look for attestations in this repository (also HALLMARK_REPOSITORY)")
	return cmd
}

func parseWorkflowInputs(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, withHint(fmt.Errorf("workflow input %q is not key=value", kv), "write --build-workflow-input key=value")
		}
		if old, dup := out[k]; dup && old != v {
			return nil, fmt.Errorf("workflow input %q given twice with different values", k)
		}
		out[k] = v
	}
	return out, nil
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
		e.printf("%s\n", p.Payload)
	}
	say("Verified SLSA provenance for %s\n", res.Subject)
	say("  provenance: %s, %s\n", p.Source, describeSigner(p.Signer))
	for _, c := range p.Checks.Checks {
		say("  %s: %s\n", c.Name, c.Detail)
	}
	for _, r := range res.Rejected {
		e.warn("ignored %s", r.Error())
	}
}
