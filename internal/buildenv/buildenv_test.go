package buildenv

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
)

const (
	sha1 = "c27d339ee6075c1f744c5d4b200f7901aad2c369"
	sha2 = "0123456789abcdef0123456789abcdef01234567"
)

func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func gitHubEnv(ref, refType string) map[string]string {
	return map[string]string{
		"GITHUB_ACTIONS":             "true",
		"GITHUB_SERVER_URL":          "https://github.com",
		"GITHUB_REPOSITORY":          "octo/app",
		"GITHUB_SHA":                 sha1,
		"GITHUB_REF":                 ref,
		"GITHUB_REF_TYPE":            refType,
		"GITHUB_WORKFLOW_REF":        "octo/app/.github/workflows/release.yml@" + ref,
		"GITHUB_RUN_ID":              "1536140711",
		"GITHUB_RUN_ATTEMPT":         "2",
		"GITHUB_EVENT_NAME":          "push",
		"GITHUB_REPOSITORY_ID":       "1296269",
		"GITHUB_REPOSITORY_OWNER_ID": "583231",
		"RUNNER_ENVIRONMENT":         "github-hosted",
	}
}

func gitLabEnv(refName, tag string) map[string]string {
	return map[string]string{
		"GITLAB_CI":               "true",
		"CI_SERVER_URL":           "https://gitlab.example.com",
		"CI_PROJECT_PATH":         "group/sub/app",
		"CI_COMMIT_SHA":           sha2,
		"CI_COMMIT_REF_NAME":      refName,
		"CI_COMMIT_TAG":           tag,
		"CI_CONFIG_PATH":          ".gitlab-ci.yml",
		"CI_PIPELINE_ID":          "1216772341",
		"CI_JOB_ID":               "6412263894",
		"CI_JOB_NAME":             "release",
		"CI_RUNNER_ID":            "12270845",
		"CI_PIPELINE_SOURCE":      "push",
		"CI_PROJECT_ID":           "278964",
		"CI_PROJECT_NAMESPACE_ID": "9970",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := maps.Clone(m)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(out, kv[i])
			continue
		}
		out[kv[i]] = kv[i+1]
	}
	return out
}

func noGit() (Git, error) { return Git{}, errors.New("readGit called") }

func gitFacts(g Git) func() (Git, error) { return func() (Git, error) { return g, nil } }

