package slsa

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"hallmark.dev/attest"
	"hallmark.dev/internal/jsonstrict"
)

// Build types whose provenance slsa-verifier reads in a builder-specific
// way; this package reads them the same way. Any other build type is read
// by the generic rules (see shapeGenericV02 and shapeGenericV1).
const (
	sggRepo = "https://github.com/slsa-framework/slsa-github-generator"

	buildTypeBYOB           = sggRepo + "/delegator-generic@v0"
	buildTypeContainerBased = "https://slsa.dev/container-based-build/v0.1?draft"
	buildTypeNpmCLIV1       = "https://github.com/npm/cli/gha@v1"
	buildTypeNpmCLIV2       = "https://github.com/npm/cli/gha/v2"
	// The GitHub Actions workflow build types (npm CLI's and GitHub's own,
	// as `actions/attest-build-provenance` writes it).
	buildTypeGitHubWorkflowNpm = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"
	buildTypeGitHubWorkflow    = "https://actions.github.io/buildtypes/workflow/v1"

	jreleaserBuilder = "https://github.com/jreleaser/release-action"
)

// v0.2 build types of slsa-github-generator's builders and npm's CLI, whose
// GitHub context sits in invocation.environment under lower-case names.
var gitHubV02BuildTypes = map[string]bool{
	sggRepo + "/generic@v1":   true,
	sggRepo + "/go@v1":        true,
	sggRepo + "/container@v1": true,
	sggRepo + "@v1":           true, // legacy generic
	sggRepo + "-go@v1":        true, // legacy Go builder
	buildTypeNpmCLIV1:         true,
	buildTypeNpmCLIV2:         true,
}

type shape int

const (
	// slsa-github-generator and npm CLI v0.2: trigger
	// invocation.configSource.uri, source materials[0].uri, GitHub context
	// in invocation.environment (lower-case names).
	shapeGitHubV02 shape = iota
	// BYOB v0.2: as above, upper-case names; the tag or branch is the
	// source ref.
	shapeBYOBV02
	// BYOB v1: trigger from the GITHUB_WORKFLOW_REF internal parameter,
	// source resolvedDependencies[0].uri, the tag or branch is the source
	// ref, GitHub context in internalParameters (upper-case names).
	shapeBYOBV1
	// container-based builder v1: as BYOB v1, but the tag or branch comes
	// from the GitHub context.
	shapeContainerBasedV1
	// GitHub workflow build types v1: trigger
	// externalParameters.workflow.{repository,ref}, source
	// resolvedDependencies[0].uri, inputs externalParameters.inputs.
	shapeGitHubWorkflowV1
	// Any other v0.2 build type.
	shapeGenericV02
	// Any other v1 build type.
	shapeGenericV1
)

// provenance is a SLSA predicate read by exact field names.
type provenance struct {
	predicateType string
	buildType     string
	builderID     string
	shape         shape
	pred          object
}

func parseProvenance(st *attest.Statement) (*provenance, error) {
	if st.PredicateType != PredicateV1 && st.PredicateType != PredicateV02 {
		return nil, fmt.Errorf("%s is not SLSA provenance (want %s or %s)", st.PredicateType, PredicateV1, PredicateV02)
	}
	// The statement's payload was checked as a whole (Check parses it);
	// the predicate is read under the same rules all the same.
	var pred map[string]any
	if err := jsonstrict.Unmarshal(st.Predicate, &pred, jsonstrict.Rules{MaxDepth: 128, UseNumber: true}); err != nil || pred == nil {
		return nil, fmt.Errorf("the %s predicate is not a JSON object", st.PredicateType)
	}
	p := &provenance{predicateType: st.PredicateType, pred: pred}
	if st.PredicateType == PredicateV02 {
		p.buildType, _ = p.pred.str("buildType")
		p.builderID, _ = p.pred.obj("builder").str("id")
		switch {
		case p.buildType == buildTypeBYOB:
			p.shape = shapeBYOBV02
		case gitHubV02BuildTypes[p.buildType]:
			p.shape = shapeGitHubV02
		default:
			p.shape = shapeGenericV02
		}
		return p, nil
	}
	p.buildType, _ = p.pred.obj("buildDefinition").str("buildType")
	p.builderID, _ = p.pred.obj("runDetails").obj("builder").str("id")
	switch p.buildType {
	case buildTypeBYOB:
		p.shape = shapeBYOBV1
	case buildTypeContainerBased:
		p.shape = shapeContainerBasedV1
	case buildTypeGitHubWorkflow, buildTypeGitHubWorkflowNpm:
		p.shape = shapeGitHubWorkflowV1
	default:
		p.shape = shapeGenericV1
	}
	return p, nil
}

