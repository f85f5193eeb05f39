// Package identity verifies OpenID Connect ID tokens (OpenID Connect Core
// 1.0, section 3.1.3.7) from an allow-list of issuers and maps their claims
// to the identity a Sigstore code-signing certificate states: its subject
// alternative name and the Fulcio extensions under OID 1.3.6.1.4.1.57264.1
// (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
//
// Discovery documents and key sets are fetched through go-oidc on first use
// of an issuer and cached; a verifier can therefore be built before its
// issuers listen (the server's own dev issuer, for one). A key set is
// fetched again when a token names a key not in the cache, at most once per
// [KeyRefreshInterval] per issuer, so that tokens naming made-up keys cannot
// turn the verifier into a fetcher of the issuer's keys at the attacker's
// rate; a failed discovery is retried at the same pace.
package identity

import (
	"errors"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// Issuer types: how an issuer's claims map to a certificate identity.
const (
	// TypeEmail: the SAN is the verified email claim; the token must carry
	// email_verified true.
	TypeEmail = "email"
	// TypeGitHubWorkflow: GitHub Actions tokens; the SAN is the URI of the
	// workflow that runs (server URL + job_workflow_ref) and the CI
	// extensions are filled from the workflow claims.
	TypeGitHubWorkflow = "github-workflow"
	// TypeGitLabPipeline: GitLab CI tokens; the SAN is "https://" +
	// ci_config_ref_uri and the CI extensions are filled from the pipeline
	// claims.
	TypeGitLabPipeline = "gitlab-pipeline"
	// TypeKubernetes: Kubernetes service-account tokens; the SAN is
	// https://kubernetes.io/namespaces/<ns>/serviceaccounts/<name>.
	TypeKubernetes = "kubernetes"
	// TypeURI: the SAN is the sub claim, which must be an http(s) URI.
	TypeURI = "uri"
)

// DefaultClientID is the audience tokens must carry unless an Issuer says
// otherwise: the client ID of Sigstore clients.
const DefaultClientID = "sigstore"

// Issuer is one trusted OpenID Connect issuer.
type Issuer struct {
	// URL is the issuer identifier: tokens' iss claim and the base of its
	// discovery document, matched exactly.
	URL string `yaml:"url"`
	// Type is one of TypeEmail, TypeGitHubWorkflow, TypeGitLabPipeline,
	// TypeKubernetes, TypeURI.
	Type string `yaml:"type"`
	// ClientID is the audience tokens must carry; empty means
	// DefaultClientID.
	ClientID string `yaml:"clientID"`
	// ServerURL is the base URL of the CI system's web interface, used to
	// build repository and workflow URIs: default https://github.com for
	// TypeGitHubWorkflow and the issuer URL for TypeGitLabPipeline. Other
	// types ignore it.
	ServerURL string `yaml:"serverURL"`
	// SubjectDomain restricts TypeURI subjects to this scheme and host,
	// e.g. https://ci.example.com. Empty allows any http(s) URI.
	SubjectDomain string `yaml:"subjectDomain"`
}

// ChallengeClaim names the claim whose value clients sign to prove
// possession of their key: "email" for email issuers, "sub" otherwise.
// It is what a Fulcio configuration document announces.
func (i Issuer) ChallengeClaim() string {
	if i.Type == TypeEmail {
		return "email"
	}
	return "sub"
}

func (i Issuer) clientID() string {
	if i.ClientID == "" {
		return DefaultClientID
	}
	return i.ClientID
}

// SAN types.
const (
	SANEmail = "email"
	SANURI   = "uri"
)

// Principal is the verified identity a token proves, ready to be certified.
type Principal struct {
	// Issuer is the token's iss claim, which the certificate's issuer
	// extensions (1.3.6.1.4.1.57264.1.1 and .1.8) state.
	Issuer string
	// Subject is the certificate's subject alternative name: an email
	// address or a URI, per SANType.
	Subject string
	// SANType is SANEmail or SANURI.
	SANType string
	// Challenge is what the client must sign to prove possession of its
	// key: the token's email claim if it has one, else its sub claim,
	// which is what Sigstore clients sign (sigstore's
	// oauthflow.SubjectFromUnverifiedToken).
	Challenge string
	// Extensions are the Fulcio extensions to embed, Issuer included.
	Extensions certificate.Extensions
}

// Errors callers branch on; every error Verify returns wraps exactly one of
// them, with the issuer or claim at fault in its message.
var (
	// ErrUnknownIssuer: the token's iss is not in the allow-list.
	ErrUnknownIssuer = errors.New("identity: unknown issuer")
	// ErrExpired: the token's exp is past, beyond the allowed clock skew.
	ErrExpired = errors.New("identity: expired token")
	// ErrAudience: the token's aud does not contain the issuer's client ID.
	ErrAudience = errors.New("identity: wrong audience")
	// ErrInvalidToken: the token is malformed, badly signed, not yet
	// valid, issued in the future, or lacks or mangles a claim its issuer
	// type needs (an unverified email included).
	ErrInvalidToken = errors.New("identity: invalid token")
	// ErrUnavailable: the issuer's discovery document or keys could not be
	// fetched; the token may be fine and a retry may succeed.
	ErrUnavailable = errors.New("identity: issuer unavailable")
)
