package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"hallmark.dev/attest"
	"hallmark.dev/internal/buildenv"
)

func provenanceCmd(e *env) *cobra.Command {
	var (
		artifacts     []string
		images        []string
		predicateOnly bool
		output        string
		printJSON     bool
		builderID     string
		source        string
	)
	cmd := &cobra.Command{
		Use:   "provenance [--artifact FILE]... [--image NAME@sha256:HEX]... [--predicate-only] [--output FILE] [--print] [--builder-id ID] [--source auto|local|github|gitlab]",
		Short: "Write SLSA v1 build provenance for artifacts and images, filled from GitHub Actions, GitLab CI or the local git checkout",
		Long: `Write SLSA v1 build provenance (https://slsa.dev/provenance/v1): an in-toto
Statement v1 about every --artifact (by SHA-256) and --image (by digest), or,
with --predicate-only, the predicate alone for "hallmark attest --type
slsaprovenance1 --predicate FILE IMAGE".

The build comes from GitHub Actions (GITHUB_ACTIONS=true), GitLab CI
(GITLAB_CI=true), or else the git checkout in the current directory; a local
build is marked as such (builder https://hallmark.dev/local/v1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			subjectCount := len(artifacts) + len(images)
			switch {
			case predicateOnly && subjectCount > 0:
				return withHint(errors.New("--predicate-only takes no --artifact or --image"),
					"the subject of a predicate is the image \"hallmark attest\" attaches it to")
			case !predicateOnly && subjectCount == 0:
				return withHint(errors.New("no subjects"),
					"pass --artifact FILE or --image NAME@sha256:HEX (repeatable), or --predicate-only")
			}
			var subjects []attest.Subject
			for _, path := range artifacts {
				s, err := buildenv.FileSubject(path)
				if err != nil {
					return err
				}
				subjects = append(subjects, s)
			}
			for _, ref := range images {
				s, err := buildenv.ImageSubject(ref)
				if errors.Is(err, buildenv.ErrNoDigest) {
					return withHint(err, "name the image by the digest you built, e.g. the output of \"crane digest %s\"", ref)
				}
				if err != nil {
					return err
				}
				subjects = append(subjects, s)
			}
			subjects, err := buildenv.Subjects(subjects)
			if err != nil {
				return err
			}
			b, err := buildenv.Detect(buildenv.Source(source), e.lookupEnv, buildenv.WorkingCheckout(cmd.Context()))
			if errors.Is(err, buildenv.ErrNotCheckout) || errors.Is(err, exec.ErrNotFound) {
				return withHint(err, "run hallmark provenance in GitHub Actions, in GitLab CI, or in a git checkout of the source")
			}
			if err != nil {
				return err
			}
			if builderID != "" {
				if err := b.SetBuilderID(builderID); err != nil {
					return err
				}
			}
			var doc []byte
			if predicateOnly {
				doc, err = b.Predicate()
			} else {
				doc, err = b.Statement(subjects)
			}
			if err != nil {
				return err
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, doc, "", "  "); err != nil {
				return fmt.Errorf("provenance: %w", err)
			}
			indented.WriteByte('\n')
			for _, w := range b.Warnings {
				e.warn("%s", w)
			}
			if output != "" {
				if err := os.WriteFile(output, indented.Bytes(), 0o644); err != nil {
					return fmt.Errorf("write provenance: %w", err)
				}
				if predicateOnly {
					e.info("wrote the provenance predicate from %s to %s (builder %s)", b.Platform, output, b.BuilderID)
				} else {
					e.info("wrote provenance from %s for %d subject(s) to %s (builder %s)", b.Platform, len(subjects), output, b.BuilderID)
				}
			}
			if printJSON || output == "" {
				e.printf("%s", multiline(indented.Bytes()))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&artifacts, "artifact", nil, "a file the build produced (repeatable)")
	cmd.Flags().StringArrayVar(&images, "image", nil, "an image the build pushed, as NAME@sha256:HEX (repeatable)")
	cmd.Flags().BoolVar(&predicateOnly, "predicate-only", false, "write the predicate alone, for hallmark attest --type slsaprovenance1")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the JSON to this file (without it, it goes to stdout)")
	cmd.Flags().BoolVar(&printJSON, "print", false, "print the JSON to stdout also when writing --output")
	cmd.Flags().StringVar(&builderID, "builder-id", "", "the builder id, replacing the detected one (e.g. a reusable workflow's ref)")
	cmd.Flags().StringVar(&source, "source", "auto", "where the build facts come from: auto (the CI platform, else the local git checkout), local, github or gitlab")
	return cmd
}