func (p *provenance) v1() bool { return p.predicateType == PredicateV1 }

// gitHubShape reports whether slsa-verifier reads this build type with its
// GitHub builders' rules.
func (p *provenance) gitHubShape() bool {
	return p.shape != shapeGenericV02 && p.shape != shapeGenericV1
}

func (p *provenance) builderPath() string {
	if p.v1() {
		return "predicate.runDetails.builder.id"
	}
	return "predicate.builder.id"
}

// checkBuilder checks the builder id against the expected one and the
// trusted ones.
func (p *provenance) checkBuilder(expected string, trusted []string) error {
	if p.builderID == "" {
		return fmt.Errorf("the provenance has no %s", p.builderPath())
	}
	name, version, err := parseBuilderID(p.builderID)
	if err != nil {
		return fmt.Errorf("%s: %w", p.builderPath(), err)
	}
	if p.shape == shapeBYOBV02 || p.shape == shapeBYOBV1 {
		// BYOB: the delegating reusable workflow must be pinned at a
		// release tag (slsa-verifier's isValidDelegatorBuilderID).
		if version == "" {
			return fmt.Errorf("builder %s has no version; a BYOB builder must be referenced at a release tag", p.builderID)
		}
		if strings.HasPrefix(name, jreleaserBuilder) {
			err = validBuilderTag(version, "-java")
		} else {
			err = validBuilderTag(version)
		}
		if err != nil {
			return fmt.Errorf("builder %s: %w", p.builderID, err)
		}
	}
	if expected != "" {
		if !p.builderMatches(name, version, expected) {
			return fmt.Errorf("provenance says %s, want %s", p.builderID, expected)
		}
	}
	if len(trusted) > 0 {
		ok := false
		for _, t := range trusted {
			if p.builderMatches(name, version, t) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("builder %s is not one of the trusted builders (%s)", p.builderID, strings.Join(trusted, ", "))
		}
	}
	return nil
}

func (p *provenance) builderMatches(name, version, expected string) bool {
	if builderMatches(name, version, expected) {
		return true
	}
	if p.buildType != buildTypeNpmCLIV1 && p.buildType != buildTypeNpmCLIV2 {
		return false
	}
	// npm CLI v0.2 provenance: older npm wrote the GitHub-hosted runner as
	// https://github.com/actions/runner, newer as …/github-hosted; either
	// expected id matches either (slsa-verifier's VerifyNpmPackageProvenance).
	alt := expected + "/github-hosted"
	if strings.HasSuffix(expected, "/github-hosted") {
		alt = strings.TrimSuffix(expected, "/github-hosted")
	}
	return builderMatches(name, version, alt)
}