func TestDetect(t *testing.T) {
	tests := []struct {
		name      string
		source    Source
		env       map[string]string
		git       func() (Git, error)
		platform  Platform
		predicate string
		warnings  []string
	}{
		{
			name: "github push on a tag",
			env:  gitHubEnv("refs/tags/v1.0.0", "tag"),
			git:  noGit, platform: GitHubActions,
			predicate: `{
			  "buildDefinition": {
			    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
			    "externalParameters": {"workflow": {"ref": "refs/tags/v1.0.0", "repository": "https://github.com/octo/app", "path": ".github/workflows/release.yml"}},
			    "internalParameters": {"github": {"event_name": "push", "repository_id": "1296269", "repository_owner_id": "583231", "runner_environment": "github-hosted"}},
			    "resolvedDependencies": [{"uri": "git+https://github.com/octo/app@refs/tags/v1.0.0", "digest": {"gitCommit": "` + sha1 + `"}}]
			  },
			  "runDetails": {
			    "builder": {"id": "https://github.com/octo/app/.github/workflows/release.yml@refs/tags/v1.0.0"},
			    "metadata": {"invocationId": "https://github.com/octo/app/actions/runs/1536140711/attempts/2"}
			  }
			}`,
		},
		{
			name: "github workflow_dispatch on a branch, enterprise server, minimal variables",
			env: with(gitHubEnv("refs/heads/main", "branch"),
				"GITHUB_SERVER_URL", "https://ghe.example.com/",
				"GITHUB_EVENT_NAME", "workflow_dispatch",
				"GITHUB_REPOSITORY_ID", "<unset>", "GITHUB_REPOSITORY_OWNER_ID", "<unset>", "RUNNER_ENVIRONMENT", "<unset>"),
			git: noGit, platform: GitHubActions,
			predicate: `{
			  "buildDefinition": {
			    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
			    "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://ghe.example.com/octo/app", "path": ".github/workflows/release.yml"}},
			    "internalParameters": {"github": {"event_name": "workflow_dispatch"}},
			    "resolvedDependencies": [{"uri": "git+https://ghe.example.com/octo/app@refs/heads/main", "digest": {"gitCommit": "` + sha1 + `"}}]
			  },
			  "runDetails": {
			    "builder": {"id": "https://ghe.example.com/octo/app/.github/workflows/release.yml@refs/heads/main"},
			    "metadata": {"invocationId": "https://ghe.example.com/octo/app/actions/runs/1536140711/attempts/2"}
			  }
			}`,
		},
		{
			name: "github ref with an @ and a pull request",
			env: with(gitHubEnv("refs/tags/pkg@1.0.0", "tag"),
				"GITHUB_EVENT_NAME", "pull_request",
				"GITHUB_WORKFLOW_REF", "octo/app/.github/workflows/a@b.yml@refs/tags/pkg@1.0.0"),
			git: noGit, platform: GitHubActions,
			predicate: `{
			  "buildDefinition": {
			    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
			    "externalParameters": {"workflow": {"ref": "refs/tags/pkg@1.0.0", "repository": "https://github.com/octo/app", "path": ".github/workflows/a@b.yml"}},
			    "internalParameters": {"github": {"event_name": "pull_request", "repository_id": "1296269", "repository_owner_id": "583231", "runner_environment": "github-hosted"}},
			    "resolvedDependencies": [{"uri": "git+https://github.com/octo/app@refs/tags/pkg@1.0.0", "digest": {"gitCommit": "` + sha1 + `"}}]
			  },
			  "runDetails": {
			    "builder": {"id": "https://github.com/octo/app/.github/workflows/a@b.yml@refs/tags/pkg@1.0.0"},
			    "metadata": {"invocationId": "https://github.com/octo/app/actions/runs/1536140711/attempts/2"}
			  }
			}`,
			warnings: []string{"the pull_request event is not one the GitHub workflow buildType covers (push, create, release, workflow_dispatch); verifiers may reject this provenance"},
		},
		{
			name: "gitlab tag pipeline",
			env:  gitLabEnv("v2.1.0", "v2.1.0"),
			git:  noGit, platform: GitLabCI,
			predicate: `{
			  "buildDefinition": {
			    "buildType": "https://hallmark.dev/buildtypes/gitlab-ci/v1",
			    "externalParameters": {"job": "release", "workflow": {"ref": "refs/tags/v2.1.0", "repository": "https://gitlab.example.com/group/sub/app", "path": ".gitlab-ci.yml"}},
			    "internalParameters": {"gitlab": {"pipeline_id": "1216772341", "pipeline_source": "push", "project_id": "278964", "namespace_id": "9970"}},
			    "resolvedDependencies": [{"uri": "git+https://gitlab.example.com/group/sub/app@refs/tags/v2.1.0", "digest": {"gitCommit": "` + sha2 + `"}}]
			  },
			  "runDetails": {
			    "builder": {"id": "https://gitlab.example.com/group/sub/app/-/runners/12270845"},
			    "metadata": {"invocationId": "https://gitlab.example.com/group/sub/app/-/jobs/6412263894"}
			  }
			}`,
		},
		{
			name: "gitlab branch pipeline, minimal variables",
			env: with(gitLabEnv("main", ""), "CI_COMMIT_TAG", "<unset>", "CI_JOB_NAME", "<unset>",
				"CI_PIPELINE_SOURCE", "<unset>", "CI_PROJECT_ID", "<unset>", "CI_PROJECT_NAMESPACE_ID", "<unset>"),
			git: noGit, platform: GitLabCI,
			predicate: `{
			  "buildDefinition": {
			    "buildType": "https://hallmark.dev/buildtypes/gitlab-ci/v1",
			    "externalParameters": {"workflow": {"ref": "refs/heads/main", "repository": "https://gitlab.example.com/group/sub/app", "path": ".gitlab-ci.yml"}},
			    "internalParameters": {"gitlab": {"pipeline_id": "1216772341"}},
			    "resolvedDependencies": [{"uri": "git+https://gitlab.example.com/group/sub/app@refs/heads/main", "digest": {"gitCommit": "` + sha2 + `"}}]
			  },
			  "runDetails": {
			    "builder": {"id": "https://gitlab.example.com/group/sub/app/-/runners/12270845"},
			    "metadata": {"invocationId": "https://gitlab.example.com/group/sub/app/-/jobs/6412263894"}
			  }
			}`,
		},
		{
			name:     "local checkout on a tag",
			env:      map[string]string{"CI": "true"},
			git:      gitFacts(Git{Commit: strings.ToUpper(sha2), Remote: "https://ci:s3cret@github.com/octo/app.git", Branch: "main", Tag: "v1.2.3"}),
			platform: Local,
			predicate: `{
			  "buildDefinition": {
			    "buildType": "https://hallmark.dev/buildtypes/local/v1",
			    "externalParameters": {"source": {"dirty": false, "ref": "refs/tags/v1.2.3", "repository": "https://github.com/octo/app"}},
			    "resolvedDependencies": [{"uri": "git+https://github.com/octo/app@refs/tags/v1.2.3", "digest": {"gitCommit": "` + sha2 + `"}}]
			  },
			  "runDetails": {"builder": {"id": "https://hallmark.dev/local/v1"}}
			}`,
			warnings: []string{"local build: this provenance is asserted by whoever runs hallmark, not by a CI platform (builder https://hallmark.dev/local/v1)"},
		},
		{
			name:     "local checkout forced in CI, detached and dirty, no origin",
			source:   SourceLocal,
			env:      gitHubEnv("refs/heads/main", "branch"),
			git:      gitFacts(Git{Commit: sha2, Dirty: true}),
			platform: Local,
			predicate: `{
			  "buildDefinition": {
			    "buildType": "https://hallmark.dev/buildtypes/local/v1",
			    "externalParameters": {"source": {"dirty": true}},
			    "resolvedDependencies": [{"digest": {"gitCommit": "` + sha2 + `"}}]
			  },
			  "runDetails": {"builder": {"id": "https://hallmark.dev/local/v1"}}
			}`,
			warnings: []string{
				"local build: this provenance is asserted by whoever runs hallmark, not by a CI platform (builder https://hallmark.dev/local/v1)",
				"the checkout has no origin remote; the provenance names no repository",
				"tracked files have uncommitted changes: the commit does not fully describe the source",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Detect(tt.source, lookupMap(tt.env), tt.git)
			if err != nil {
				t.Fatal(err)
			}
			if b.Platform != tt.platform {
				t.Errorf("platform %s, want %s", b.Platform, tt.platform)
			}
			got, err := b.Predicate()
			if err != nil {
				t.Fatal(err)
			}
			var gotV, wantV any
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.predicate), &wantV); err != nil {
				t.Fatalf("test predicate: %v", err)
			}
			if diff := cmp.Diff(wantV, gotV); diff != "" {
				t.Errorf("predicate (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, b.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			// The same build gives the same bytes.
			again, err := b.Predicate()
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(got) {
				t.Errorf("predicate differs between calls:\n%s\n%s", got, again)
			}
		})
	}
}

