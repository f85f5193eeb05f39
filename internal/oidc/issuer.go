// Package oidc is hallmark's built-in OpenID Connect issuer for local use:
// it mints ID tokens for any subject it is asked for, with no
// authentication, so that keyless signing works on a laptop or in a test
// without an external identity provider. `hallmark serve` enables it only
// with --dev-oidc; it must never be trusted by a CA that serves anyone else.
//
// It implements the parts of OpenID Connect Discovery 1.0 and RFC 7517 (JWK)
// that a relying party needs to verify its tokens, under the issuer URL's
// path P (e.g. "/oidc" for http://127.0.0.1:5005/oidc):
//
//	GET  P/.well-known/openid-configuration   the discovery document
//	GET  P/jwks                               the JSON Web Key Set
//	POST P/token                              mint a token (dev only, no auth)
//
// The token endpoint takes a JSON [TokenRequest]
//
//	{"subject": "alice@example.com", "audience": "sigstore", "ttl": 600, "claims": {...}}
//
// and answers a JSON [TokenResponse]
//
//	{"id_token": "<JWT>", "token_type": "Bearer", "expires_in": 600}
//
// Tokens are compact JWS (RFC 7515) JWTs (RFC 7519) signed with RS256 by an
// RSA-2048 key persisted in the configured directory, with the claims iss,
// sub, aud, iat, nbf and exp, plus email and email_verified=true when the
// subject looks like an email address. RS256 is the algorithm every OpenID
// relying party must support (OpenID Connect Core 1.0, section 15.1), and
// the only one with which cosign takes --identity-token as a raw token
// rather than a file name (cosign v3 internal/auth.idToken).
package oidc

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"regexp"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	// Dir holds the signing key (oidc-signing-key.pem, RSA-2048 in
	// PKCS#8 PEM, mode 0600). It is created on first use and reused after.
	Dir string
	// URL is the issuer identifier: the iss claim of every token and the
	// issuer of the discovery document, e.g. http://127.0.0.1:5005/oidc.
	// It must be an absolute http or https URL without a trailing slash,
	// query or fragment.
	URL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Issuer is a development OpenID Connect issuer.
type Issuer struct {
	url      string
	basePath string
	now      func() time.Time
	signer   jose.Signer
	jwk      jose.JSONWebKey // public
}

// Limits of Mint.
const (
	// MaxTTL is the longest lifetime of a minted token.
	MaxTTL = 24 * time.Hour
	// DefaultTTL is the lifetime of a token requested without one.
	DefaultTTL = 10 * time.Minute
	// DefaultAudience is the audience of a token requested without one:
	// the client ID Sigstore's certificate authorities expect.
	DefaultAudience = "sigstore"
	// maxSubject bounds the subject's length.
	maxSubject = 1024
)

// signingAlg is the JWS algorithm of every token.
const signingAlg = jose.RS256

// basePathRE is what the issuer URL's path may look like: it becomes part of
// http.ServeMux patterns, so only plain segments are allowed.
var basePathRE = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)*$`)

// NewIssuer loads or creates the signing key in cfg.Dir.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("oidc: no key directory")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("oidc: issuer URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("oidc: issuer URL %q: scheme must be http or https", cfg.URL)
	case u.Host == "":
		return nil, fmt.Errorf("oidc: issuer URL %q: no host", cfg.URL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("oidc: issuer URL %q: must not have user info, query or fragment", cfg.URL)
	case !basePathRE.MatchString(u.EscapedPath()):
		return nil, fmt.Errorf("oidc: issuer URL %q: path must be plain segments without a trailing slash", cfg.URL)
	}
	key, err := loadOrCreateKey(cfg.Dir)
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(signingAlg), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("oidc: key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: signingAlg, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("oidc: signer: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Issuer{url: cfg.URL, basePath: u.EscapedPath(), now: now, signer: signer, jwk: pub}, nil
}

// URL returns the issuer identifier.
func (i *Issuer) URL() string { return i.url }

// PublicKey returns the public key tokens are signed with.
func (i *Issuer) PublicKey() *rsa.PublicKey { return i.jwk.Key.(*rsa.PublicKey) }

// registered are the claims Mint sets itself and extra may not override.
var registered = []string{"iss", "sub", "aud", "iat", "nbf", "exp"}

// Mint returns a signed ID token for subject and audience (DefaultAudience
// if empty) valid for ttl from now (DefaultTTL if zero, at most MaxTTL).
// extra adds claims, e.g. those of a GitHub Actions token; it may override
// email and email_verified but none of the registered claims.
func (i *Issuer) Mint(subject, audience string, ttl time.Duration, extra map[string]any) (string, error) {
	switch {
	case subject == "":
		return "", errors.New("oidc: empty subject")
	case len(subject) > maxSubject:
		return "", fmt.Errorf("oidc: subject longer than %d bytes", maxSubject)
	case ttl < 0 || ttl > MaxTTL:
		return "", fmt.Errorf("oidc: ttl %s out of range (0, %s]", ttl, MaxTTL)
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if audience == "" {
		audience = DefaultAudience
	}
	for _, name := range registered {
		if _, ok := extra[name]; ok {
			return "", fmt.Errorf("oidc: extra claims must not set %q", name)
		}
	}
	now := i.now().Truncate(time.Second)
	claims := map[string]any{}
	if looksLikeEmail(subject) {
		claims["email"] = subject
		claims["email_verified"] = true
	}
	maps.Copy(claims, extra)
	claims["iss"] = i.url
	claims["sub"] = subject
	claims["aud"] = audience
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(ttl).Unix()
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("oidc: encoding claims: %w", err)
	}
	jws, err := i.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("oidc: signing token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("oidc: serializing token: %w", err)
	}
	return tok, nil
}

// looksLikeEmail reports whether s is a bare addr-spec such as
// alice@example.com.
func looksLikeEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}