// triggerURI returns the full URI (with ref) the build was triggered from,
// and where it was read; "" when the provenance has none (generic shapes
// only).
func (p *provenance) triggerURI() (string, string, error) {
	switch p.shape {
	case shapeGitHubV02, shapeBYOBV02, shapeGenericV02:
		const path = "predicate.invocation.configSource.uri"
		uri, ok := p.pred.obj("invocation").obj("configSource").str("uri")
		if !ok || uri == "" {
			if p.shape == shapeGenericV02 {
				return "", path, nil
			}
			return "", path, fmt.Errorf("the provenance has no %s", path)
		}
		return uri, path, nil
	case shapeBYOBV1, shapeContainerBasedV1:
		const path = "predicate.buildDefinition.internalParameters.GITHUB_WORKFLOW_REF"
		ref, ok := p.pred.obj("buildDefinition").obj("internalParameters").str("GITHUB_WORKFLOW_REF")
		if !ok {
			return "", path, fmt.Errorf("the provenance has no %s", path)
		}
		// "owner/repo/path/to/workflow.yml@ref"
		repoAndPath, ref, found := strings.Cut(ref, "@")
		parts := strings.Split(repoAndPath, "/")
		if !found || strings.Contains(ref, "@") || len(parts) < 2 || ref == "" {
			return "", path, fmt.Errorf("%s %q is not owner/repo/path@ref", path, repoAndPath+"@"+ref)
		}
		return "git+https://github.com/" + parts[0] + "/" + parts[1] + "@" + ref, path, nil
	default: // shapeGitHubWorkflowV1, shapeGenericV1
		const path = "predicate.buildDefinition.externalParameters.workflow"
		ext := p.pred.obj("buildDefinition").obj("externalParameters")
		w, present := ext["workflow"]
		if !present && p.shape == shapeGenericV1 {
			return "", path, nil
		}
		wf, _ := w.(map[string]any)
		repo, ok1 := object(wf).str("repository")
		ref, ok2 := object(wf).str("ref")
		if !ok1 || !ok2 {
			return "", path, fmt.Errorf("%s has no repository and ref", path)
		}
		return "git+" + repo + "@" + ref, path, nil
	}
}

// sourceURI returns the first source material's URI (with ref) and where
// it was read; "" when the provenance has none (generic shapes only).
func (p *provenance) sourceURI() (string, string, error) {
	var (
		path string
		list []any
	)
	if p.v1() {
		path = "predicate.buildDefinition.resolvedDependencies"
		list, _ = p.pred.obj("buildDefinition")["resolvedDependencies"].([]any)
	} else {
		path = "predicate.materials"
		list, _ = p.pred["materials"].([]any)
	}
	if len(list) == 0 {
		if !p.gitHubShape() {
			return "", path, nil
		}
		return "", path, fmt.Errorf("the provenance has no %s", path)
	}
	first, _ := list[0].(map[string]any)
	uri, ok := object(first).str("uri")
	if !ok || uri == "" {
		return "", path + "[0].uri", fmt.Errorf("the provenance has no %s[0].uri", path)
	}
	return uri, path + "[0].uri", nil
}

// checkSource checks the source repository: slsa-verifier's verifySourceURI
// for the GitHub builders' build types; for other build types, the trigger
// and the first source material, whichever the provenance has (at least
// one), must be the expected repository and, when both name a ref, the
// same ref.
func (p *provenance) checkSource(expected string) (string, error) {
	want := normalizeGitURI(expected)
	fullTrigger, triggerPath, err := p.triggerURI()
	if err != nil {
		return "", err
	}
	fullSource, sourcePath, err := p.sourceURI()
	if err != nil {
		return "", err
	}
	split := splitGitURI
	if !p.gitHubShape() {
		split = splitAnyURI
	}
	var triggerURI, triggerRef, sourceURI, sourceRef string
	if fullTrigger != "" {
		if triggerURI, triggerRef, err = split(fullTrigger); err != nil {
			return "", fmt.Errorf("%s: %w", triggerPath, err)
		}
		if triggerURI != want {
			return "", fmt.Errorf("provenance says %s (%s), want %s", triggerURI, triggerPath, expected)
		}
	}
	if fullSource != "" {
		if sourceURI, sourceRef, err = split(fullSource); err != nil {
			return "", fmt.Errorf("%s: %w", sourcePath, err)
		}
		if sourceURI != want {
			return "", fmt.Errorf("provenance says %s (%s), want %s", sourceURI, sourcePath, expected)
		}
	}
	if !p.gitHubShape() {
		switch {
		case fullTrigger == "" && fullSource == "":
			return "", fmt.Errorf("the provenance names no source: it has neither %s nor %s", triggerPath, sourcePath)
		case triggerRef != "" && sourceRef != "" && triggerRef != sourceRef:
			return "", fmt.Errorf("the build was triggered from %s but built %s", fullTrigger, fullSource)
		case fullSource != "":
			return fullSource, nil
		default:
			return fullTrigger, nil
		}
	}
	if triggerRef == "" {
		return "", fmt.Errorf("%s %q names no ref", triggerPath, fullTrigger)
	}
	if sourceRef == "" {
		// slsa-verifier's exceptions: npm packages built before npm's
		// provenance GA, and BYOB builders (which may build another
		// commit than the one that triggered them).
		if p.buildType == buildTypeNpmCLIV1 || p.buildType == buildTypeBYOB {
			return fullTrigger, nil
		}
		return "", fmt.Errorf("%s %q names no ref", sourcePath, fullSource)
	}
	if fullTrigger != fullSource {
		return "", fmt.Errorf("the build was triggered from %s but built %s", fullTrigger, fullSource)
	}
	return fullSource, nil
}

