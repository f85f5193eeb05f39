package main

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/ops"
	"hallmark.dev/verify"
)

func verifyCmd(e *env) *cobra.Command {
	var (
		rf         registryFlags
		af         authorityFlags
		ann        []string
		output     string
		repository string
	)
	cmd := &cobra.Command{
		Use:   "verify --key PUB [-a key=value]... IMAGE",
		Short: "Verify an image's signatures (referrers and cosign's legacy tags)",
		Args:  exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			annotations, err := parseAnnotations(ann)
			if err != nil {
				return err
			}
			authority, err := af.authority()
			if err != nil {
				return err
			}
			res, err := ops.VerifyImage(cmd.Context(), rf.client(), ops.VerifyImageRequest{
				Reference:  args[0],
				Repository: e.repository(repository),
				Policy:     verify.ImagePolicy{Authority: authority, Annotations: annotations},
			})
			if output == "json" && res != nil && res.ImageResult != nil {
				if jerr := e.json(res); jerr != nil {
					return jerr
				}
				return err
			}
			if err != nil {
				return err
			}
			e.printVerified(res)
			return nil
		},
	}
	rf.bind(cmd)
	af.bind(cmd)
	cmd.Flags().StringArrayVarP(&ann, "annotations", "a", nil, "require a signed annotation key=value (repeatable)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().StringVar(&repository, "repository", "", "look for signatures in this repository (also HALLMARK_REPOSITORY)")
	return cmd
}

func (e *env) printVerified(res *ops.VerifyImageResult) {
	e.printf("Verified %s\n", res.Image)
	for _, v := range res.Verified {
		layout := "Sigstore bundle"
		if v.Layout == "legacy" {
			layout = "cosign legacy signature"
		}
		e.printf("  %s (%s), %s\n", v.Source, layout, describeSigner(v.Signer))
		if len(v.Annotations) > 0 {
			e.printf("    annotations: %s\n", formatAnnotations(v.Annotations))
		}
	}
	for _, r := range res.Rejected {
		e.warn("ignored %s", r.Error())
	}
}

func formatAnnotations(m map[string]string) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}

func verifyBlobCmd(e *env) *cobra.Command {
	var (
		af     authorityFlags
		bundle string
	)
	cmd := &cobra.Command{
		Use:   "verify-blob --key PUB --bundle BUNDLE FILE|DIGEST",
		Short: "Verify a file (or its digest) against a Sigstore bundle",
		Args:  exactArgs(1, "FILE or DIGEST (sha256:<hex>, sha512:<hex>, …)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireBundle(bundle); err != nil {
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
			res, err := ops.VerifyBlob(bundle, arts[0], verify.BlobPolicy{Authority: authority})
			if err != nil {
				return err
			}
			e.printf("Verified %s with %s (%s)\n", args[0], bundle, describeSigner(res.Signer))
			return nil
		},
	}
	af.bind(cmd)
	cmd.Flags().StringVar(&bundle, "bundle", "", "Sigstore bundle to verify")
	return cmd
}
