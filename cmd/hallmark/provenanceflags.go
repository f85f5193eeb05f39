package main

import (
	"errors"

	"github.com/spf13/cobra"

	"hallmark.dev/slsa"
)

// provenanceFlags are what SLSA provenance must say (slsa-verifier's
// options), for verify-provenance and verify-attestation.
type provenanceFlags struct {
	req    slsa.Requirements
	inputs []string
	cmd    *cobra.Command
}

// provenanceFlagNames are the flags provenanceFlags binds.
var provenanceFlagNames = []string{"source-uri", "source-tag", "source-versioned-tag", "source-branch", "builder-id", "trusted-builder", "build-workflow-input"}

// bind adds the flags; sourceURINote says when --source-uri is required.
func (f *provenanceFlags) bind(cmd *cobra.Command, sourceURINote string) {
	f.cmd = cmd
	fl := cmd.Flags()
	fl.StringVar(&f.req.SourceURI, "source-uri", "", "the repository the artifact must be built from, e.g. github.com/org/repo ("+sourceURINote+")")
	fl.StringVar(&f.req.SourceTag, "source-tag", "", "the exact tag that must have been built")
	fl.StringVar(&f.req.SourceVersionedTag, "source-versioned-tag", "", "a semantic version (vX, vX.Y or vX.Y.Z) the built tag must be compatible with")
	fl.StringVar(&f.req.SourceBranch, "source-branch", "", "the branch that must have been built")
	fl.StringVar(&f.req.BuilderID, "builder-id", "", "the builder that must have built it: its id, or id@version for that version")
	fl.StringArrayVar(&f.req.TrustedBuilders, "trusted-builder", nil, "a builder to trust (id or id@version, repeatable); without any, every builder is accepted")
	fl.StringArrayVar(&f.inputs, "build-workflow-input", nil, "an input the build must have been given, key=value (repeatable)")
}

// given reports whether any of the flags was set.
func (f *provenanceFlags) given() bool {
	for _, n := range provenanceFlagNames {
		if f.cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// requirements returns the requirements the flags say, refusing a missing
// --source-uri and malformed values. Artifacts are left to the caller.
func (f *provenanceFlags) requirements() (slsa.Requirements, error) {
	req := f.req
	if req.SourceURI == "" {
		return slsa.Requirements{}, withHint(errors.New("no --source-uri given"), "name the repository the artifact must be built from, e.g. --source-uri github.com/org/repo")
	}
	in, err := parseWorkflowInputs(f.inputs)
	if err != nil {
		return slsa.Requirements{}, err
	}
	req.BuildWorkflowInputs = in
	if err := req.Validate(); err != nil {
		return slsa.Requirements{}, err
	}
	return req, nil
}

func parseWorkflowInputs(kvs []string) (map[string]string, error) {
	return parseKeyValues(kvs, "workflow input", "--build-workflow-input")
}