// gitHubEnv is the GitHub context slsa-github-generator records.
type gitHubEnv struct {
	m     object
	path  string
	upper bool
}

func (p *provenance) gitHubEnv() (gitHubEnv, bool) {
	switch p.shape {
	case shapeGitHubV02:
		m, ok := p.pred.obj("invocation")["environment"].(map[string]any)
		return gitHubEnv{m: m, path: "predicate.invocation.environment"}, ok
	case shapeBYOBV02:
		m, ok := p.pred.obj("invocation")["environment"].(map[string]any)
		return gitHubEnv{m: m, path: "predicate.invocation.environment", upper: true}, ok
	case shapeBYOBV1, shapeContainerBasedV1:
		m, ok := p.pred.obj("buildDefinition")["internalParameters"].(map[string]any)
		return gitHubEnv{m: m, path: "predicate.buildDefinition.internalParameters", upper: true}, ok
	case shapeGenericV02:
		// A generic builder recording the GitHub context as
		// slsa-github-generator does is read the same way.
		m, ok := p.pred.obj("invocation")["environment"].(map[string]any)
		if _, has := m["github_ref_type"]; ok && has {
			return gitHubEnv{m: m, path: "predicate.invocation.environment"}, true
		}
	case shapeGenericV1:
		m, ok := p.pred.obj("buildDefinition")["internalParameters"].(map[string]any)
		if _, has := m["GITHUB_REF_TYPE"]; ok && has {
			return gitHubEnv{m: m, path: "predicate.buildDefinition.internalParameters", upper: true}, true
		}
	}
	return gitHubEnv{}, false
}

func (e gitHubEnv) key(k string) string {
	if e.upper {
		return strings.ToUpper(k)
	}
	return k
}

func (e gitHubEnv) str(k string) (string, error) {
	k = e.key(k)
	v, present := e.m[k]
	if !present {
		return "", fmt.Errorf("the provenance has no %s.%s", e.path, k)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s.%s is not a string", e.path, k)
	}
	return s, nil
}

func (e gitHubEnv) eventPayload() (object, error) {
	k := e.key("github_event_payload")
	m, ok := e.m[k].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the provenance has no %s.%s object", e.path, k)
	}
	return m, nil
}

// tagRef is slsa-verifier's GetTag: the ref when the build ran on a tag,
// "" when it ran on a branch.
func (e gitHubEnv) tagRef() (string, error) {
	refType, err := e.str("github_ref_type")
	if err != nil {
		return "", err
	}
	switch refType {
	case "branch":
		return "", nil
	case "tag":
		return e.str("github_ref")
	default:
		return "", fmt.Errorf("%s.%s %q is neither branch nor tag", e.path, e.key("github_ref_type"), refType)
	}
}

// branchRef is slsa-verifier's GetBranch: the ref of the branch built, or
// for a tag build the branch the event names ("" when it names none).
func (e gitHubEnv) branchRef() (string, error) {
	refType, err := e.str("github_ref_type")
	if err != nil {
		return "", err
	}
	switch refType {
	case "branch":
		return e.str("github_ref")
	case "tag":
	default:
		return "", fmt.Errorf("%s.%s %q is neither branch nor tag", e.path, e.key("github_ref_type"), refType)
	}
	if base, err := e.str("github_base_ref"); err != nil {
		return "", err
	} else if base != "" {
		return base, nil
	}
	event, err := e.str("github_event_name")
	if err != nil {
		return "", err
	}
	payload, err := e.eventPayload()
	if err != nil {
		return "", err
	}
	switch event {
	case "push":
		// base_ref is null when the tag was pushed without a branch.
		v, present := payload["base_ref"]
		if !present {
			return "", fmt.Errorf("the provenance has no base_ref in %s.%s", e.path, e.key("github_event_payload"))
		}
		s, _ := v.(string)
		return s, nil
	case "release":
		target, ok := payload.obj("release").str("target_commitish")
		if !ok {
			return "", fmt.Errorf("the provenance has no release.target_commitish in %s.%s", e.path, e.key("github_event_payload"))
		}
		return "refs/heads/" + target, nil
	default:
		return "", nil
	}
}

