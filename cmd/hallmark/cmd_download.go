package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"hallmark.dev/attest"
	"hallmark.dev/internal/ops"
)

func downloadCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "download attestation|sbom IMAGE",
		Short: "Verify an image's attestations, then write the verified statements or SBOM",
	}
	cmd.AddCommand(downloadAttestationCmd(e), downloadSBOMCmd(e))
	return cmd
}

// downloadFlags are the flags both download commands share.
type downloadFlags struct {
	rf         registryFlags
	af         authorityFlags
	repository string
	output     string
}

func (f *downloadFlags) bind(cmd *cobra.Command) {
	f.rf.bind(cmd)
	f.af.bind(cmd)
	cmd.Flags().StringVar(&f.repository, "repository", "", "look for attestations in this repository (also HALLMARK_REPOSITORY)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write to this file instead of stdout")
}

// write writes what was downloaded to --output or stdout.
func (f *downloadFlags) write(e *env, data []byte) error {
	if f.output == "" {
		return e.raw(data)
	}
	if err := os.WriteFile(f.output, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", f.output, err)
	}
	return nil
}

func downloadAttestationCmd(e *env) *cobra.Command {
	var (
		df            downloadFlags
		typ, predType string
	)
	cmd := &cobra.Command{
		Use:   "attestation --type TYPE (--key PUB | --certificate-identity I --certificate-oidc-issuer U --trusted-root R) IMAGE",
		Short: "Write the verified in-toto statements of a predicate type, one JSON per line",
		Args:  exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if typ != "" && predType != "" && typ != predType {
				return errors.New("--type and --predicate-type differ; give one")
			}
			name := cmp.Or(typ, predType)
			if name == "" {
				return withHint(errors.New("no predicate type"),
					"pass --type (slsaprovenance1, cyclonedx, spdxjson, vuln, openvex, custom or a URI): only verified attestations of that type are downloaded")
			}
			pt, err := attest.PredicateType(name)
			if err != nil {
				return err
			}
			authority, err := df.af.authority()
			if err != nil {
				return err
			}
			res, err := ops.DownloadAttestations(cmd.Context(), df.rf.client(), ops.DownloadRequest{
				Reference: args[0], Repository: e.repository(df.repository), Authority: authority, PredicateTypes: []string{pt},
			})
			if err != nil {
				return err
			}
			out, err := res.Statements()
			if err != nil {
				return err
			}
			for _, r := range res.Rejected {
				e.warn("ignored %s", r.Error())
			}
			return df.write(e, out)
		},
	}
	df.bind(cmd)
	cmd.Flags().StringVar(&typ, "type", "", "predicate type of the attestations to download (a name as for attest, or a URI)")
	cmd.Flags().StringVar(&predType, "predicate-type", "", "the same as --type (cosign's name)")
	return cmd
}

func downloadSBOMCmd(e *env) *cobra.Command {
	var (
		df  downloadFlags
		typ string
	)
	cmd := &cobra.Command{
		Use:   "sbom (--key PUB | --certificate-identity I --certificate-oidc-issuer U --trusted-root R) IMAGE",
		Short: "Write the SBOM of the newest verified CycloneDX or SPDX attestation",
		Args:  exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var types []string
			if typ != "" {
				pt, err := attest.PredicateType(typ)
				if err != nil {
					return err
				}
				if !slices.Contains(ops.SBOMTypes, pt) {
					return withHint(fmt.Errorf("--type %s is not an SBOM type", typ), "pass --type cyclonedx or --type spdxjson, or leave it out for either")
				}
				types = []string{pt}
			}
			authority, err := df.af.authority()
			if err != nil {
				return err
			}
			res, err := ops.DownloadSBOM(cmd.Context(), df.rf.client(), ops.DownloadRequest{
				Reference: args[0], Repository: e.repository(df.repository), Authority: authority, PredicateTypes: types,
			})
			if errors.Is(err, ops.ErrSBOMAmbiguous) {
				return withHint(err, "pass --type cyclonedx or --type spdxjson, or use download attestation to get them all")
			}
			if err != nil {
				return err
			}
			if err := df.write(e, append(slices.Clip(res.Predicate), '\n')); err != nil {
				return err
			}
			if df.output != "" {
				e.info("wrote the %s SBOM of %s (%s) to %s", res.PredicateType, res.Image, res.Source, df.output)
			}
			return nil
		},
	}
	df.bind(cmd)
	cmd.Flags().StringVar(&typ, "type", "", "cyclonedx or spdxjson: download only that format (default: the newest of either)")
	return cmd
}
