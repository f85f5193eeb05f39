package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/policyops"
	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/setup"
)

// policyStore returns the client of a server's signing policy store.
func policyStore(server string, allowHTTP bool) (*policystore.Client, error) {
	c, err := policyops.NewStoreClient(server, allowHTTP)
	if errors.Is(err, setup.ErrPlainHTTP) {
		return nil, withHint(err, "use https, or pass --allow-http-registry")
	}
	return c, err
}

// policyReadFlags say where a repository's policy is read from and who
// must have written it.
type policyReadFlags struct {
	server      string
	repo        string
	writerKeys  []string
	writers     []string
	trustedRoot string
	stateDir    string
	allowHTTP   bool
}

func (f *policyReadFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "the hallmark server that stores the policy")
	fl.StringVar(&f.repo, "repo", "", "the source repository (git.example.com/acme/app)")
	fl.BoolVar(&f.allowHTTP, "allow-http-registry", false, "allow plain HTTP to a server that is not on loopback")
	fl.StringVar(&f.trustedRoot, "trusted-root", "", "trusted_root.json to verify against (default: the one the server publishes)")
	f.bindWriter(cmd)
}

// bindWriter binds the flags that say who must have written the policy and
// where the newest version seen is remembered, for commands whose server,
// repository and trust flags are their own (release).
func (f *policyReadFlags) bindWriter(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.writerKeys, "policy-writer-key", nil, "the policy writer's public key file (PEM); repeatable")
	fl.StringArrayVar(&f.writers, "policy-writer", nil, "the policy writer's keyless identity, ISSUER=SUBJECT; repeatable")
	fl.StringVar(&f.stateDir, "state-dir", "", "where the newest policy version seen of each repository is remembered (default $HALLMARK_STATE_DIR, else $XDG_STATE_HOME/hallmark, else ~/.local/state/hallmark)")
}

// source builds where the policy is read from and what it is verified
// against.
func (f *policyReadFlags) source(ctx context.Context, e *env) (policyops.Source, error) {
	if f.server == "" {
		return policyops.Source{}, withHint(errors.New("no server"), "pass --server URL: the hallmark server that stores the policy")
	}
	if f.repo == "" {
		return policyops.Source{}, withHint(errors.New("no repository"), "pass --repo URI (git.example.com/acme/app)")
	}
	dir, err := e.stateDir(f.stateDir)
	if err != nil {
		return policyops.Source{}, err
	}
	src, err := policyops.NewSource(ctx, policyops.SourceConfig{Server: f.server, AllowHTTP: f.allowHTTP,
		WriterKeyPaths: f.writerKeys, Writers: f.writers, TrustedRootPath: f.trustedRoot, StateDir: dir})
	return src, policySourceError(err)
}

// policySourceError names the flags behind a source that could not be
// built.
func policySourceError(err error) error {
	switch {
	case errors.Is(err, policyops.ErrNoWriter):
		return withHint(errors.New("no policy writer given"),
			"pass --policy-writer-key FILE or --policy-writer ISSUER=SUBJECT: who must have signed every version")
	case errors.Is(err, setup.ErrPlainHTTP):
		return withHint(err, "use https, or pass --allow-http-registry")
	}
	return err
}

// signingPolicyError names the flag behind a release refused for want of
// a policy.
func signingPolicyError(err error, repo string) error {
	if errors.Is(err, policyops.ErrNoPolicy) {
		return withHint(err, "--require-signing-policy refuses a repository without one; publish one: hallmark policy publish --server URL --repo %s --policy FILE", repo)
	}
	return err
}

// stateDir returns the flag, else $HALLMARK_STATE_DIR, else
// $XDG_STATE_HOME/hallmark, else ~/.local/state/hallmark.
func (e *env) stateDir(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v, _ := e.lookupEnv("HALLMARK_STATE_DIR"); v != "" {
		return v, nil
	}
	if v, _ := e.lookupEnv("XDG_STATE_HOME"); v != "" {
		return filepath.Join(v, "hallmark"), nil
	}
	if v, _ := e.lookupEnv("HOME"); v != "" {
		return filepath.Join(v, ".local", "state", "hallmark"), nil
	}
	return "", withHint(errors.New("no state directory to remember the newest policy version in"), "pass --state-dir DIR")
}

func policyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Publish, read and check signing policies: what a source commit must satisfy before anything built from it is signed",
	}
	cmd.AddCommand(policyPublishCmd(e), policyShowCmd(e), policyCheckCmd(e))
	return cmd
}

