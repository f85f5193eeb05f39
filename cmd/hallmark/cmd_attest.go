package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"hallmark.dev/attest"
	"hallmark.dev/internal/ops"
	"hallmark.dev/policy"
	"hallmark.dev/sbom"
	"hallmark.dev/verify"
)

func attestCmd(e *env) *cobra.Command {
	var (
		sf         signingFlags
		rf         registryFlags
		predicate  string
		typ        string
		repository string
		yes        bool
	)
	cmd := &cobra.Command{
		Use:   "attest --predicate FILE --type TYPE (--key KEY | --identity-token T --server URL) IMAGE",
		Short: "Attach a signed in-toto attestation (SLSA provenance, SBOM, vulnerability scan, …) to an image",
		Args:  exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if predicate == "" {
				return withHint(errors.New("no predicate"), "pass --predicate FILE (a JSON predicate)")
			}
			pt, err := attest.PredicateType(typ)
			if err != nil {
				return err
			}
			content, err := os.ReadFile(predicate)
			if err != nil {
				return fmt.Errorf("read predicate: %w", err)
			}
			k, opts, err := e.signerAndOptions(cmd.Context(), &sf, rf.allowHTTP)
			if err != nil {
				return err
			}
			res, err := ops.AttestImage(cmd.Context(), rf.client(), ops.AttestImageRequest{
				Reference: args[0], PredicateType: pt, Predicate: content,
				Repository: e.repository(repository), Signer: k, Options: opts,
			})
			if errors.Is(err, sbom.ErrOtherSubject) {
				return withHint(err, "generate the SBOM from the image you attest (syft %s, trivy image --format cyclonedx %s)", args[0], args[0])
			}
			if err != nil {
				return err
			}
			e.printf("Attested %s\n  predicate type: %s\n  attestation: %s\n", res.Image, res.PredicateType, res.Referrer)
			if s := res.SBOM; s != nil {
				subject := "names no image digest (its subject was not checked)"
				if s.Subject != nil {
					subject = "describes " + s.Subject.String()
				}
				e.printf("  sbom: %s %s, %d components, %s\n", s.Format, s.SpecVersion, s.Components, subject)
			}
			return nil
		},
	}
	sf.bind(cmd)
	rf.bind(cmd)
	cmd.Flags().StringVar(&predicate, "predicate", "", "the predicate (JSON)")
	cmd.Flags().StringVar(&typ, "type", "custom", "predicate type: slsaprovenance, slsaprovenance02, slsaprovenance1, cyclonedx, spdx, spdxjson, link, vuln, openvex, custom, or a URI")
	cmd.Flags().StringVar(&repository, "repository", "", "store attestations in this repository (also HALLMARK_REPOSITORY)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "accepted for cosign compatibility; hallmark never asks")
	return cmd
}

func verifyAttestationCmd(e *env) *cobra.Command {
	var (
		rf         registryFlags
		af         authorityFlags
		typ        string
		output     string
		repository string
		policies   []string
	)
	cmd := &cobra.Command{
		Use:   "verify-attestation --type TYPE (--key PUB | --certificate-identity I --certificate-oidc-issuer U --trusted-root R) IMAGE",
		Short: "Verify an image's attestations of a predicate type and print the verified statements",
		Args:  exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			pt, err := attest.PredicateType(typ)
			if err != nil {
				return err
			}
			authority, err := af.authority()
			if err != nil {
				return err
			}
			var ps []policy.Policy
			for _, path := range policies {
				p, err := policy.Load(path)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			res, err := ops.VerifyAttestations(cmd.Context(), rf.client(), ops.VerifyAttestationsRequest{
				Reference: args[0], Repository: e.repository(repository),
				Policy:   verify.AttestationPolicy{Authority: authority, PredicateType: pt},
				Policies: ps,
			})
			r := ops.NewReport(res, pt, err)
			if r.Subject == "" {
				return err
			}
			if output == "json" {
				if jerr := e.json(r); jerr != nil {
					return jerr
				}
			} else {
				e.report(r)
			}
			if err != nil {
				return err
			}
			return nil
		},
	}
	rf.bind(cmd)
	af.bind(cmd)
	cmd.Flags().StringVar(&typ, "type", "custom", "predicate type the attestations must have (a name as for attest, or a URI)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json (json includes each verified statement)")
	cmd.Flags().StringVar(&repository, "repository", "", "look for attestations in this repository (also HALLMARK_REPOSITORY)")
	cmd.Flags().StringArrayVar(&policies, "policy", nil, "a CUE (.cue) or Rego (.rego) policy every verified statement must satisfy (repeatable)")
	return cmd
}
