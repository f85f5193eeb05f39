package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/attest"
	"hallmark.dev/internal/ops"
	"hallmark.dev/verify"
)

// readPredicate resolves a --type name to its predicate type URI and reads
// the --predicate file.
func readPredicate(typ, path string) (string, []byte, error) {
	pt, err := attest.PredicateType(typ)
	if err != nil {
		return "", nil, err
	}
	content, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("read predicate: %w", err)
	}
	return pt, content, nil
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("--output %q: want text or json", output)
	}
	return nil
}

func requireBundle(bundle string) error {
	if bundle == "" {
		return withHint(errors.New("no bundle given"), "pass --bundle FILE.sigstore.json")
	}
	return nil
}

// artifactArgs turns FILE or ALG:<hex> arguments (ALG one of
// attest.ArtifactDigestAlgorithms) into artifacts.
func artifactArgs(args []string) ([]ops.Artifact, error) {
	out := make([]ops.Artifact, 0, len(args))
	for _, a := range args {
		if alg, _, ok := strings.Cut(a, ":"); ok && slices.Contains(attest.ArtifactDigestAlgorithms, alg) {
			if _, _, err := attest.SplitDigest(a); err != nil {
				return nil, err
			}
			out = append(out, ops.Artifact{Digest: a})
			continue
		}
		out = append(out, ops.Artifact{Path: a})
	}
	return out, nil
}

func attestBlobCmd(e *env) *cobra.Command {
	var (
		sf        signingFlags
		rf        registryFlags
		predicate string
		statement string
		typ       string
		bundle    string
		yes       bool
	)
	cmd := &cobra.Command{
		Use:   "attest-blob (--predicate FILE --type TYPE ARTIFACT... | --statement FILE [ARTIFACT...]) --bundle OUT (--key KEY | --identity-token T --server URL)",
		Short: "Sign an in-toto attestation about release artifacts into a Sigstore bundle",
		Long: `Sign an in-toto attestation about release artifacts into a Sigstore bundle.

With --predicate and --type, the statement's subjects are the ARTIFACT files (or
digests: sha256:<hex>, sha512:<hex>, sha384, sha3_256 or sha3_384). With --statement,
a complete statement is signed as it is (one provenance for a whole release, with
many subjects); each ARTIFACT given must be one of its subjects, by any of those
digests.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if bundle == "" {
				return withHint(errors.New("no output bundle"), "pass --bundle OUT.sigstore.json")
			}
			if (predicate == "") == (statement == "") {
				return withHint(errors.New("give exactly one of --predicate and --statement"),
					"--predicate FILE --type TYPE attests about the ARTIFACTs; --statement FILE signs a complete statement")
			}
			if statement != "" && cmd.Flags().Changed("type") {
				return errors.New("--type applies to --predicate: a statement names its own predicate type")
			}
			arts, err := artifactArgs(args)
			if err != nil {
				return err
			}
			req := ops.AttestBlobRequest{Artifacts: arts}
			if statement != "" {
				if req.Statement, err = os.ReadFile(statement); err != nil {
					return fmt.Errorf("read statement: %w", err)
				}
			} else {
				if len(arts) == 0 {
					return withHint(errors.New("no artifacts"), "name the files the attestation is about")
				}
				if req.PredicateType, req.Predicate, err = readPredicate(typ, predicate); err != nil {
					return err
				}
			}
			s, err := e.signer(cmd.Context(), &sf, rf.allowHTTP)
			if err != nil {
				return err
			}
			req.Signer, req.Options = s.Keypair, s.Options
			res, err := ops.AttestBlob(cmd.Context(), req)
			if err != nil {
				return err
			}
			if err := os.WriteFile(bundle, res.Bundle, 0o644); err != nil {
				return fmt.Errorf("write bundle: %w", err)
			}
			e.printf("Wrote %s\n  predicate type: %s\n", bundle, res.PredicateType)
			for _, s := range res.Subjects {
				e.printf("  subject: %s %s\n", s.Name, s.PreferredDigest())
			}
			return nil
		},
	}
	sf.bind(cmd)
	rf.bind(cmd)
	cmd.Flags().StringVar(&predicate, "predicate", "", "the predicate (JSON)")
	cmd.Flags().StringVar(&statement, "statement", "", "a complete in-toto statement (JSON) to sign as it is")
	cmd.Flags().StringVar(&typ, "type", "custom", "predicate type for --predicate: a name as for attest, or a URI")
	cmd.Flags().StringVar(&bundle, "bundle", "", "write the Sigstore bundle here")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "accepted for cosign compatibility; hallmark never asks")
	return cmd
}

func verifyBlobAttestationCmd(e *env) *cobra.Command {
	var (
		af     authorityFlags
		bundle string
		typ    string
		output string
	)
	cmd := &cobra.Command{
		Use:   "verify-blob-attestation --bundle BUNDLE --type TYPE (--key PUB | --certificate-identity I --certificate-oidc-issuer U --trusted-root R) FILE|DIGEST",
		Short: "Verify an attestation bundle about a file (one of its subjects)",
		Args:  exactArgs(1, "FILE or DIGEST (sha256:<hex>, sha512:<hex>, …)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireBundle(bundle); err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			pt, err := attest.PredicateType(typ)
			if err != nil {
				return err
			}
			authority, err := af.authority()
			if err != nil {
				return err
			}
			arts, err := artifactArgs(args)
			if err != nil {
				return err
			}
			// The text output does not print the predicate: it is not
			// kept (an SBOM of hundreds of megabytes is verified in memory
			// independent of its size).
			p := verify.AttestationPolicy{Authority: authority, PredicateType: pt, WithoutPredicate: output == "text"}
			res, err := ops.VerifyBlobAttestation(bundle, arts[0], p)
			if err != nil {
				return err
			}
			if output == "json" {
				return e.json(res)
			}
			for _, v := range res.Verified {
				e.printf("Verified %s attestation about %s with %s (%s)\n", pt, args[0], bundle, describeSigner(v.Signer))
			}
			return nil
		},
	}
	af.bind(cmd)
	cmd.Flags().StringVar(&bundle, "bundle", "", "the attestation's Sigstore bundle")
	cmd.Flags().StringVar(&typ, "type", "custom", "predicate type the attestation must have (a name as for attest, or a URI)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json (json includes the verified statement)")
	return cmd
}
