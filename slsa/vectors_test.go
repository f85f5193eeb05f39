package slsa_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"hallmark.dev/attest"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/slsa"
	"hallmark.dev/verify"
)

// The vectors are slsa-verifier's own test data (see
// testdata/slsa-verifier/README.md), run with the options its regression
// tests (cli/slsa-verifier/main_regression_test.go) use, each case named
// as there. A case passes when hallmark reaches slsa-verifier's verdict for
// the same reason: the signature (or signer) is refused, or the same check
// fails, or everything passes.
//
// slsa-verifier trusts a fixed list of builders by their certificate
// identity; hallmark takes the identity from the user. The identities below
// say what slsa-verifier's list says: slsa-github-generator's reusable
// workflows at a release tag, the named BCR workflow at a release tag, an
// npm package's own repository.

const (
	vecDir     = "testdata/slsa-verifier"
	ghIssuer   = "https://token.actions.githubusercontent.com"
	sgg        = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
	examplePkg = "github.com/slsa-framework/example-package"
)

// sggTag is the signer slsa-verifier trusts for its GitHub builders.
var sggTag = verify.Identity{Issuer: ghIssuer, SubjectRegexp: regexp.QuoteMeta(sgg) + `[^/@]+@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+`}

func workflowAtTag(workflow string) verify.Identity {
	return verify.Identity{Issuer: ghIssuer, SubjectRegexp: regexp.QuoteMeta(workflow) + `@refs/tags/v[0-9]+\.[0-9]+\.[0-9]+`}
}

func repoWorkflows(repo string) verify.Identity {
	return verify.Identity{Issuer: ghIssuer, SubjectRegexp: regexp.QuoteMeta("https://github.com/"+repo+"/") + `.+`}
}

type vector struct {
	name       string // slsa-verifier's test case, with the builder and builder id tried
	provenance string
	artifacts  []string
	signer     verify.Identity
	req        slsa.Requirements
	// want is "" (verified), "check NAME" (that check, only, failed) or
	// "step STEP" (the signature was refused at that step).
	want string
	// checkOnly: the signature cannot be checked offline (a bare DSSE
	// envelope with a certificate and no log entry); the test checks that
	// it is refused for that reason, then runs the checks on the
	// unverified statement to compare the policy verdict.
	checkOnly bool
}