// inputs is slsa-verifier's GetWorkflowInputs: the inputs of a
// workflow_dispatch event.
func (e gitHubEnv) inputs() (map[string]any, error) {
	event, err := e.str("github_event_name")
	if err != nil {
		return nil, err
	}
	if event != "workflow_dispatch" {
		return nil, fmt.Errorf("the build was triggered by %s, not workflow_dispatch: it has no workflow inputs", event)
	}
	payload, err := e.eventPayload()
	if err != nil {
		return nil, err
	}
	in, ok := payload["inputs"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the provenance has no inputs object in %s.%s", e.path, e.key("github_event_payload"))
	}
	return in, nil
}

// refOfSource returns the ref the build names in its source or trigger URI
// (BYOB: the source; other build types: the trigger, else the source).
func (p *provenance) refOfSource() (string, error) {
	var candidates []func() (string, string, error)
	if p.shape == shapeBYOBV02 || p.shape == shapeBYOBV1 {
		candidates = append(candidates, p.sourceURI)
	} else {
		candidates = append(candidates, p.triggerURI, p.sourceURI)
	}
	for _, c := range candidates {
		uri, path, err := c()
		if err != nil {
			return "", err
		}
		if uri == "" {
			continue
		}
		_, ref, err := splitAnyURI(uri)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if ref != "" {
			return ref, nil
		}
		if p.shape == shapeBYOBV02 || p.shape == shapeBYOBV1 {
			return "", fmt.Errorf("%s %q names no ref", path, uri)
		}
	}
	return "", errors.New("the provenance names no ref in its source")
}

// tagRef returns the ref of the tag built, "" when a branch was built.
func (p *provenance) tagRef() (string, error) {
	switch p.shape {
	case shapeBYOBV02, shapeBYOBV1, shapeGitHubWorkflowV1:
		return p.tagRefFromSource()
	}
	if env, ok := p.gitHubEnv(); ok {
		return env.tagRef()
	}
	if p.gitHubShape() {
		return "", fmt.Errorf("the provenance has no GitHub context (%s)", p.envPath())
	}
	return p.tagRefFromSource()
}

func (p *provenance) tagRefFromSource() (string, error) {
	ref, err := p.refOfSource()
	if err != nil {
		return "", err
	}
	switch kind, _ := refKind(ref); kind {
	case "heads":
		return "", nil
	case "tags":
		return ref, nil
	default:
		return "", fmt.Errorf("ref %q is neither a branch nor a tag", ref)
	}
}

// branchRef returns the ref of the branch built ("" when the provenance
// does not say).
func (p *provenance) branchRef() (string, error) {
	switch p.shape {
	case shapeBYOBV02, shapeBYOBV1, shapeGitHubWorkflowV1:
		ref, err := p.refOfSource()
		if err != nil {
			return "", err
		}
		switch kind, _ := refKind(ref); kind {
		case "heads":
			return ref, nil
		case "tags":
			// BYOB: the branch of a tag build comes from the GitHub
			// context, as for the other GitHub builders.
			if env, ok := p.gitHubEnv(); ok {
				return env.branchRef()
			}
			return "", nil
		default:
			return "", fmt.Errorf("ref %q is neither a branch nor a tag", ref)
		}
	}
	if env, ok := p.gitHubEnv(); ok {
		return env.branchRef()
	}
	if p.gitHubShape() {
		return "", fmt.Errorf("the provenance has no GitHub context (%s)", p.envPath())
	}
	ref, err := p.refOfSource()
	if err != nil {
		return "", err
	}
	if kind, _ := refKind(ref); kind == "heads" {
		return ref, nil
	}
	return "", nil
}

