package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/ops"
	"hallmark.dev/sign"
)

func signCmd(e *env) *cobra.Command {
	var (
		sf         signingFlags
		rf         registryFlags
		ann        []string
		recursive  bool
		repository string
		output     string
		yes        bool
	)
	cmd := &cobra.Command{
		Use:   "sign --key KEY [-a key=value]... IMAGE",
		Short: "Sign an image by digest and attach the signature as an OCI referrer",
		Args:  exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			annotations, err := parseAnnotations(ann)
			if err != nil {
				return err
			}
			s, err := e.signer(cmd.Context(), &sf, rf.allowHTTP)
			if err != nil {
				return err
			}
			res, err := ops.SignImage(cmd.Context(), rf.client(), ops.SignImageRequest{
				Reference:   args[0],
				Annotations: annotations,
				Recursive:   recursive,
				Repository:  e.repository(repository),
				Signer:      s.Keypair,
				Options:     s.Options,
			})
			if res != nil && len(res.Signed) > 0 && err != nil {
				for _, s := range res.Signed {
					e.info("signed %s (signature %s)", s.Image, s.Referrer)
				}
			}
			if err != nil {
				return err
			}
			if output == "json" {
				return e.json(res)
			}
			if !strings.Contains(args[0], "@") {
				e.info("resolved %s to %s", args[0], res.Digest)
			}
			for _, s := range res.Signed {
				e.printf("Signed %s\n  signature: %s\n", s.Image, s.Referrer)
			}
			return nil
		},
	}
	sf.bind(cmd)
	rf.bind(cmd)
	cmd.Flags().StringArrayVarP(&ann, "annotations", "a", nil, "annotation key=value to sign with the image (repeatable)")
	cmd.Flags().BoolVar(&recursive, "recursive", false, "also sign each manifest of an index")
	cmd.Flags().StringVar(&repository, "repository", "", "store signatures in this repository (also HALLMARK_REPOSITORY)")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "accepted for cosign compatibility; hallmark never asks")
	return cmd
}

func signBlobCmd(e *env) *cobra.Command {
	var (
		sf        signingFlags
		bundle    string
		yes       bool
		allowHTTP bool
	)
	cmd := &cobra.Command{
		Use:   "sign-blob --key KEY --bundle OUT FILE",
		Short: "Sign a file and write a Sigstore bundle",
		Args:  exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if bundle == "" {
				return withHint(errors.New("no bundle output"), "pass --bundle FILE.sigstore.json")
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read blob: %w", err)
			}
			s, err := e.signer(cmd.Context(), &sf, allowHTTP)
			if err != nil {
				return err
			}
			b, err := sign.Blob(cmd.Context(), s.Keypair, data, s.Options)
			if err != nil {
				return err
			}
			if err := os.WriteFile(bundle, b, 0o644); err != nil {
				return fmt.Errorf("write bundle: %w", err)
			}
			e.info("wrote bundle to %s", bundle)
			return nil
		},
	}
	sf.bind(cmd)
	cmd.Flags().StringVar(&bundle, "bundle", "", "write the Sigstore bundle here")
	cmd.Flags().BoolVar(&allowHTTP, "allow-http-registry", false, "allow plain HTTP to a --server that is not on loopback")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "accepted for cosign compatibility; hallmark never asks")
	return cmd
}

func parseAnnotations(kvs []string) (map[string]string, error) {
	return parseKeyValues(kvs, "annotation", "-a")
}

// parseKeyValues reads repeated key=value flags; what names the values in
// messages and flag is the flag to hint at. A key given twice must have one
// value.
func parseKeyValues(kvs []string, what, flag string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, withHint(fmt.Errorf("%s %q is not key=value", what, kv), "write %s key=value", flag)
		}
		if old, dup := out[k]; dup && old != v {
			return nil, fmt.Errorf("%s %q given twice with different values", what, k)
		}
		out[k] = v
	}
	return out, nil
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return withHint(fmt.Errorf("%s takes %s, got %d arguments", cmd.Name(), names, len(args)), "usage: hallmark %s", cmd.Use)
		}
		return nil
	}
}
