package slsa_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
	"hallmark.dev/slsa"
)

const (
	digestA = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digestB = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	digestC = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// statement builds a signed-statement stand-in: the payload and the
// statement parsed from it.
func statement(t *testing.T, predicateType, predicate string) (*attest.Statement, []byte) {
	t.Helper()
	payload, err := attest.NewStatement(predicateType, json.RawMessage(predicate),
		attest.Subject{Name: "a", Digest: map[string]string{"sha256": strings.TrimPrefix(digestA, "sha256:")}},
		attest.Subject{Name: "b", Digest: map[string]string{"sha256": strings.TrimPrefix(digestB, "sha256:")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	return st, payload
}

func artifacts(digests ...string) []slsa.Artifact {
	var out []slsa.Artifact
	for _, d := range digests {
		out = append(out, slsa.Artifact{Name: "file-" + d[len(d)-4:], Digests: []string{d}})
	}
	return out
}

// GitHub workflow build type (actions/attest-build-provenance), SLSA v1.
const workflowV1 = `{
  "buildDefinition": {
    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
    "externalParameters": {
      "workflow": {"ref": "refs/tags/v1.2.3", "repository": "https://github.com/org/app", "path": ".github/workflows/release.yml"},
      "inputs": {"flag": true, "n": 3, "s": "x", "obj": {}}
    },
    "resolvedDependencies": [{"uri": "git+https://github.com/org/app@refs/tags/v1.2.3", "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}}]
  },
  "runDetails": {"builder": {"id": "https://github.com/org/builder/.github/workflows/b.yml@refs/tags/v2.0.0"}}
}`

// slsa-github-generator's generic generator, SLSA v0.2, a tag pushed from main.
const genericV02 = `{
  "builder": {"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v1.9.0"},
  "buildType": "https://github.com/slsa-framework/slsa-github-generator/generic@v1",
  "invocation": {
    "configSource": {"uri": "git+https://github.com/org/app@refs/tags/v1.2.3-rc.1", "entryPoint": ".github/workflows/release.yml"},
    "environment": {
      "github_event_name": "push", "github_ref": "refs/tags/v1.2.3-rc.1", "github_ref_type": "tag", "github_base_ref": "",
      "github_event_payload": {"base_ref": "refs/heads/main", "ref": "refs/tags/v1.2.3-rc.1"}
    }
  },
  "materials": [{"uri": "git+https://github.com/org/app@refs/tags/v1.2.3-rc.1"}]
}`

// A BYOB delegator build, SLSA v1, from a branch.
const byobV1 = `{
  "buildDefinition": {
    "buildType": "https://github.com/slsa-framework/slsa-github-generator/delegator-generic@v0",
    "externalParameters": {"inputs": {"artifact": "x"}},
    "internalParameters": {
      "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/main", "GITHUB_REF_TYPE": "branch", "GITHUB_BASE_REF": "",
      "GITHUB_WORKFLOW_REF": "org/app/.github/workflows/release.yml@refs/heads/main",
      "GITHUB_EVENT_PAYLOAD": {"inputs": {"version": "1.0"}}
    },
    "resolvedDependencies": [{"uri": "git+https://github.com/org/app@refs/heads/main"}]
  },
  "runDetails": {"builder": {"id": "https://github.com/org/trw/.github/workflows/builder.yml@refs/tags/v1.0.0"}}
}`

// Some other builder: no GitHub context, the source in resolvedDependencies.
const otherV1 = `{
  "buildDefinition": {
    "buildType": "https://example.com/make/v1",
    "externalParameters": {"inputs": {"target": "release"}},
    "resolvedDependencies": [{"uri": "https://gitlab.com/org/app@refs/heads/stable"}]
  },
  "runDetails": {"builder": {"id": "https://example.com/builder"}}
}`

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pred      string
		predType  string
		req       slsa.Requirements
		wantFail  []string // the failed checks, in order
		wantError string   // a substring of the error
	}{
		{name: "workflow v1, all good", pred: workflowV1, req: slsa.Requirements{
			SourceURI: "github.com/org/app", SourceTag: "v1.2.3", SourceVersionedTag: "v1", BuilderID: "https://github.com/org/builder/.github/workflows/b.yml@v2.0.0",
			BuildWorkflowInputs: map[string]string{"flag": "true", "n": "3", "s": "x"}, Artifacts: artifacts(digestA, digestB)}},
		{name: "source uri with https://", pred: workflowV1, req: slsa.Requirements{SourceURI: "https://github.com/org/app", Artifacts: artifacts(digestB)}},
		{name: "source uri with git+https://", pred: workflowV1, req: slsa.Requirements{SourceURI: "git+https://github.com/org/app", Artifacts: artifacts(digestB)}},
		{name: "source uri http:// is another repository", pred: workflowV1, req: slsa.Requirements{SourceURI: "http://github.com/org/app", Artifacts: artifacts(digestB)},
			wantFail: []string{slsa.CheckSourceURI}, wantError: "source uri: provenance says git+https://github.com/org/app (predicate.buildDefinition.externalParameters.workflow), want http://github.com/org/app"},
		{name: "source uri prefix", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/ap", Artifacts: artifacts(digestB)}, wantFail: []string{slsa.CheckSourceURI}},
		{name: "source uri with the ref is not a repository", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app@refs/tags/v1.2.3", Artifacts: artifacts(digestB)}, wantFail: []string{slsa.CheckSourceURI}},
		{name: "artifact not a subject", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA, digestC)},
			wantFail: []string{slsa.CheckSubject}, wantError: "subject: artifact file-3333 (" + digestC + ") is not among the provenance subjects: a (" + digestA + "), b (" + digestB + ")"},
		{name: "builder name only", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", BuilderID: "https://github.com/org/builder/.github/workflows/b.yml", Artifacts: artifacts(digestA)}},
		{name: "builder full ref", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", BuilderID: "https://github.com/org/builder/.github/workflows/b.yml@refs/tags/v2.0.0", Artifacts: artifacts(digestA)}},
		{name: "builder other version", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", BuilderID: "https://github.com/org/builder/.github/workflows/b.yml@v2.0.1", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBuilder}},
		{name: "builder name prefix", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", BuilderID: "https://github.com/org/builder", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBuilder}},
		{name: "trusted builders", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", TrustedBuilders: []string{"https://x", "https://github.com/org/builder/.github/workflows/b.yml@v2.0.0"}, Artifacts: artifacts(digestA)}},
		{name: "untrusted builder", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", TrustedBuilders: []string{"https://x"}, Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBuilder}, wantError: "is not one of the trusted builders (https://x)"},
		{name: "trusted but not the expected builder", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", BuilderID: "https://x", TrustedBuilders: []string{"https://github.com/org/builder/.github/workflows/b.yml"}, Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBuilder}},
		{name: "tag mismatch", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceTag: "v1.2", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckTag}, wantError: "tag: provenance says v1.2.3, want v1.2"},
		{name: "versioned tag minor", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceVersionedTag: "v1.3", Artifacts: artifacts(digestA)}, wantFail: []string{slsa.CheckVersionedTag}},
		{name: "no branch for a tag build", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceBranch: "main", Artifacts: artifacts(digestA)}, wantFail: []string{slsa.CheckBranch}},
		{name: "inputs: object and missing values", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/org/app", BuildWorkflowInputs: map[string]string{"obj": "{}", "flag": "false", "nope": "1"}, Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckWorkflowInputs}, wantError: "provenance says flag=true, want flag=false; nope is not among the inputs in predicate.buildDefinition.externalParameters.inputs; obj is not a string, boolean or number"},
		{name: "every failure is named", pred: workflowV1, req: slsa.Requirements{SourceURI: "github.com/evil/app", SourceTag: "v9", BuilderID: "https://evil", Artifacts: artifacts(digestC)},
			wantFail: []string{slsa.CheckBuilder, slsa.CheckSourceURI, slsa.CheckSubject, slsa.CheckTag}, wantError: "4 provenance checks failed:"},

		{name: "generic v0.2 tag build from main", pred: genericV02, predType: slsa.PredicateV02, req: slsa.Requirements{
			SourceURI: "github.com/org/app", SourceTag: "v1.2.3-rc.1", SourceBranch: "main", SourceVersionedTag: "v1.2.3-rc.1",
			BuilderID: "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@v1.9.0", Artifacts: artifacts(digestA)}},
		{name: "generic v0.2 versioned tag: the pre-release counts", pred: genericV02, predType: slsa.PredicateV02, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceVersionedTag: "v1.2.3-rc.2", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckVersionedTag}},
		{name: "generic v0.2 versioned tag v1.2 accepts a pre-release", pred: genericV02, predType: slsa.PredicateV02, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceVersionedTag: "v1.2", Artifacts: artifacts(digestA)}},
		{name: "generic v0.2 inputs of a push", pred: genericV02, predType: slsa.PredicateV02, req: slsa.Requirements{SourceURI: "github.com/org/app", BuildWorkflowInputs: map[string]string{"a": "b"}, Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckWorkflowInputs}, wantError: "triggered by push, not workflow_dispatch"},
		{name: "generic v0.2 other branch", pred: genericV02, predType: slsa.PredicateV02, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceBranch: "dev", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBranch}, wantError: "branch: provenance says main, want dev"},

		{name: "byob v1 branch and inputs", pred: byobV1, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceBranch: "main",
			BuildWorkflowInputs: map[string]string{"version": "1.0"}, BuilderID: "https://github.com/org/trw/.github/workflows/builder.yml@v1.0.0", Artifacts: artifacts(digestA)}},
		{name: "byob v1 no tag", pred: byobV1, req: slsa.Requirements{SourceURI: "github.com/org/app", SourceTag: "v1", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckTag}, wantError: "records no tag"},
		{name: "byob builder at a branch", pred: strings.Replace(byobV1, "builder.yml@refs/tags/v1.0.0", "builder.yml@refs/heads/main", 1), req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBuilder}, wantError: "is not a refs/tags/ ref"},
		{name: "byob builder at a pre-release", pred: strings.Replace(byobV1, "@refs/tags/v1.0.0", "@refs/tags/v1.0.0-rc1", 1), req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBuilder}},
		{name: "byob trigger and source refs differ", pred: strings.Replace(byobV1, `app@refs/heads/main"}]`, `app@refs/heads/dev"}]`, 1), req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckSourceURI}, wantError: "triggered from git+https://github.com/org/app@refs/heads/main but built git+https://github.com/org/app@refs/heads/dev"},
		{name: "byob source without a ref (another commit)", pred: strings.Replace(byobV1, `app@refs/heads/main"}]`, `app"}]`, 1), req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)}},
		{name: "byob trigger from another repository", pred: strings.Replace(byobV1, `"org/app/.github`, `"evil/app/.github`, 1), req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckSourceURI}, wantError: "provenance says git+https://github.com/evil/app (predicate.buildDefinition.internalParameters.GITHUB_WORKFLOW_REF)"},

		{name: "other builder", pred: otherV1, req: slsa.Requirements{SourceURI: "https://gitlab.com/org/app", SourceBranch: "stable", BuildWorkflowInputs: map[string]string{"target": "release"}, Artifacts: artifacts(digestA)}},
		{name: "other builder without scheme", pred: otherV1, req: slsa.Requirements{SourceURI: "gitlab.com/org/app", Artifacts: artifacts(digestA)}},
		{name: "other builder, no source", pred: `{"buildDefinition": {"buildType": "x"}, "runDetails": {"builder": {"id": "y"}}}`, req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckSourceURI}, wantError: "names no source"},
		{name: "other builder, no builder id", pred: `{"buildDefinition": {"buildType": "x", "resolvedDependencies": [{"uri": "git+https://github.com/org/app"}]}}`, req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckBuilder}, wantError: "no predicate.runDetails.builder.id"},
		{name: "field names are exact", pred: strings.Replace(otherV1, `"resolvedDependencies"`, `"ResolvedDependencies"`, 1), req: slsa.Requirements{SourceURI: "gitlab.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckSourceURI}},
		{name: "not SLSA", pred: `{}`, predType: attest.PredicateCycloneDX, req: slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)},
			wantFail: []string{slsa.CheckPredicateType}, wantError: "predicate type: https://cyclonedx.org/bom is not SLSA provenance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt := tc.predType
			if pt == "" {
				pt = slsa.PredicateV1
			}
			st, payload := statement(t, pt, tc.pred)
			res, err := slsa.Check(st, payload, tc.req)
			var ce *slsa.Error
			if err != nil && !errors.As(err, &ce) {
				t.Fatalf("Check: %v", err)
			}
			var failed []string
			for _, c := range res.Failed() {
				failed = append(failed, c.Name)
			}
			if diff := cmp.Diff(tc.wantFail, failed); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s\nerror: %v", diff, err)
			}
			if (err == nil) != res.Passed() {
				t.Errorf("error %v but Passed() = %v", err, res.Passed())
			}
			if tc.wantError != "" && (err == nil || !strings.Contains(err.Error(), tc.wantError)) {
				t.Errorf("error %v, want it to contain %q", err, tc.wantError)
			}
		})
	}
}

