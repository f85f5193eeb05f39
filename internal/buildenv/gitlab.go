package buildenv

import (
	"fmt"
	"regexp"
)

var gitLabPathRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$`)

// gitLab reads a GitLab CI job
// (https://docs.gitlab.com/ci/variables/predefined_variables/).
func gitLab(lookup func(string) (string, bool)) (*Build, error) {
	const platform = "gitlab ci"
	v, err := vars(lookup, platform,
		[]string{"CI_SERVER_URL", "CI_PROJECT_PATH", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "CI_CONFIG_PATH", "CI_PIPELINE_ID", "CI_JOB_ID", "CI_RUNNER_ID"},
		[]string{"CI_COMMIT_TAG", "CI_JOB_NAME", "CI_PIPELINE_SOURCE", "CI_PROJECT_ID", "CI_PROJECT_NAMESPACE_ID"})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Build, error) { return nil, fmt.Errorf("buildenv: %s: %w", platform, err) }
	server, err := serverURL("CI_SERVER_URL", v["CI_SERVER_URL"])
	if err != nil {
		return fail(err)
	}
	project := v["CI_PROJECT_PATH"]
	if !gitLabPathRE.MatchString(project) {
		return fail(fmt.Errorf("CI_PROJECT_PATH %q is not GROUP/PROJECT", project))
	}
	commit, err := checkCommit("CI_COMMIT_SHA", v["CI_COMMIT_SHA"])
	if err != nil {
		return fail(err)
	}
	ref := "refs/heads/" + v["CI_COMMIT_REF_NAME"]
	if tag := v["CI_COMMIT_TAG"]; tag != "" {
		if tag != v["CI_COMMIT_REF_NAME"] {
			return fail(fmt.Errorf("CI_COMMIT_TAG %q is not CI_COMMIT_REF_NAME %q", tag, v["CI_COMMIT_REF_NAME"]))
		}
		ref = "refs/tags/" + tag
	}
	if err := checkRef("CI_COMMIT_REF_NAME", ref); err != nil {
		return fail(err)
	}
	for _, name := range []string{"CI_CONFIG_PATH", "CI_JOB_NAME", "CI_PIPELINE_SOURCE"} {
		if err := checkText(name, v[name]); err != nil {
			return fail(err)
		}
	}
	for _, name := range []string{"CI_PIPELINE_ID", "CI_JOB_ID", "CI_RUNNER_ID", "CI_PROJECT_ID", "CI_PROJECT_NAMESPACE_ID"} {
		if v[name] == "" {
			continue // only optional ones can be empty here
		}
		if err := checkNumeric(name, v[name]); err != nil {
			return fail(err)
		}
	}
	repoURL := server + "/" + project
	ext := map[string]any{
		"workflow": map[string]any{"ref": ref, "repository": repoURL, "path": v["CI_CONFIG_PATH"]},
	}
	if v["CI_JOB_NAME"] != "" {
		ext["job"] = v["CI_JOB_NAME"]
	}
	gl := map[string]any{"pipeline_id": v["CI_PIPELINE_ID"]}
	for key, name := range map[string]string{
		"pipeline_source": "CI_PIPELINE_SOURCE",
		"project_id":      "CI_PROJECT_ID",
		"namespace_id":    "CI_PROJECT_NAMESPACE_ID",
	} {
		if v[name] != "" {
			gl[key] = v[name]
		}
	}
	return &Build{
		Platform:           GitLabCI,
		BuildType:          BuildTypeGitLabCI,
		BuilderID:          repoURL + "/-/runners/" + v["CI_RUNNER_ID"],
		ExternalParameters: ext,
		InternalParameters: map[string]any{"gitlab": gl},
		SourceURI:          "git+" + repoURL + "@" + ref,
		SourceCommit:       commit,
		InvocationID:       repoURL + "/-/jobs/" + v["CI_JOB_ID"],
	}, nil
}
