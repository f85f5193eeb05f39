package buildenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	provv1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intotov1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"hallmark.dev/attest"
)

// Build type URIs and the local builder id.
const (
	BuildTypeGitHubWorkflow = "https://actions.github.io/buildtypes/workflow/v1"
	BuildTypeGitLabCI       = "https://hallmark.dev/buildtypes/gitlab-ci/v1"
	BuildTypeLocal          = "https://hallmark.dev/buildtypes/local/v1"
	LocalBuilderID          = "https://hallmark.dev/local/v1"
)

// Platform is where a build ran.
type Platform string

const (
	GitHubActions Platform = "github"
	GitLabCI      Platform = "gitlab"
	Local         Platform = "local"
)

// String names the platform for people.
func (p Platform) String() string {
	switch p {
	case GitHubActions:
		return "GitHub Actions"
	case GitLabCI:
		return "GitLab CI"
	case Local:
		return "a local git checkout"
	}
	return string(p)
}

// Source selects where [Detect] takes the build from.
type Source string

const (
	// SourceAuto takes the CI platform the environment names, else the
	// local git checkout.
	SourceAuto   Source = "auto"
	SourceGitHub Source = "github"
	SourceGitLab Source = "gitlab"
	SourceLocal  Source = "local"
)

// ErrNotCheckout is returned (wrapped) when a local build is asked for
// outside a git checkout.
var ErrNotCheckout = errors.New("not in a git checkout")

// Build is one build's provenance facts.
type Build struct {
	Platform           Platform
	BuildType          string
	BuilderID          string
	ExternalParameters map[string]any
	InternalParameters map[string]any // nil when empty
	// Source is the resolved source: a "git+URL@REF" URI (empty when the
	// repository is unknown) and the commit.
	SourceURI    string
	SourceCommit string
	InvocationID string // empty when there is none
	// Warnings are things a reader of the provenance should know.
	Warnings []string
}

// Detect returns the build the environment describes. lookup reads an
// environment variable; readGit reads the local checkout and is called
// only for a local build. With [SourceAuto], GITHUB_ACTIONS=true selects
// GitHub Actions and GITLAB_CI=true GitLab CI; a CI environment with a
// variable missing is an error, never a fallback to the local checkout.
func Detect(source Source, lookup func(string) (string, bool), readGit func() (Git, error)) (*Build, error) {
	if source == "" {
		source = SourceAuto
	}
	if source == SourceAuto {
		gh, gl := isTrue(lookup, "GITHUB_ACTIONS"), isTrue(lookup, "GITLAB_CI")
		switch {
		case gh && gl:
			return nil, errors.New("buildenv: both GITHUB_ACTIONS and GITLAB_CI are true; choose the source explicitly")
		case gh:
			source = SourceGitHub
		case gl:
			source = SourceGitLab
		default:
			source = SourceLocal
		}
	}
	switch source {
	case SourceGitHub:
		if !isTrue(lookup, "GITHUB_ACTIONS") {
			return nil, errors.New("buildenv: github actions: GITHUB_ACTIONS is not \"true\"")
		}
		return gitHub(lookup)
	case SourceGitLab:
		if !isTrue(lookup, "GITLAB_CI") {
			return nil, errors.New("buildenv: gitlab ci: GITLAB_CI is not \"true\"")
		}
		return gitLab(lookup)
	case SourceLocal:
		g, err := readGit()
		if err != nil {
			return nil, err
		}
		return fromGit(g)
	}
	return nil, fmt.Errorf("buildenv: source %q: want auto, github, gitlab or local", source)
}

func isTrue(lookup func(string) (string, bool), name string) bool {
	v, _ := lookup(name)
	return v == "true"
}

