package main

import (
	"errors"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/policyops"
)

func approveCmd(e *env) *cobra.Command {
	var (
		sf           signingFlags
		repo         string
		commit       string
		policyUpdate string
		allowHTTP    bool
		output       string
	)
	cmd := &cobra.Command{
		Use:   "approve --server URL --repo URI (--commit SHA | --policy-update sha256:DIGEST) (--key K | --identity-token T)",
		Short: "Approve a release of a commit, or a signing policy update, as a named principal: signed, logged, stored on the server",
		Long: `Approve signs an in-toto statement approving exactly one commit of one
repository (--commit), or exactly one policy file (--policy-update, the
SHA-256 of its bytes) as the next version of the repository's signing
policy. The approval is logged in the server's transparency log and stored
on the server, where hallmark policy check and hallmark policy publish find
it. It counts for nothing else: another commit, repository, policy digest
or version.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if sf.server == "" {
				return withHint(errors.New("no server"), "pass --server URL: the hallmark server that stores approvals and logs them")
			}
			if repo == "" {
				return withHint(errors.New("no repository"), "pass --repo URI, the source repository as its signing policy names it (git.example.com/acme/app)")
			}
			store, err := policyStore(sf.server, allowHTTP)
			if err != nil {
				return err
			}
			s, err := e.signer(cmd.Context(), &sf, allowHTTP)
			if err != nil {
				return err
			}
			res, err := policyops.Approve(cmd.Context(), policyops.ApproveRequest{
				Store: store, Repository: repo, Commit: commit, PolicyDigest: policyUpdate, Signer: s,
			})
			if err != nil {
				return err
			}
			if output == "json" {
				return e.json(res)
			}
			e.printf("Approved the %s\n  signed with %s, log index %d, stored on %s\n", res.Approval, res.Signer, res.LogIndex, sf.server)
			return nil
		},
	}
	sf.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&repo, "repo", "", "the source repository, as its signing policy names it (git.example.com/acme/app)")
	fl.StringVar(&commit, "commit", "", "approve a release of this commit (40 hex digits)")
	fl.StringVar(&policyUpdate, "policy-update", "", "approve this policy file as the next version of the signing policy: sha256:<hex of its bytes>")
	fl.BoolVar(&allowHTTP, "allow-http-registry", false, "allow plain HTTP to a server that is not on loopback")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	cmd.MarkFlagsMutuallyExclusive("commit", "policy-update")
	cmd.MarkFlagsOneRequired("commit", "policy-update")
	return cmd
}
