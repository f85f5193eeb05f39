package identity

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// Default CI server URLs.
const defaultGitHubServer = "https://github.com"

// Shapes of the claims that become parts of URIs. Anchored, so a claim
// cannot smuggle a scheme, host, query or whitespace into a certificate.
var (
	// owner/repo, as in GitHub's repository claim.
	githubRepoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	// owner, as in repository_owner.
	githubOwnerRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	// owner/repo/path@ref, as in job_workflow_ref and workflow_ref.
	githubWorkflowRefRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[^@\s?#]+@[^\s?#]+$`)
	// decimal identifiers: run_id, run_attempt, job_id.
	decimalRE = regexp.MustCompile(`^[0-9]{1,20}$`)
	// host[:port]/path@ref, as in GitLab's ci_config_ref_uri.
	gitlabConfigRefRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?/[^@\s?#]+@[^\s?#]+$`)
	// group/subgroup/project, as in project_path (at least two segments)
	// and namespace_path (at least one).
	gitlabProjectRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$`)
	gitlabNamespaceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
	// RFC 1123 label (namespace) and subdomain (service account name).
	k8sLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	k8sSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// principalFromClaims maps the verified claims of a token from iss to a
// Principal. Errors wrap ErrInvalidToken.
func principalFromClaims(iss Issuer, c claims) (*Principal, error) {
	sub, err := c.str("sub")
	if err != nil {
		return nil, invalid(iss, err)
	}
	if sub == "" {
		return nil, invalid(iss, fmt.Errorf("no sub claim"))
	}
	p := &Principal{Issuer: iss.URL, Challenge: sub, Extensions: certificate.Extensions{Issuer: iss.URL}}
	// Sigstore clients sign the email claim when there is one
	// (oauthflow.SubjectFromUnverifiedToken), whatever the issuer type.
	email, err := c.str("email")
	if err != nil {
		return nil, invalid(iss, err)
	}
	if email != "" {
		p.Challenge = email
	}
	switch iss.Type {
	case TypeEmail:
		err = p.fromEmail(c, email)
	case TypeGitHubWorkflow:
		err = p.fromGitHub(iss, c)
	case TypeGitLabPipeline:
		err = p.fromGitLab(iss, c)
	case TypeKubernetes:
		err = p.fromKubernetes(c, sub)
	case TypeURI:
		err = p.fromURI(iss, sub)
	default:
		err = fmt.Errorf("unknown issuer type %q", iss.Type)
	}
	if err == nil {
		err = p.check()
	}
	if err != nil {
		return nil, invalid(iss, err)
	}
	return p, nil
}

// check makes sure a certificate can state p: a printable ASCII SAN
// (X.509 SANs are IA5String), and URIs, the SAN's and the extensions',
// that are absolute http(s) URLs and encode as themselves.
func (p *Principal) check() error {
	if !printableASCII(p.Subject) {
		return fmt.Errorf("subject %q is not printable ASCII", clip(p.Subject))
	}
	e := p.Extensions
	uris := []string{e.BuildSignerURI, e.SourceRepositoryURI, e.SourceRepositoryOwnerURI, e.BuildConfigURI, e.RunInvocationURI}
	if p.SANType == SANURI {
		uris = append(uris, p.Subject)
	}
	for _, s := range uris {
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.String() != s || !printableASCII(s) {
			return fmt.Errorf("URI %q built from the claims is not a plain http(s) URL", clip(s))
		}
	}
	return nil
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func invalid(iss Issuer, err error) error {
	return fmt.Errorf("%w: issuer %q: %v", ErrInvalidToken, iss.URL, err)
}

func (p *Principal) fromEmail(c claims, email string) error {
	if email == "" {
		return fmt.Errorf("no email claim")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Name != "" || a.Address != email {
		return fmt.Errorf("email claim %q is not a plain email address", clip(email))
	}
	verified, err := c.boolean("email_verified")
	if err != nil {
		return err
	}
	if !verified {
		return fmt.Errorf("email %q is not verified (email_verified is not true)", clip(email))
	}
	p.Subject, p.SANType = email, SANEmail
	return nil
}

// fromGitHub maps GitHub Actions claims
// (https://docs.github.com/en/actions/reference/security/oidc) as Fulcio
// does (docs/oid-info.md, "Mapping OIDC token claims to Fulcio OIDs").
func (p *Principal) fromGitHub(iss Issuer, c claims) error {
	server := strings.TrimSuffix(iss.ServerURL, "/")
	if server == "" {
		server = defaultGitHubServer
	}
	var (
		jobWorkflowRef, repository, ref, sha, eventName             string
		workflow, jobWorkflowSHA, runnerEnv, repositoryID           string
		owner, ownerID, workflowRef, workflowSHA, runID, runAttempt string
		visibility                                                  string
	)
	err := c.fields(
		req("job_workflow_ref", &jobWorkflowRef, githubWorkflowRefRE),
		req("repository", &repository, githubRepoRE),
		req("ref", &ref, nil),
		req("sha", &sha, nil),
		req("event_name", &eventName, nil),
		opt("workflow", &workflow, nil),
		opt("job_workflow_sha", &jobWorkflowSHA, nil),
		opt("runner_environment", &runnerEnv, nil),
		opt("repository_id", &repositoryID, nil),
		opt("repository_owner", &owner, githubOwnerRE),
		opt("repository_owner_id", &ownerID, nil),
		opt("workflow_ref", &workflowRef, githubWorkflowRefRE),
		opt("workflow_sha", &workflowSHA, nil),
		opt("run_id", &runID, decimalRE),
		opt("run_attempt", &runAttempt, decimalRE),
		opt("repository_visibility", &visibility, nil),
	)
	if err != nil {
		return err
	}
	p.Subject, p.SANType = server+"/"+jobWorkflowRef, SANURI
	e := &p.Extensions
	// Deprecated GitHub extensions 1.1.2–1.1.6, still read by verifiers
	// such as cosign's --certificate-github-workflow-* flags.
	e.GithubWorkflowTrigger = eventName
	e.GithubWorkflowSHA = sha
	e.GithubWorkflowName = workflow
	e.GithubWorkflowRepository = repository
	e.GithubWorkflowRef = ref
	// Provider-generic extensions 1.1.9–1.1.22.
	e.BuildSignerURI = p.Subject
	e.BuildSignerDigest = jobWorkflowSHA
	e.RunnerEnvironment = runnerEnv
	e.SourceRepositoryURI = server + "/" + repository
	e.SourceRepositoryDigest = sha
	e.SourceRepositoryRef = ref
	e.SourceRepositoryIdentifier = repositoryID
	if owner != "" {
		e.SourceRepositoryOwnerURI = server + "/" + owner
	}
	e.SourceRepositoryOwnerIdentifier = ownerID
	if workflowRef != "" {
		e.BuildConfigURI = server + "/" + workflowRef
	}
	e.BuildConfigDigest = workflowSHA
	e.BuildTrigger = eventName
	if runID != "" && runAttempt != "" {
		e.RunInvocationURI = server + "/" + repository + "/actions/runs/" + runID + "/attempts/" + runAttempt
	}
	e.SourceRepositoryVisibilityAtSigning = visibility
	return nil
}

// fromGitLab maps GitLab CI claims
// (https://docs.gitlab.com/ci/secrets/id_token_authentication/) as Fulcio
// does.
func (p *Principal) fromGitLab(iss Issuer, c claims) error {
	server := strings.TrimSuffix(iss.ServerURL, "/")
	if server == "" {
		server = strings.TrimSuffix(iss.URL, "/")
	}
	var (
		configRefURI, projectPath, ref, refType, sha   string
		configSHA, runnerEnv, projectID, namespacePath string
		namespaceID, pipelineSource, jobID, visibility string
	)
	err := c.fields(
		req("ci_config_ref_uri", &configRefURI, gitlabConfigRefRE),
		req("project_path", &projectPath, gitlabProjectRE),
		req("ref", &ref, nil),
		req("ref_type", &refType, nil),
		req("sha", &sha, nil),
		opt("ci_config_sha", &configSHA, nil),
		opt("runner_environment", &runnerEnv, nil),
		opt("project_id", &projectID, nil),
		opt("namespace_path", &namespacePath, gitlabNamespaceRE),
		opt("namespace_id", &namespaceID, nil),
		opt("pipeline_source", &pipelineSource, nil),
		opt("job_id", &jobID, decimalRE),
		opt("project_visibility", &visibility, nil),
	)
	if err != nil {
		return err
	}
	var fullRef string
	switch refType {
	case "branch":
		fullRef = "refs/heads/" + ref
	case "tag":
		fullRef = "refs/tags/" + ref
	default:
		return fmt.Errorf("ref_type claim %q: want branch or tag", clip(refType))
	}
	p.Subject, p.SANType = "https://"+configRefURI, SANURI
	e := &p.Extensions
	e.BuildSignerURI = p.Subject
	e.BuildSignerDigest = configSHA
	e.RunnerEnvironment = runnerEnv
	e.SourceRepositoryURI = server + "/" + projectPath
	e.SourceRepositoryDigest = sha
	e.SourceRepositoryRef = fullRef
	e.SourceRepositoryIdentifier = projectID
	if namespacePath != "" {
		e.SourceRepositoryOwnerURI = server + "/" + namespacePath
	}
	e.SourceRepositoryOwnerIdentifier = namespaceID
	e.BuildConfigURI = p.Subject
	e.BuildConfigDigest = configSHA
	e.BuildTrigger = pipelineSource
	if jobID != "" {
		e.RunInvocationURI = server + "/" + projectPath + "/-/jobs/" + jobID
	}
	e.SourceRepositoryVisibilityAtSigning = visibility
	return nil
}

// fromKubernetes maps a projected service-account token: the kubernetes.io
// claim names the namespace and service account.
func (p *Principal) fromKubernetes(c claims, sub string) error {
	k, ok := c["kubernetes.io"].(map[string]any)
	if !ok {
		return fmt.Errorf("no kubernetes.io claim object")
	}
	kc := claims(k)
	ns, err := kc.str("namespace")
	if err != nil {
		return fmt.Errorf("kubernetes.io: %v", err)
	}
	sa, ok := kc["serviceaccount"].(map[string]any)
	if !ok {
		return fmt.Errorf("kubernetes.io: no serviceaccount object")
	}
	name, err := claims(sa).str("name")
	if err != nil {
		return fmt.Errorf("kubernetes.io.serviceaccount: %v", err)
	}
	if !k8sLabelRE.MatchString(ns) {
		return fmt.Errorf("kubernetes.io.namespace %q is not a namespace name", clip(ns))
	}
	if len(name) > 253 || !k8sSubdomainRE.MatchString(name) {
		return fmt.Errorf("kubernetes.io.serviceaccount.name %q is not a service account name", clip(name))
	}
	if want := "system:serviceaccount:" + ns + ":" + name; sub != want {
		return fmt.Errorf("sub %q does not match kubernetes.io claims (want %q)", clip(sub), want)
	}
	p.Subject, p.SANType = "https://kubernetes.io/namespaces/"+ns+"/serviceaccounts/"+name, SANURI
	return nil
}

// fromURI takes the sub claim as the SAN.
func (p *Principal) fromURI(iss Issuer, sub string) error {
	u, err := url.Parse(sub)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.ContainsAny(sub, " \t\r\n") {
		return fmt.Errorf("sub %q is not an http(s) URI", clip(sub))
	}
	if iss.SubjectDomain != "" {
		d, err := url.Parse(iss.SubjectDomain)
		if err != nil || !strings.EqualFold(d.Scheme, u.Scheme) || !strings.EqualFold(d.Host, u.Host) {
			return fmt.Errorf("sub %q is outside subject domain %q", clip(sub), iss.SubjectDomain)
		}
	}
	p.Subject, p.SANType = sub, SANURI
	return nil
}

// field is one claim to read into a string.
type field struct {
	name     string
	dst      *string
	required bool
	shape    *regexp.Regexp
}

func req(name string, dst *string, shape *regexp.Regexp) field {
	return field{name, dst, true, shape}
}

func opt(name string, dst *string, shape *regexp.Regexp) field {
	return field{name, dst, false, shape}
}

// fields reads fs, failing on a missing required claim, a claim of the
// wrong type or one whose value does not have its shape.
func (c claims) fields(fs ...field) error {
	for _, f := range fs {
		s, err := c.str(f.name)
		if err != nil {
			return err
		}
		if s == "" {
			if f.required {
				return fmt.Errorf("no %s claim", f.name)
			}
			continue
		}
		if f.shape != nil && !f.shape.MatchString(s) {
			return fmt.Errorf("%s claim %q has an unexpected shape", f.name, clip(s))
		}
		*f.dst = s
	}
	return nil
}

// maxClaimLen bounds every claim that ends up in a certificate.
const maxClaimLen = 2048

// str returns a string claim; numbers are accepted in their JSON spelling
// (some issuers send identifiers as numbers). Missing means "".
func (c claims) str(name string) (string, error) {
	var s string
	switch v := c[name].(type) {
	case nil:
		return "", nil
	case string:
		s = v
	case json.Number:
		s = v.String()
	default:
		return "", fmt.Errorf("%s claim: type %T, want a string", name, v)
	}
	if len(s) > maxClaimLen {
		return "", fmt.Errorf("%s claim longer than %d bytes", name, maxClaimLen)
	}
	return s, nil
}

// boolean returns a boolean claim, accepting "true" and "false" strings as
// some issuers send them. Missing means false.
func (c claims) boolean(name string) (bool, error) {
	switch v := c[name].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case string:
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s claim is not a boolean", name)
}