func TestCheckRefusesBadInput(t *testing.T) {
	st, payload := statement(t, slsa.PredicateV1, workflowV1)
	other, otherPayload := statement(t, slsa.PredicateV1, otherV1)
	ok := slsa.Requirements{SourceURI: "github.com/org/app", Artifacts: artifacts(digestA)}
	for _, tc := range []struct {
		name    string
		st      *attest.Statement
		payload []byte
		req     func(r *slsa.Requirements)
		want    string
	}{
		{"no source uri", st, payload, func(r *slsa.Requirements) { r.SourceURI = " " }, "no source uri given"},
		{"no artifact", st, payload, func(r *slsa.Requirements) { r.Artifacts = nil }, "no artifact given"},
		{"artifact without digest", st, payload, func(r *slsa.Requirements) { r.Artifacts = []slsa.Artifact{{Name: "x"}} }, "artifact x has no digest"},
		{"bad digest", st, payload, func(r *slsa.Requirements) { r.Artifacts = []slsa.Artifact{{Name: "x", Digests: []string{"sha256:12"}}} }, "has 2 hex characters"},
		{"bad builder id", st, payload, func(r *slsa.Requirements) { r.BuilderID = "a@" }, `builder id "a@" is not of the form`},
		{"bad trusted builder", st, payload, func(r *slsa.Requirements) { r.TrustedBuilders = []string{"@v1"} }, "trusted builder"},
		{"bad versioned tag", st, payload, func(r *slsa.Requirements) { r.SourceVersionedTag = "1.2" }, `"1.2" is not a semantic version`},
		{"empty input name", st, payload, func(r *slsa.Requirements) { r.BuildWorkflowInputs = map[string]string{"": "x"} }, "empty name"},
		{"no statement", nil, payload, func(*slsa.Requirements) {}, "no statement"},
		{"statement of another payload", other, payload, func(*slsa.Requirements) {}, "not the one its payload holds"},
		{"payload not a statement", st, []byte("{}"), func(*slsa.Requirements) {}, "slsa: attest:"},
		{"payload of another statement", st, otherPayload, func(*slsa.Requirements) {}, "not the one its payload holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.req(&req)
			_, err := slsa.Check(tc.st, tc.payload, req)
			var ce *slsa.Error
			if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckSHA512Subject(t *testing.T) {
	sum := strings.Repeat("ab", 64)
	payload, err := attest.NewStatement(slsa.PredicateV1, json.RawMessage(otherV1), attest.Subject{Name: "pkg:npm/x@1", Digest: map[string]string{"sha512": sum}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	req := slsa.Requirements{SourceURI: "gitlab.com/org/app", Artifacts: []slsa.Artifact{{Name: "x.tgz", Digests: []string{digestA, "sha512:" + sum}}}}
	res, err := slsa.Check(st, payload, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Checks[len(res.Checks)-1].Detail; got != "x.tgz is subject pkg:npm/x@1" {
		t.Errorf("subject detail %q", got)
	}
}