func (p *provenance) envPath() string {
	if p.v1() {
		return "predicate.buildDefinition.internalParameters"
	}
	return "predicate.invocation.environment"
}

func (p *provenance) checkTag(expected string) error {
	ref, err := p.tagRef()
	if err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("the provenance records no tag (the build ran on a branch), want %s", expected)
	}
	tag, err := refName("tags", ref)
	if err != nil {
		return err
	}
	if tag != expected {
		return fmt.Errorf("provenance says %s, want %s", tag, expected)
	}
	return nil
}

func (p *provenance) checkVersionedTag(expected string) (string, error) {
	ref, err := p.tagRef()
	if err != nil {
		return "", err
	}
	if ref == "" {
		return "", fmt.Errorf("the provenance records no tag (the build ran on a branch), want a tag compatible with %s", expected)
	}
	tag, err := refName("tags", ref)
	if err != nil {
		return "", err
	}
	if err := matchVersionedTag(tag, expected); err != nil {
		return "", fmt.Errorf("%w (want a version compatible with %s)", err, expected)
	}
	return fmt.Sprintf("%s is compatible with %s", tag, expected), nil
}

func (p *provenance) checkBranch(expected string) error {
	ref, err := p.branchRef()
	if err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("the provenance records no branch, want %s", expected)
	}
	branch, err := refName("heads", ref)
	if err != nil {
		return err
	}
	if branch != expected {
		return fmt.Errorf("provenance says %s, want %s", branch, expected)
	}
	return nil
}

// workflowInputs returns the inputs the build was given.
func (p *provenance) workflowInputs() (map[string]any, string, error) {
	switch p.shape {
	case shapeGitHubWorkflowV1, shapeGenericV1:
		const path = "predicate.buildDefinition.externalParameters.inputs"
		if p.shape == shapeGenericV1 {
			if env, ok := p.gitHubEnv(); ok {
				in, err := env.inputs()
				return in, env.path, err
			}
		}
		in, ok := p.pred.obj("buildDefinition").obj("externalParameters")["inputs"].(map[string]any)
		if !ok {
			return nil, path, fmt.Errorf("the provenance has no %s object", path)
		}
		return in, path, nil
	case shapeGenericV02:
		if env, ok := p.gitHubEnv(); ok {
			in, err := env.inputs()
			return in, env.path, err
		}
		const path = "predicate.invocation.parameters"
		in, ok := p.pred.obj("invocation")["parameters"].(map[string]any)
		if !ok {
			return nil, path, fmt.Errorf("the provenance has no %s object", path)
		}
		return in, path, nil
	}
	env, ok := p.gitHubEnv()
	if !ok {
		return nil, p.envPath(), fmt.Errorf("the provenance has no GitHub context (%s)", p.envPath())
	}
	in, err := env.inputs()
	return in, env.path, err
}

// checkInputs checks every expected input. Values are compared as strings;
// a boolean or number input matches its JSON text ("true", "123").
// slsa-verifier accepts string values only.
func (p *provenance) checkInputs(expected map[string]string) error {
	in, path, err := p.workflowInputs()
	if err != nil {
		return err
	}
	var bad []string
	for _, k := range sortedKeys(expected) {
		v, present := in[k]
		if !present {
			bad = append(bad, fmt.Sprintf("%s is not among the inputs in %s", k, path))
			continue
		}
		got, ok := scalarText(v)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is not a string, boolean or number in %s", k, path))
			continue
		}
		if got != expected[k] {
			bad = append(bad, fmt.Sprintf("provenance says %s=%s, want %s=%s", k, got, k, expected[k]))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case json.Number:
		return x.String(), true
	default:
		return "", false
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// object is a JSON object read by exact key names. A missing key or a
// value of another type reads as absent.
type object map[string]any

func (o object) obj(key string) object {
	m, _ := o[key].(map[string]any)
	return m
}

func (o object) str(key string) (string, bool) {
	s, ok := o[key].(string)
	return s, ok
}
