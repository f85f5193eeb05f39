package buildenv

import (
	"fmt"
	"regexp"
	"strings"
)

var gitHubRepoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// gitHubEvents are the events the GitHub workflow buildType covers.
var gitHubEvents = map[string]bool{"push": true, "create": true, "release": true, "workflow_dispatch": true}

// gitHub reads a GitHub Actions run
// (https://docs.github.com/en/actions/reference/workflows-and-actions/variables).
func gitHub(lookup func(string) (string, bool)) (*Build, error) {
	const platform = "github actions"
	v, err := vars(lookup, platform,
		[]string{"GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF", "GITHUB_WORKFLOW_REF", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"},
		[]string{"GITHUB_EVENT_NAME", "GITHUB_REPOSITORY_ID", "GITHUB_REPOSITORY_OWNER_ID", "RUNNER_ENVIRONMENT", "GITHUB_REF_TYPE"})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Build, error) { return nil, fmt.Errorf("buildenv: %s: %w", platform, err) }
	server, err := serverURL("GITHUB_SERVER_URL", v["GITHUB_SERVER_URL"])
	if err != nil {
		return fail(err)
	}
	repo := v["GITHUB_REPOSITORY"]
	if !gitHubRepoRE.MatchString(repo) {
		return fail(fmt.Errorf("GITHUB_REPOSITORY %q is not OWNER/REPO", repo))
	}
	commit, err := checkCommit("GITHUB_SHA", v["GITHUB_SHA"])
	if err != nil {
		return fail(err)
	}
	ref := v["GITHUB_REF"]
	if err := checkRef("GITHUB_REF", ref); err != nil {
		return fail(err)
	}
	switch t := v["GITHUB_REF_TYPE"]; {
	case t == "tag" && !strings.HasPrefix(ref, "refs/tags/"), t == "branch" && !strings.HasPrefix(ref, "refs/heads/"):
		return fail(fmt.Errorf("GITHUB_REF %q does not match GITHUB_REF_TYPE %q", ref, t))
	}
	workflowRef := v["GITHUB_WORKFLOW_REF"]
	if err := checkText("GITHUB_WORKFLOW_REF", workflowRef); err != nil {
		return fail(err)
	}
	path, wref, err := splitWorkflowRef(repo, ref, workflowRef)
	if err != nil {
		return fail(err)
	}
	for _, name := range []string{"GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"} {
		if err := checkNumeric(name, v[name]); err != nil {
			return fail(err)
		}
	}
	gh := map[string]any{}
	for key, name := range map[string]string{
		"event_name":          "GITHUB_EVENT_NAME",
		"repository_id":       "GITHUB_REPOSITORY_ID",
		"repository_owner_id": "GITHUB_REPOSITORY_OWNER_ID",
		"runner_environment":  "RUNNER_ENVIRONMENT",
	} {
		if v[name] == "" {
			continue
		}
		if err := checkText(name, v[name]); err != nil {
			return fail(err)
		}
		gh[key] = v[name]
	}
	repoURL := server + "/" + repo
	b := &Build{
		Platform:  GitHubActions,
		BuildType: BuildTypeGitHubWorkflow,
		BuilderID: server + "/" + workflowRef,
		ExternalParameters: map[string]any{
			"workflow": map[string]any{"ref": wref, "repository": repoURL, "path": path},
		},
		SourceURI:    "git+" + repoURL + "@" + ref,
		SourceCommit: commit,
		InvocationID: fmt.Sprintf("%s/actions/runs/%s/attempts/%s", repoURL, v["GITHUB_RUN_ID"], v["GITHUB_RUN_ATTEMPT"]),
	}
	if len(gh) > 0 {
		b.InternalParameters = map[string]any{"github": gh}
	}
	if ev := v["GITHUB_EVENT_NAME"]; ev != "" && !gitHubEvents[ev] {
		b.Warnings = append(b.Warnings, fmt.Sprintf("the %s event is not one the GitHub workflow buildType covers (push, create, release, workflow_dispatch); verifiers may reject this provenance", ev))
	}
	return b, nil
}

// splitWorkflowRef splits GITHUB_WORKFLOW_REF, "OWNER/REPO/PATH@REF", into
// the workflow path and ref. The path and the ref may both contain "@":
// when the ref is the run's ref it is cut off the end, else the split is at
// the first "@" after the repository.
func splitWorkflowRef(repo, ref, workflowRef string) (path, wref string, err error) {
	rest, ok := strings.CutPrefix(workflowRef, repo+"/")
	if !ok {
		return "", "", fmt.Errorf("GITHUB_WORKFLOW_REF %q is not in GITHUB_REPOSITORY %q", workflowRef, repo)
	}
	if p, ok := strings.CutSuffix(rest, "@"+ref); ok {
		path, wref = p, ref
	} else {
		path, wref, _ = strings.Cut(rest, "@")
	}
	if path == "" || wref == "" {
		return "", "", fmt.Errorf("GITHUB_WORKFLOW_REF %q is not OWNER/REPO/PATH@REF", workflowRef)
	}
	return path, wref, nil
}

// checkRef checks a fully qualified git ref.
func checkRef(name, ref string) error {
	if err := checkText(name, ref); err != nil {
		return err
	}
	if !strings.HasPrefix(ref, "refs/") || len(ref) == len("refs/") {
		return fmt.Errorf("%s %q is not a git ref (refs/…)", name, ref)
	}
	return nil
}