// vars reads the required variables, naming every one that is missing or
// empty, then the optional ones (empty when unset).
func vars(lookup func(string) (string, bool), platform string, required, optional []string) (map[string]string, error) {
	out := make(map[string]string, len(required)+len(optional))
	var missing []string
	for _, name := range required {
		v, _ := lookup(name)
		if v == "" {
			missing = append(missing, name)
			continue
		}
		out[name] = v
	}
	switch len(missing) {
	case 0:
	case 1:
		return nil, fmt.Errorf("buildenv: %s: %s is not set", platform, missing[0])
	default:
		return nil, fmt.Errorf("buildenv: %s: %s are not set", platform, strings.Join(missing, ", "))
	}
	for _, name := range optional {
		v, _ := lookup(name)
		out[name] = v
	}
	return out, nil
}

var (
	commitRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	numericRE = regexp.MustCompile(`^[0-9]+$`)
)

func checkCommit(what, v string) (string, error) {
	v = strings.ToLower(v)
	if !commitRE.MatchString(v) {
		return "", fmt.Errorf("%s %q is not a 40-character hex git commit id", what, v)
	}
	return v, nil
}

func checkNumeric(name, v string) error {
	if !numericRE.MatchString(v) {
		return fmt.Errorf("%s %q is not a number", name, v)
	}
	return nil
}

// checkText refuses values with control characters or white space, which
// no ref, path or name a CI platform sets has; a value that has them came
// from somewhere else.
func checkText(name, v string) error {
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return fmt.Errorf("%s %q has a space or control character", name, v)
		}
	}
	return nil
}

// serverURL checks a CI server URL (http or https, a host, no user, query
// or fragment, no path but "/") and returns it without a trailing slash.
func serverURL(name, v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%s %q is not a server URL (https://host)", name, v)
	}
	return u.Scheme + "://" + u.Host, nil
}

// SetBuilderID replaces the builder id, which must be an absolute URI.
func (b *Build) SetBuilderID(id string) error {
	u, err := url.Parse(id)
	if err != nil || !u.IsAbs() || checkText("builder id", id) != nil {
		return fmt.Errorf("buildenv: builder id %q is not an absolute URI", id)
	}
	b.BuilderID = id
	return nil
}

// Predicate returns the SLSA v1 provenance predicate, compact JSON, checked
// by the in-toto validators and by [attest.Predicate].
func (b *Build) Predicate() (json.RawMessage, error) {
	ext, err := structpb.NewStruct(b.ExternalParameters)
	if err != nil {
		return nil, fmt.Errorf("buildenv: external parameters: %w", err)
	}
	def := &provv1.BuildDefinition{BuildType: b.BuildType, ExternalParameters: ext}
	if len(b.InternalParameters) > 0 {
		if def.InternalParameters, err = structpb.NewStruct(b.InternalParameters); err != nil {
			return nil, fmt.Errorf("buildenv: internal parameters: %w", err)
		}
	}
	def.ResolvedDependencies = []*intotov1.ResourceDescriptor{{
		Uri:    b.SourceURI,
		Digest: map[string]string{"gitCommit": b.SourceCommit},
	}}
	run := &provv1.RunDetails{Builder: &provv1.Builder{Id: b.BuilderID}}
	if b.InvocationID != "" {
		run.Metadata = &provv1.BuildMetadata{InvocationId: b.InvocationID}
	}
	p := &provv1.Provenance{BuildDefinition: def, RunDetails: run}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("buildenv: provenance: %w", err)
	}
	raw, err := protojson.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("buildenv: provenance: %w", err)
	}
	// protojson varies its white space on purpose; compact it so the
	// output is the same for the same build.
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, fmt.Errorf("buildenv: provenance: %w", err)
	}
	return attest.Predicate(attest.PredicateSLSAProvenance1, out.Bytes(), time.Time{})
}

// Statement returns an in-toto Statement v1 with the provenance about the
// subjects.
func (b *Build) Statement(subjects []attest.Subject) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, errors.New("buildenv: a statement needs at least one subject")
	}
	pred, err := b.Predicate()
	if err != nil {
		return nil, err
	}
	return attest.NewStatement(attest.PredicateSLSAProvenance1, pred, subjects...)
}