func policyPublishCmd(e *env) *cobra.Command {
	var (
		sf         signingFlags
		repo, file string
		allowHTTP  bool
		output     string
	)
	cmd := &cobra.Command{
		Use:   "publish --server URL --repo URI --policy FILE (--key K | --identity-token T)",
		Short: "Sign a policy file as the repository's next signing policy version and publish it (as the policy writer)",
		Long: `Publish signs the policy file as the next version of the repository's
signing policy, logs it, and sends it to the server with the approvals the
server holds for it. The server accepts it only if it is signed by its
policy writer and follows its current version; an update must carry
approvals that both the current policy and the new one allow (hallmark
approve --policy-update sha256:DIGEST).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if sf.server == "" || repo == "" || file == "" {
				return withHint(errors.New("--server, --repo and --policy are required"), "hallmark policy publish --server URL --repo git.example.com/acme/app --policy signing-policy.yaml --key writer.key")
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("read policy: %w", err)
			}
			store, err := policyStore(sf.server, allowHTTP)
			if err != nil {
				return err
			}
			s, err := e.signer(cmd.Context(), &sf, allowHTTP)
			if err != nil {
				return err
			}
			res, err := policyops.Publish(cmd.Context(), policyops.PublishRequest{Store: store, Repository: repo, Policy: data, Signer: s})
			if err != nil {
				return err
			}
			if output == "json" {
				return e.json(res)
			}
			e.printf("Published version %d of the signing policy of %s (%s)\n", res.Version, res.Repository, res.Digest)
			if res.PreviousDigest != "" {
				e.printf("  after %s, with %d approval(s)\n", res.PreviousDigest, res.Approvals)
			}
			e.printf("  signed with %s, log index %d\n", res.Signer, res.LogIndex)
			return nil
		},
	}
	sf.bind(cmd)
	cmd.Flags().StringVar(&repo, "repo", "", "the source repository (git.example.com/acme/app)")
	cmd.Flags().StringVar(&file, "policy", "", "the policy file (YAML: principals and rego)")
	cmd.Flags().BoolVar(&allowHTTP, "allow-http-registry", false, "allow plain HTTP to a server that is not on loopback")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func policyShowCmd(e *env) *cobra.Command {
	var (
		rf     policyReadFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "show --server URL --repo URI (--policy-writer-key FILE | --policy-writer ISSUER=SUBJECT)",
		Short: "Read a repository's signing policy, verifying its whole chain from version 1",
		Long: `Show fetches the repository's chain of policy versions (no credentials
needed) and verifies it from version 1: each writer signature, each log
entry, each predecessor link, and each update's approvals under both the
previous and the new policy. It remembers the newest version it has seen
(--state-dir), so a server that later serves an older version (rollback)
or another chain (fork) is caught.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			src, err := rf.source(cmd.Context(), e)
			if err != nil {
				return err
			}
			res, err := policyops.Show(cmd.Context(), src, rf.repo)
			if err != nil {
				return err
			}
			if output == "json" {
				return e.json(res)
			}
			e.printShow(res)
			return nil
		},
	}
	rf.bind(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func policyCheckCmd(e *env) *cobra.Command {
	var (
		rf            policyReadFlags
		gitDir, tag   string
		commit        string
		scans         []string
		requirePolicy bool
		output        string
	)
	cmd := &cobra.Command{
		Use:   "check --server URL --repo URI (--policy-writer-key FILE | --policy-writer ISSUER=SUBJECT) --git-dir DIR --tag TAG",
		Short: "Check a release against the repository's signing policy: every fact, every rule, the verdict",
		Long: `Check reads and verifies the repository's signing policy (as hallmark
policy show does), establishes the facts of the release (the principal
whose key signed the tag over exactly that tag object, the distinct
principals whose approvals of exactly that commit verified, verified scan
results) and evaluates the policy. It prints every fact with how it was
verified, every rule's value, and the verdict, and exits non-zero when the
policy denies the release.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if gitDir == "" || tag == "" {
				return withHint(errors.New("--git-dir and --tag are required"), "the tag is read from the local repository: --git-dir path/to/repo/.git --tag v1.2.3")
			}
			src, err := rf.source(cmd.Context(), e)
			if err != nil {
				return err
			}
			var bundles [][]byte
			for _, path := range scans {
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("read scan: %w", err)
				}
				bundles = append(bundles, b)
			}
			r, err := policyops.Check(cmd.Context(), policyops.CheckRequest{Source: src, Repository: rf.repo, GitDir: gitDir, Tag: tag, Commit: commit, Scans: bundles})
			if err != nil {
				return err
			}
			if output == "json" {
				if err := e.json(r); err != nil {
					return err
				}
			} else {
				e.printCheck(r)
			}
			if err := r.Err(requirePolicy); err != nil {
				return signingPolicyError(err, r.Repository)
			}
			if r.Verdict == policyops.VerdictNoPolicy {
				e.info("notice: %s has no published signing policy: nothing was checked", r.Repository)
			}
			return nil
		},
	}
	rf.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&gitDir, "git-dir", "", "the local git repository (its .git directory, or a bare repository)")
	fl.StringVar(&tag, "tag", "", "the release tag")
	fl.StringVar(&commit, "commit", "", "the commit being released (default: the commit the tag names)")
	fl.StringArrayVar(&scans, "scan", nil, "a scan result bundle (a vulnerability attestation signed by a principal, about the commit); repeatable")
	fl.BoolVar(&requirePolicy, "require-signing-policy", false, "fail when the repository has no published signing policy")
	fl.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// printShow prints a verified chain and the current policy.
func (e *env) printShow(r *policyops.ShowResult) {
	cur := r.Chain.Current()
	if cur == nil {
		e.printf("%s has no published signing policy\n", r.Chain.Repository)
		return
	}
	e.printf("Verified the signing policy of %s: version %d (%s), chain verified from version 1\n", r.Chain.Repository, cur.Number, cur.Digest)
	rows := [][]string{{"VERSION", "DIGEST", "SIGNED BY", "APPROVED"}}
	for _, v := range r.Chain.Versions {
		approved := "(first version: the writer alone)"
		if v.Update != nil {
			approved = fmt.Sprintf("under v%d by %s; under v%d by %s", v.Update.Previous.PolicyVersion, names(v.Update.Previous.Input.Approvals),
				v.Update.New.PolicyVersion, names(v.Update.New.Input.Approvals))
		}
		rows = append(rows, []string{fmt.Sprint(v.Number), v.Digest, "the writer: " + describeSigner(v.Writer), approved})
	}
	e.table("  ", rows)
	switch {
	case r.Seen == nil:
		e.printf("First read of this repository's policy: version %d is remembered\n", cur.Number)
	case r.Seen.Version == cur.Number:
		e.printf("Same as the newest version seen before\n")
	default:
		e.printf("Newer than version %d, seen before: version %d is remembered\n", r.Seen.Version, cur.Number)
	}
	e.printf("\n%s", multiline(r.Policy))
	if !strings.HasSuffix(r.Policy, "\n") {
		e.printf("\n")
	}
}

func names(n []string) string {
	if len(n) == 0 {
		return "nobody"
	}
	return strings.Join(n, ", ")
}

// printCheck prints a check report: the policy, every fact with how it
// was established, every rule's value, the verdict.
func (e *env) printCheck(r *policyops.CheckReport) {
	if r.Verdict == policyops.VerdictNoPolicy {
		e.printf("No signing policy published for %s: tag %s, commit %s not checked\n", r.Repository, r.Tag, r.Commit)
		return
	}
	ev := r.Evaluation
	e.printf("Signing policy of %s: version %d (%s), chain verified\n", r.Repository, r.PolicyVersion, r.PolicyDigest)
	e.printf("Release: tag %s, commit %s\n\nFacts:\n", r.Tag, r.Commit)
	rows := [][]string{{"FACT", "RESULT", "PRINCIPAL", "HOW"}}
	for _, x := range ev.Evidence {
		rows = append(rows, []string{x.Source, x.Result, orDash(x.Principal), x.Detail})
	}
	e.table("  ", rows)
	in, err := json.Marshal(ev.Input)
	if err != nil {
		in = []byte(err.Error())
	}
	e.printf("\nInput: %s\n\nRules:\n", in)
	rows = [][]string{}
	for _, rule := range ev.Decision.Rules {
		val := "undefined"
		if !rule.Undefined {
			b, err := json.Marshal(rule.Value)
			if err != nil {
				b = []byte(fmt.Sprint(rule.Value))
			}
			val = string(b)
		}
		rows = append(rows, []string{rule.Name, val})
	}
	e.table("  ", rows)
	verdict := "ALLOWED"
	if !ev.Decision.Allowed {
		verdict = "DENIED"
	}
	e.printf("\nVerdict: %s: %s\n", verdict, ev.Decision.Reason)
	e.printf("Checked in %s (policy chain fetched and verified, tag and approvals verified, rules evaluated)\n", r.Duration)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
