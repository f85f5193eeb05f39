// Package buildenv describes the build a process runs in, as SLSA v1 build
// provenance (https://slsa.dev/provenance/v1), and the subjects the
// provenance is about, for an in-toto Statement v1
// (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md).
//
// [Detect] reads the environment through a lookup function (it never reads
// the process environment itself) and recognises three sources:
//
// # GitHub Actions (GITHUB_ACTIONS=true)
//
// The predicate has the shape actions/attest-build-provenance writes
// (@actions/attest buildSLSAProvenancePredicate), with the buildType
// https://actions.github.io/buildtypes/workflow/v1
// (https://github.com/actions/buildtypes/tree/main/workflow/v1):
//
//	buildDefinition.externalParameters.workflow: {ref, repository, path}
//	    from GITHUB_WORKFLOW_REF, GITHUB_SERVER_URL and GITHUB_REPOSITORY
//	buildDefinition.internalParameters.github: {event_name, repository_id,
//	    repository_owner_id, runner_environment} (those that are set)
//	buildDefinition.resolvedDependencies: [{uri: "git+SERVER/OWNER/REPO@GITHUB_REF",
//	    digest: {gitCommit: GITHUB_SHA}}]
//	runDetails.builder.id: SERVER/GITHUB_WORKFLOW_REF
//	runDetails.metadata.invocationId: SERVER/OWNER/REPO/actions/runs/RUN_ID/attempts/N
//
// As @actions/attest does, runner_environment goes in internalParameters
// (the buildType README lists it under externalParameters). The builder id
// of @actions/attest is the job_workflow_ref claim of the job's OIDC token,
// which no environment variable carries; for a top-level workflow it equals
// GITHUB_WORKFLOW_REF. A build in a reusable workflow must pass the
// reusable workflow's ref as the builder id explicitly.
//
// # GitLab CI (GITLAB_CI=true)
//
// GitLab Runner's own provenance (buildType
// https://gitlab.com/gitlab-org/gitlab-runner/-/blob/VERSION/PROVENANCE.md)
// describes the runner's artifacts archive and is written by the runner,
// so hallmark does not claim that buildType. It uses its own,
// https://hallmark.dev/buildtypes/gitlab-ci/v1, shaped like the GitHub one
// so the same policies apply:
//
//	buildDefinition.externalParameters.workflow: {ref, repository, path}
//	    ref: refs/tags/CI_COMMIT_TAG in a tag pipeline, else
//	    refs/heads/CI_COMMIT_REF_NAME; repository: CI_SERVER_URL/CI_PROJECT_PATH;
//	    path: CI_CONFIG_PATH
//	buildDefinition.externalParameters.job: CI_JOB_NAME (if set)
//	buildDefinition.internalParameters.gitlab: {pipeline_id, pipeline_source,
//	    project_id, namespace_id} (those that are set)
//	buildDefinition.resolvedDependencies: [{uri: "git+REPOSITORY@REF",
//	    digest: {gitCommit: CI_COMMIT_SHA}}]
//	runDetails.builder.id: REPOSITORY/-/runners/CI_RUNNER_ID (as GitLab
//	    Runner's and npm's GitLab provenance name the builder)
//	runDetails.metadata.invocationId: REPOSITORY/-/jobs/CI_JOB_ID
//
// # A local git checkout
//
// Outside CI the provenance describes the checkout [ReadGit] reads. It is
// marked as local in two places a policy checks first, so it cannot pass
// for a CI build: the buildType https://hallmark.dev/buildtypes/local/v1
// and the builder id [LocalBuilderID], which names no host or user. It has
// no "workflow" parameter:
//
//	buildDefinition.externalParameters.source: {repository, ref, dirty}
//	    repository: the origin remote as an https URL without credentials
//	    (left out when origin is missing or a local path); ref: refs/tags/T
//	    for a tag at HEAD, else refs/heads/BRANCH, else left out; dirty:
//	    whether tracked files have uncommitted changes
//	buildDefinition.resolvedDependencies: [{uri: "git+REPOSITORY@REF",
//	    digest: {gitCommit: HEAD}}]
//	runDetails.builder.id: https://hallmark.dev/local/v1
//
// Local provenance is only as trustworthy as whoever ran hallmark: it is
// self-asserted, and [Build.Warnings] says so.
package buildenv