func TestSLSAVerifierVectors(t *testing.T) {
	tr, err := os.ReadFile(filepath.Join(vecDir, "public-good-trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := verify.ParseTrustedRoot(tr)
	if err != nil {
		t.Fatal(err)
	}
	digests := readArtifacts(t)
	cases := vectors()
	counts := map[string]int{}
	authorities := map[verify.Identity]verify.Authority{}
	results := map[string]verified{}
	for _, v := range cases {
		t.Run(v.name, func(t *testing.T) {
			authority, ok := authorities[v.signer]
			if !ok {
				if authority, err = verify.NewKeyless(root, v.signer); err != nil {
					t.Fatal(err)
				}
				authorities[v.signer] = authority
			}
			req := v.req
			for _, a := range v.artifacts {
				d, ok := digests[a]
				if !ok {
					t.Fatalf("no digest for artifact %s in artifacts.txt", a)
				}
				req.Artifacts = append(req.Artifacts, d)
			}
			key := fmt.Sprintf("%s %v", v.provenance, v.signer)
			res, ok := results[key]
			if !ok {
				res = verifyFile(t, filepath.Join(vecDir, v.provenance), authority, v.checkOnly)
				results[key] = res
			}
			if got := verdict(t, res, req); got != v.want {
				t.Errorf("got %q, want %q (slsa-verifier's verdict)", got, v.want)
			}
			if v.checkOnly {
				counts["checks-only"]++
			} else {
				counts["full"]++
			}
			if v.want == "" {
				counts["accepted"]++
			} else {
				counts["refused"]++
			}
		})
	}
	t.Logf("%d cases (%d accepted, %d refused as slsa-verifier does): %d verified end to end (signature and checks), %d checks-only (signature not checkable offline)",
		len(cases), counts["accepted"], counts["refused"], counts["full"], counts["checks-only"])
}

// verified is the outcome of verifying a vector's signatures.
type verified struct {
	statements []*verify.VerifiedAttestation
	refused    *verify.SignatureError
}

// verifyFile verifies every signed statement in the file. For a checks-only
// vector each must be refused for want of a signing time; its statement is
// then decoded unverified.
func verifyFile(t *testing.T, path string, authority verify.Authority, checkOnly bool) verified {
	t.Helper()
	var out verified
	for i, e := range provenanceEntries(t, path) {
		v, err := verify.Statement(fmt.Sprintf("%s #%d", filepath.Base(path), i+1), e, verify.StatementPolicy{Authority: authority, PredicateTypes: slsa.PredicateTypes})
		var se *verify.SignatureError
		switch {
		case errors.As(err, &se):
			if out.refused == nil {
				out.refused = se
			}
			if checkOnly {
				if !errors.Is(err, verify.ErrNoSigningTime) {
					t.Fatalf("want the offline limit (%v), got %v", verify.ErrNoSigningTime, err)
				}
				out.statements = append(out.statements, unverified(t, e))
			}
		case err != nil:
			t.Fatal(err)
		default:
			if checkOnly {
				t.Fatal("a checks-only vector verified offline")
			}
			out.statements = append(out.statements, v)
		}
	}
	return out
}

// verdict checks the statements; one passing is enough.
func verdict(t *testing.T, v verified, req slsa.Requirements) string {
	t.Helper()
	if len(v.statements) == 0 {
		if v.refused == nil {
			t.Fatal("no statements")
		}
		return "step " + string(v.refused.Step)
	}
	out := ""
	for _, s := range v.statements {
		res, err := slsa.Check(s.Statement, s.Payload, req)
		var ce *slsa.Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatal(err)
		}
		res.Checks = append(res.Checks, slsa.CheckSigner(req.SourceURI, s.Signer.SourceRepositoryURI, s.Signer.GitHubRepository))
		// slsa-verifier reports a certificate naming another repository
		// as it reports provenance naming another: a source mismatch.
		var names []string
		for _, f := range res.Failed() {
			name := f.Name
			if name == slsa.CheckCertificateSource {
				name = slsa.CheckSourceURI
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		switch len(names) {
		case 0:
			return ""
		case 1:
			out = "check " + names[0]
		default:
			return "checks " + strings.Join(names, ", ")
		}
	}
	return out
}

// provenanceEntries reads the signed statements of a vector: one bundle or
// envelope per file, or npm's attestations document.
func provenanceEntries(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".tgz.json") {
		return [][]byte{bytes.TrimSpace(data)}
	}
	var out [][]byte
	for _, a := range lite.NpmAttestations(t, data) {
		if slices.Contains(slsa.PredicateTypes, a.PredicateType) {
			out = append(out, a.Bundle)
		}
	}
	return out
}

// unverified decodes the statement of a bare DSSE envelope without
// checking its signature (checks-only vectors).
func unverified(t *testing.T, envelope []byte) *verify.VerifiedAttestation {
	t.Helper()
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	st, err := attest.ParseStatement(payload)
	if err != nil {
		t.Fatal(err)
	}
	return &verify.VerifiedAttestation{Statement: st, Payload: payload}
}

// readArtifacts reads artifacts.txt: "sha256 sha512 path" per line, the
// digests of the upstream artifacts (not checked in: some are megabytes).
func readArtifacts(t *testing.T) map[string]slsa.Artifact {
	t.Helper()
	f, err := os.Open(filepath.Join(vecDir, "artifacts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]slsa.Artifact{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) != 3 {
			t.Fatalf("artifacts.txt: bad line %q", s.Text())
		}
		out[fields[2]] = slsa.Artifact{Name: fields[2], Digests: []string{"sha256:" + fields[0], "sha512:" + fields[1]}}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ghaCase is a case of slsa-verifier's Test_runVerifyGHAArtifactPath and
// Test_runVerifyGHAContainerBased.
type ghaCase struct {
	name, artifact, source string
	branch, tag, vtag      string
	builderID              *string
	inputs                 map[string]string
	want                   string
}

func ptr(s string) *string { return &s }

// ghaArtifactPathCases are Test_runVerifyGHAArtifactPath's cases that run
// over every builder version (here v2.1.0, whose provenance is a Sigstore
// bundle).
func ghaArtifactPathCases() []ghaCase {
	const wd, v13, v14, v142 = "binary-linux-amd64-workflow_dispatch", "binary-linux-amd64-push-v13.0.30", "binary-linux-amd64-push-v14", "binary-linux-amd64-push-v14.2"
	cs := []ghaCase{
		{name: "valid main branch default", artifact: wd, source: examplePkg},
		{name: "valid main branch default - invalid builderID", artifact: wd, source: examplePkg, builderID: ptr(sgg + "not-trusted.yml"), want: "check builder"},
		{name: "valid main branch set", artifact: wd, source: examplePkg, branch: "main"},
		{name: "wrong branch master", artifact: wd, source: examplePkg, branch: "master", want: "check branch"},
		{name: "wrong source append A", artifact: wd, source: "github.com/laurentsimon/slsa-verifier-test-genA", want: "check source uri"},
		{name: "wrong source prepend A", artifact: wd, source: "github.com/laurentsimon/slsa-verifier-test-gen", want: "check source uri"},
		{name: "wrong source middle A", artifact: wd, source: "github.com/Alaurentsimon/slsa-verifier-test-gen", want: "check source uri"},
		{name: "tag no match empty tag workflow_dispatch", artifact: wd, source: examplePkg, tag: "v1.2.3", want: "check tag"},
		{name: "versioned tag no match empty tag workflow_dispatch", artifact: wd, source: examplePkg, vtag: "v1", want: "check versioned tag"},
		{name: "tag v13.0.29 no match v13.0.30", artifact: v13, source: examplePkg, tag: "v13.0.29", want: "check tag"},
		{name: "tag v13.0 no match v13.0.30", artifact: v13, source: examplePkg, tag: "v13.0", want: "check tag"},
		{name: "tag v13 no match v13.0.30", artifact: v13, source: examplePkg, tag: "v13", want: "check tag"},
	}
	versioned := func(artifact string, match []string, noMatch []string) {
		for _, v := range match {
			cs = append(cs, ghaCase{name: "versioned " + v + " match " + artifact, artifact: artifact, source: examplePkg, vtag: v})
		}
		for _, v := range noMatch {
			cs = append(cs, ghaCase{name: "versioned " + v + " no match " + artifact, artifact: artifact, source: examplePkg, vtag: v, want: "check versioned tag"})
		}
	}
	versioned(v13, []string{"v13.0.30", "v13.0", "v13"}, []string{"v2", "v0", "v13.1", "v12.9", "v13.0.29", "v13.0.31"})
	versioned(v14, []string{"v14", "v14.0"}, []string{"v14.1", "v13", "v15", "v13.2", "v0"})
	versioned(v142, []string{"v14.2", "v14"}, []string{"v14.2.1", "v14.2.3", "v14.1", "v14.1.1", "v14.3.1", "v13", "v15", "v15.1"})
	return cs
}

func vectors() []vector {
	var vs []vector
	add := func(v vector) { vs = append(vs, v) }
	req := func(c ghaCase) slsa.Requirements {
		r := slsa.Requirements{SourceURI: c.source, SourceBranch: c.branch, SourceTag: c.tag, SourceVersionedTag: c.vtag, BuildWorkflowInputs: c.inputs}
		if c.builderID != nil {
			r.BuilderID = *c.builderID
		}
		return r
	}
	builderIDs := func(builder, version string, withNone bool) []*string {
		ids := []*string{ptr(builder)}
		if withNone {
			ids = append(ids, nil)
		}
		return append(ids, ptr(builder+"@"+version), ptr(builder+"@refs/tags/"+version))
	}
	describe := func(id *string) string {
		if id == nil {
			return "no builder id"
		}
		return *id
	}

	// Test_runVerifyGHAArtifactPath over the builders whose v2.1.0
	// provenance is a Sigstore bundle: Go and generic (SLSA v0.2), and the
	// BYOB delegator (SLSA v1); Maven and Gradle (BYOB, v1) for the
	// workflow_dispatch build only.
	for _, b := range []struct {
		dir, builder, ext string
		byob              bool
		wdOnly            bool
	}{
		{"gha_go", sgg + "builder_go_slsa3.yml", ".intoto.jsonl", false, false},
		{"gha_generic", sgg + "generator_generic_slsa3.yml", ".intoto.jsonl", false, false},
		{"gha_delegator", "https://github.com/slsa-framework/example-trw/.github/workflows/builder_high-perms_slsa3.yml", ".build.slsa", true, false},
		{"gha_maven", sgg + "builder_maven_slsa3.yml", ".build.slsa", true, true},
		{"gha_gradle", sgg + "builder_gradle_slsa3.yml", ".build.slsa", true, true},
	} {
		for _, c := range ghaArtifactPathCases() {
			if b.wdOnly && c.artifact != "binary-linux-amd64-workflow_dispatch" {
				continue
			}
			// slsa-verifier does not run the delegator without a builder
			// id (its builder lives in another repository).
			ids := builderIDs(b.builder, "v2.1.0", b.dir != "gha_delegator")
			if c.builderID != nil {
				ids = []*string{c.builderID}
			}
			for _, id := range ids {
				c := c
				c.builderID = id
				add(vector{
					name:       fmt.Sprintf("%s/v2.1.0/%s/%s", b.dir, c.name, describe(id)),
					provenance: b.dir + "/v2.1.0/" + c.artifact + b.ext,
					artifacts:  []string{b.dir + "/v2.1.0/" + c.artifact},
					signer:     sggTag,
					req:        req(c),
					want:       c.want,
				})
			}
		}
	}

	// Test_runVerifyGHAArtifactPath's cases on single vectors.
	multi := "binary-linux-amd64-multi-subject-first.intoto.jsonl"
	for _, c := range []struct {
		name      string
		artifacts []string
		builderID string
		want      string
	}{
		{name: "multiple subject first match", artifacts: []string{"binary-linux-amd64-multi-subject-first"}},
		{name: "multiple subject second match", artifacts: []string{"binary-linux-amd64-multi-subject-second"}},
		{name: "multiple subject first and second match", artifacts: []string{"binary-linux-amd64-multi-subject-first", "binary-linux-amd64-multi-subject-second"}},
		{name: "multiple subject second and first match", artifacts: []string{"binary-linux-amd64-multi-subject-second", "binary-linux-amd64-multi-subject-first"}},
		{name: "multiple subject repeated match", artifacts: []string{"binary-linux-amd64-multi-subject-first", "binary-linux-amd64-multi-subject-first"}},
		// upstream uses binary-linux-amd64-sharded, whose blob is not in
		// the repository snapshot; any artifact outside the subjects will do.
		{name: "multiple subject one mismatch", artifacts: []string{"binary-linux-amd64-multi-subject-first", "gha_go/v2.1.0/binary-linux-amd64-workflow_dispatch"}, want: "check subject"},
		{name: "multiple subject no match", artifacts: []string{"gha_go/v2.1.0/binary-linux-amd64-workflow_dispatch"}, want: "check subject"},
		{name: "multiple subject second match - builderID", artifacts: []string{"binary-linux-amd64-multi-subject-second"}, builderID: sgg + "generator_generic_slsa3.yml"},
	} {
		add(vector{name: c.name, provenance: multi, artifacts: c.artifacts, signer: sggTag,
			req: slsa.Requirements{SourceURI: examplePkg, BuilderID: c.builderID}, want: c.want, checkOnly: true})
	}
	// "rekor upload bypassed" and "malicious: invalid signature expired
	// certificate": slsa-verifier finds no Rekor entry (ErrorRekorSearch);
	// offline there is none either, and no signing time.
	for name, file := range map[string]string{
		"rekor upload bypassed":                            "binary-linux-amd64-no-tlog-upload",
		"malicious: invalid signature expired certificate": "binary-linux-amd64-expired-cert",
	} {
		add(vector{name: name, provenance: file + ".intoto.jsonl", artifacts: []string{file},
			signer: sggTag, req: slsa.Requirements{SourceURI: examplePkg}, want: "step timestamp"})
	}
	annotated := func(name, branch, want string) {
		add(vector{name: name, provenance: "annotated-tag.intoto.jsonl", artifacts: []string{"annotated-tag"}, signer: sggTag,
			req: slsa.Requirements{SourceURI: "github.com/asraa/slsa-on-github-test", SourceVersionedTag: "v1.5.0", SourceBranch: branch}, want: want, checkOnly: true})
	}
	annotated("annotated tag", "", "")
	annotated("no branch", "main", "check branch")
	inputs := func(name string, in map[string]string, want string) {
		add(vector{name: name, provenance: "workflow-inputs.intoto.jsonl", artifacts: []string{"workflow-inputs"}, signer: sggTag,
			req: slsa.Requirements{SourceURI: "github.com/laurentsimon/slsa-on-github-test", BuildWorkflowInputs: in}, want: want, checkOnly: true})
	}
	inputs("workflow inputs match", map[string]string{"release_version": "(for example, 0.1.0)", "some_bool": "true", "some_integer": "123"}, "")
	inputs("workflow inputs missing field", map[string]string{"release_version": "(for example, 0.1.0)", "some_bool": "true", "missing_field": "123"}, "check workflow inputs")
	inputs("workflow inputs mismatch", map[string]string{"release_version": "(for example, 0.1.0)", "some_bool": "true", "some_integer": "321"}, "check workflow inputs")

	// Test_runVerifyGHAContainerBased (SLSA v1, container-based build
	// type), v2.1.0 (bundle v0.2) and v1.7.0 (bundle v0.1, an inclusion
	// promise and no proof).
	containerBuilder := sgg + "builder_container-based_slsa3.yml"
	for _, version := range []string{"v2.1.0", "v1.7.0"} {
		prov := "gha_container-based/" + version + "/binary-linux-amd64-workflow_dispatch.intoto.build.slsa"
		if version == "v1.7.0" {
			prov = "gha_container-based/v1.7.0/binary-linux-amd64-workflow_dispatch.intoto.sigstore"
		}
		art := "gha_container-based/" + version + "/binary-linux-amd64-workflow_dispatch"
		for _, c := range []ghaCase{
			{name: "valid main branch default", source: examplePkg},
			{name: "versioned tag no match empty tag workflow_dispatch", source: examplePkg, vtag: "v1", want: "check versioned tag"},
			{name: "tag no match empty tag workflow_dispatch", source: examplePkg, tag: "v1.2.3", want: "check tag"},
			{name: "wrong branch master", source: examplePkg, branch: "master", want: "check branch"},
			{name: "valid main branch set", source: examplePkg, branch: "main"},
			{name: "valid main branch default - invalid builderID", source: examplePkg, builderID: ptr(sgg + "not-trusted.yml"), want: "check builder"},
			{name: "wrong source append A", source: examplePkg + "A", want: "check source uri"},
			{name: "wrong source prepend A", source: "A" + examplePkg, want: "check source uri"},
			{name: "wrong source middle A", source: "github.com/Aslsa-framework/example-package", want: "check source uri"},
		} {
			ids := []*string{ptr(containerBuilder + "@refs/tags/" + version), ptr(containerBuilder), ptr(containerBuilder + "@" + version), nil}
			if c.builderID != nil {
				ids = []*string{c.builderID}
			}
			for _, id := range ids {
				c := c
				c.builderID = id
				add(vector{name: fmt.Sprintf("gha_container-based/%s/%s/%s", version, c.name, describe(id)),
					provenance: prov, artifacts: []string{art}, signer: sggTag, req: req(c), want: c.want})
			}
		}
	}
	// Not upstream cases: the container-based builder's tag build, read
	// from its GitHub context (GITHUB_REF_TYPE, GITHUB_REF; the branch of
	// a tag push from the event's base_ref).
	for _, c := range []ghaCase{
		{name: "container-based tag v13.0.30 (hallmark case)", tag: "v13.0.30"},
		{name: "container-based versioned v13 (hallmark case)", vtag: "v13"},
		{name: "container-based tag v13.0.29 (hallmark case)", tag: "v13.0.29", want: "check tag"},
		{name: "container-based branch main of a tag build (hallmark case)", branch: "main"},
		{name: "container-based branch master of a tag build (hallmark case)", branch: "master", want: "check branch"},
	} {
		c.source = examplePkg
		add(vector{name: c.name, provenance: "gha_container-based/v2.1.0/binary-linux-amd64-push-v13.0.30.intoto.build.slsa",
			artifacts: []string{"gha_container-based/v2.1.0/binary-linux-amd64-push-v13.0.30"}, signer: sggTag, req: req(c), want: c.want})
	}

	// Test_runVerifyGithubAttestation (BCR, GitHub's workflow build type,
	// SLSA v1). The cases without a builder id are left out: there
	// slsa-verifier trusts no builder at all, while hallmark's trust is the
	// signer identity the user names.
	const bcrPublisher = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml"
	const bcrReleaser = "https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml"
	for _, c := range []struct{ name, artifact, builder, want string }{
		{"module.bazel using publishing builder", "MODULE.bazel", bcrPublisher, ""},
		{"source archive using release builder", "rules_lint-v1.3.1.tar.gz", bcrReleaser, ""},
		{"module.bazel wrong signer", "MODULE-wrong-signer.bazel", bcrPublisher, "step identity"},
	} {
		add(vector{name: "bcr/" + c.name, provenance: "bcr/" + c.artifact + ".intoto.jsonl", artifacts: []string{"bcr/" + c.artifact},
			signer: workflowAtTag(c.builder), req: slsa.Requirements{SourceURI: "github.com/aspect-build/rules_lint", BuilderID: c.builder}, want: c.want})
	}

	// Test_runVerifyNpmPackage: the provenance attestation (the publish
	// attestation, the package name and version are npm's, not
	// provenance, and are not checked here; neither are the cases
	// without a builder id, which slsa-verifier refuses for npm).
	const hosted = "https://github.com/actions/runner/github-hosted"
	const nodejs = sgg + "builder_nodejs_slsa3.yml"
	for _, c := range []struct {
		name, file, source string
		signer             verify.Identity
		builder, want      string
	}{
		{"valid npm CLI builder", "supreme-googles-cli-v02-tag.tgz", "trishankatdatadog/supreme-goggles", repoWorkflows("trishankatdatadog/supreme-goggles"), hosted, ""},
		{"valid npm CLI builder v1", "gundam-visor-cli-v1-tag.tgz", "ramonpetgrave64/gundam-visor", repoWorkflows("ramonpetgrave64/gundam-visor"), hosted, ""},
		{"valid npm CLI builder short runner name", "supreme-googles-cli-v02-tag.tgz", "trishankatdatadog/supreme-goggles", repoWorkflows("trishankatdatadog/supreme-goggles"), "https://github.com/actions/runner", ""},
		{"valid npm CLI builder v1 short runner name", "gundam-visor-cli-v1-tag.tgz", "ramonpetgrave64/gundam-visor", repoWorkflows("ramonpetgrave64/gundam-visor"), "https://github.com/actions/runner", "check builder"},
		{"valid npm CLI builder mismatch builder", "supreme-googles-cli-v02-tag.tgz", "trishankatdatadog/supreme-goggles", repoWorkflows("trishankatdatadog/supreme-goggles"), "https://github.com/actions/runner2", "check builder"},
		{"valid npm CLI builder v1 mismatch builder", "gundam-visor-cli-v1-tag.tgz", "ramonpetgrave64/gundam-visor", repoWorkflows("ramonpetgrave64/gundam-visor"), hosted + "2", "check builder"},
		{"valid npm CLI builder mismatch source", "supreme-googles-cli-v02-tag.tgz", "trishankatdatadog/supreme-goggleS", repoWorkflows("trishankatdatadog/supreme-goggles"), hosted, "check source uri"},
		{"valid npm CLI builder v1 mismatch source", "gundam-visor-cli-v1-tag.tgz", "ramonpetgrave64/gundam-visorS", repoWorkflows("ramonpetgrave64/gundam-visor"), hosted, "check source uri"},
		{"invalid signature provenance npm CLI v1", "gundam-visor-cli-v1-tag-invalidsigprov.tgz", "ramonpetgrave64/gundam-visor", repoWorkflows("ramonpetgrave64/gundam-visor"), hosted, "step log"},
		{"valid npm OSSF builder", "provenance-npm-test-ossf.tgz", "laurentsimon/provenance-npm-test", sggTag, nodejs, ""},
		{"valid npm OSSF builder mismatch builder", "provenance-npm-test-ossf.tgz", "laurentsimon/provenance-npm-test", sggTag, sgg + "builder_nodejs_slsa.yml", "check builder"},
		{"valid npm OSSF builder mismatch mismatch source", "provenance-npm-test-ossf.tgz", "laurentsimon/provenance-npm-test2", sggTag, nodejs, "check source uri"},
	} {
		add(vector{name: "npm/" + c.name, provenance: "npm/gha/" + c.file + ".json", artifacts: []string{"npm/gha/" + c.file},
			signer: c.signer, req: slsa.Requirements{SourceURI: "github.com/" + c.source, BuilderID: c.builder}, want: c.want})
	}
	return vs
}
