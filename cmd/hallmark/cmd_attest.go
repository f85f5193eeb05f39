package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"hallmark.dev/attest"
	"hallmark.dev/gate"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/setup"
	"hallmark.dev/policy"
	"hallmark.dev/sbom"
	"hallmark.dev/slsa"
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
			pt, content, err := readPredicate(typ, predicate)
			if err != nil {
				return err
			}
			s, err := e.signer(cmd.Context(), &sf, rf.allowHTTP)
			if err != nil {
				return err
			}
			res, err := ops.AttestImage(cmd.Context(), rf.client(), ops.AttestImageRequest{
				Reference: args[0], PredicateType: pt, Predicate: content,
				Repository: e.repository(repository), Signer: s.Keypair, Options: s.Options,
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
		pf         provenanceFlags
		gateMaxAge string
		gatePolicy string
		sigPolicy  string
	)
	cmd := &cobra.Command{
		Use:   "verify-attestation --type TYPE (--key PUB | --certificate-identity I --certificate-oidc-issuer U --trusted-root R) IMAGE",
		Short: "Verify an image's attestations of a predicate type, evaluate policies, and report every check",
		Long: `Verify an image's attestations of a predicate type: who signed each, then the policies.
Every verified statement must satisfy each --policy (CUE or Rego).

Two policies are built in:
  - with --source-uri (and --source-tag, --builder-id, … as verify-provenance), every
    verified SLSA provenance statement (--type slsaprovenance1 or slsaprovenance02) must
    meet slsa-verifier's checks for the image;
  - with --gate-max-age, of the verified gate attestations (--type vuln, as hallmark
    release and hallmark gate attach) for the image with a verified signing time (a
    signed timestamp or log entry) and a scan finish time no older than the maximum age,
    and with --gate-policy-digest run under that gate policy, the newest (by its signed
    scan finish time) must say the gate passed: an older pass does not outweigh a newer
    block. Attestations outside the window are reported but do not decide.
  - with --signing-policy-digest (--type slsaprovenance1), one verified provenance
    statement must record that hallmark release was allowed by that signing policy
    version (one suffices: a release signs the record only after the check passed).`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			pt, err := attest.PredicateType(typ)
			if err != nil {
				return err
			}
			var prov, gateCheck policy.Check
			if pf.given() {
				if !slices.Contains(slsa.PredicateTypes, pt) {
					return withHint(fmt.Errorf("--source-uri, --source-tag, --builder-id and the other provenance flags check SLSA provenance, not %s", pt),
						"pass --type slsaprovenance1 (or slsaprovenance02)")
				}
				req, err := pf.requirements()
				if err != nil {
					return err
				}
				if prov, err = slsa.NewCheck(req, slsa.Every); err != nil {
					return err
				}
			}
			if gateMaxAge != "" || gatePolicy != "" {
				if pt != gate.PredicateType {
					return withHint(fmt.Errorf("--gate-max-age and --gate-policy-digest check gate attestations (%s), not %s", gate.PredicateType, pt),
						"pass --type vuln")
				}
				if gateMaxAge == "" {
					return withHint(errors.New("--gate-policy-digest needs --gate-max-age"), "say how old the gate attestation may be, e.g. --gate-max-age 7d")
				}
				age, err := gate.ParseMaxAge(gateMaxAge)
				if err != nil {
					return err
				}
				if gateCheck, err = gate.NewCheck(gate.AttestationRequirements{MaxAge: age, PolicyDigest: gatePolicy}); err != nil {
					return err
				}
			}
			if sigPolicy != "" && pt != attest.PredicateSLSAProvenance1 {
				return withHint(fmt.Errorf("--signing-policy-digest checks SLSA v1 provenance (%s), not %s", attest.PredicateSLSAProvenance1, pt),
					"pass --type slsaprovenance1")
			}
			spChecks, err := signingPolicyChecks(sigPolicy)
			if err != nil {
				return err
			}
			authority, err := af.authority()
			if err != nil {
				return err
			}
			var checks []policy.Check
			for _, path := range policies {
				p, err := setup.LoadPolicy(path)
				if err != nil {
					return err
				}
				checks = append(checks, p)
			}
			for _, c := range []policy.Check{prov, gateCheck} {
				if c != nil {
					checks = append(checks, c)
				}
			}
			checks = append(checks, spChecks...)
			res, err := ops.VerifyAttestations(cmd.Context(), rf.client(), ops.VerifyAttestationsRequest{
				Reference: args[0], Repository: e.repository(repository),
				// The text report does not print the predicates: without
				// checks, they are not kept (an SBOM of hundreds of
				// megabytes is verified in memory independent of its size).
				Policy: verify.AttestationPolicy{Authority: authority, PredicateType: pt, WithoutPredicate: output == "text" && len(checks) == 0},
				Checks: checks,
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
			if errors.Is(err, gate.ErrNoTrustedTime) {
				return withHint(err, "a key signature's age needs a trusted time: verify with --trusted-root of a server whose timestamp authority timestamped the attestation (sign with --server, or a signing config with a timestamp authority)")
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
	pf.bind(cmd, "required with the other provenance flags, which check every verified SLSA provenance statement")
	cmd.Flags().StringVar(&gateMaxAge, "gate-max-age", "", "with --type vuln: the newest verified gate attestation signed and scanned at most this long ago (7d, 36h) must say the gate passed")
	cmd.Flags().StringVar(&gatePolicy, "gate-policy-digest", "", "with --gate-max-age: the gate policy (sha256:…) it must have passed under")
	cmd.Flags().StringVar(&sigPolicy, "signing-policy-digest", "", "with --type slsaprovenance1: the signing policy version (sha256:…) a verified provenance must record as having allowed the release (hallmark release --source-repo)")
	return cmd
}