func TestDetectErrors(t *testing.T) {
	gh := gitHubEnv("refs/tags/v1.0.0", "tag")
	gl := gitLabEnv("main", "")
	notCheckout := func() (Git, error) { return Git{}, ErrNotCheckout }
	tests := []struct {
		name   string
		source Source
		env    map[string]string
		git    func() (Git, error)
		want   string
	}{
		{"github missing sha", "", with(gh, "GITHUB_SHA", "<unset>"), noGit, "buildenv: github actions: GITHUB_SHA is not set"},
		{"github empty run id and workflow ref", "", with(gh, "GITHUB_RUN_ID", "", "GITHUB_WORKFLOW_REF", "<unset>"), noGit,
			"buildenv: github actions: GITHUB_WORKFLOW_REF, GITHUB_RUN_ID are not set"},
		{"github short sha", "", with(gh, "GITHUB_SHA", "abc123"), noGit, `GITHUB_SHA "abc123" is not a 40-character hex git commit id`},
		{"github bad repository", "", with(gh, "GITHUB_REPOSITORY", "octo"), noGit, `GITHUB_REPOSITORY "octo" is not OWNER/REPO`},
		{"github server with a user", "", with(gh, "GITHUB_SERVER_URL", "https://u@github.com"), noGit, `GITHUB_SERVER_URL "https://u@github.com" is not a server URL`},
		{"github server not http", "", with(gh, "GITHUB_SERVER_URL", "file:///x"), noGit, `is not a server URL`},
		{"github ref not a ref", "", with(gh, "GITHUB_REF", "v1.0.0", "GITHUB_REF_TYPE", ""), noGit, `GITHUB_REF "v1.0.0" is not a git ref`},
		{"github ref type mismatch", "", with(gh, "GITHUB_REF_TYPE", "branch"), noGit, `GITHUB_REF "refs/tags/v1.0.0" does not match GITHUB_REF_TYPE "branch"`},
		{"github workflow elsewhere", "", with(gh, "GITHUB_WORKFLOW_REF", "evil/app/.github/workflows/x.yml@refs/heads/main"), noGit, `is not in GITHUB_REPOSITORY "octo/app"`},
		{"github workflow without ref", "", with(gh, "GITHUB_WORKFLOW_REF", "octo/app/.github/workflows/x.yml"), noGit, `is not OWNER/REPO/PATH@REF`},
		{"github run attempt not a number", "", with(gh, "GITHUB_RUN_ATTEMPT", "1/../x"), noGit, `GITHUB_RUN_ATTEMPT "1/../x" is not a number`},
		{"github newline in event", "", with(gh, "GITHUB_EVENT_NAME", "push\nx"), noGit, `has a space or control character`},
		{"github forced without GITHUB_ACTIONS", SourceGitHub, with(gh, "GITHUB_ACTIONS", "<unset>"), noGit, `GITHUB_ACTIONS is not "true"`},
		{"gitlab missing runner", "", with(gl, "CI_RUNNER_ID", "<unset>"), noGit, "buildenv: gitlab ci: CI_RUNNER_ID is not set"},
		{"gitlab missing several", "", with(gl, "CI_SERVER_URL", "<unset>", "CI_COMMIT_SHA", "<unset>", "CI_CONFIG_PATH", ""), noGit,
			"buildenv: gitlab ci: CI_SERVER_URL, CI_COMMIT_SHA, CI_CONFIG_PATH are not set"},
		{"gitlab tag is not the ref name", "", with(gl, "CI_COMMIT_TAG", "v9"), noGit, `CI_COMMIT_TAG "v9" is not CI_COMMIT_REF_NAME "main"`},
		{"gitlab bad project", "", with(gl, "CI_PROJECT_PATH", "app"), noGit, `CI_PROJECT_PATH "app" is not GROUP/PROJECT`},
		{"gitlab job id not a number", "", with(gl, "CI_JOB_ID", "x"), noGit, `CI_JOB_ID "x" is not a number`},
		{"both CI platforms", "", with(gh, "GITLAB_CI", "true"), noGit, "both GITHUB_ACTIONS and GITLAB_CI are true"},
		{"not a checkout", "", map[string]string{}, notCheckout, "not in a git checkout"},
		{"local bad commit", SourceLocal, nil, gitFacts(Git{Commit: "HEAD"}), `HEAD "head" is not a 40-character hex git commit id`},
		{"local branch with a space", SourceLocal, nil, gitFacts(Git{Commit: sha1, Branch: "a b"}), `has a space or control character`},
		{"unknown source", "jenkins", nil, noGit, `source "jenkins": want auto, github, gitlab or local`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Detect(tt.source, lookupMap(tt.env), tt.git)
			if err == nil {
				t.Fatalf("got a %s build, want error %q", b.Platform, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestSetBuilderID(t *testing.T) {
	b, err := Detect(SourceLocal, lookupMap(nil), gitFacts(Git{Commit: sha1}))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "builder", "/rel/path", "https://x/ y"} {
		if err := b.SetBuilderID(bad); err == nil {
			t.Errorf("SetBuilderID(%q) succeeded", bad)
		}
	}
	id := "https://github.com/octo/builders/.github/workflows/build.yml@refs/tags/v1"
	if err := b.SetBuilderID(id); err != nil {
		t.Fatal(err)
	}
	p, err := b.Predicate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(p), `"builder":{"id":"`+id+`"}`) {
		t.Errorf("predicate %s does not name builder %s", p, id)
	}
	// The buildType still says local.
	if !strings.Contains(string(p), BuildTypeLocal) {
		t.Errorf("predicate %s lost the local buildType", p)
	}
}

func TestStatement(t *testing.T) {
	b, err := Detect("", lookupMap(gitHubEnv("refs/tags/v1.0.0", "tag")), noGit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Statement(nil); err == nil {
		t.Error("a statement without subjects was made")
	}
	subjects := []attest.Subject{
		{Name: "app-linux-amd64", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}},
		{Name: "app-darwin-arm64", Digest: map[string]string{"sha256": strings.Repeat("b", 64)}},
	}
	out, err := b.Statement(subjects)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ParseStatement(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != attest.StatementTypeV1 || st.PredicateType != attest.PredicateSLSAProvenance1 {
		t.Errorf("got type %s predicate type %s", st.Type, st.PredicateType)
	}
	if diff := cmp.Diff(subjects, st.Subject); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	pred, err := b.Predicate()
	if err != nil {
		t.Fatal(err)
	}
	if string(st.Predicate) != string(pred) {
		t.Errorf("statement predicate %s, want %s", st.Predicate, pred)
	}
}
