// Package ca is hallmark's code-signing certificate authority: it speaks
// the Fulcio API v2 (https://github.com/sigstore/fulcio, fulcio.proto, as
// served by grpc-gateway) that Sigstore clients call for keyless signing,
// and issues short-lived certificates per Fulcio's certificate
// specification (docs/certificate-specification.md):
//
//	POST /api/v2/signingCert    OIDC token + public key and proof of possession (or CSR) → chain
//	GET  /api/v2/trustBundle    the CA chains to trust
//	GET  /api/v2/configuration  the OIDC issuers accepted
//
// A client proves an identity with an OpenID Connect ID token, which a
// TokenVerifier turns into an identity.Principal, and proves possession of
// its key by signing the Principal's challenge (the token's email, else its
// subject). The leaf certificate states the Principal: its email or URI as
// the only, critical, subject alternative name of an empty subject, and its
// claims in the Fulcio extensions under 1.3.6.1.4.1.57264.1
// (docs/oid-info.md).
//
// With a certificate transparency log (Config.CTLog), the CA issues as
// Fulcio does (RFC 6962 3.1): it signs a precertificate (the leaf with the
// critical poison extension), submits it to the log, and embeds the SCT it
// gets back in the leaf (the SCT list extension), so that verifiers which
// require SCTs (cosign by default) accept the leaf. Without one, leaves
// carry no SCT.
//
// The CA is a root and an intermediate created on first start in
// Config.Dir and reused after; see Config.
package ca

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	ct "github.com/google/certificate-transparency-go"

	"hallmark.dev/internal/identity"
)

// TokenVerifier verifies an OIDC ID token and says whom it identifies.
// *identity.Verifier implements it. Its errors should wrap the identity
// package's sentinels, which decide the HTTP status of a refusal.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*identity.Principal, error)
}

// IssuerLister is implemented by TokenVerifiers that can list the issuers
// they accept (as *identity.Verifier does); GET /api/v2/configuration
// lists them.
type IssuerLister interface {
	Issuers() []identity.Issuer
}

var _ TokenVerifier = (*identity.Verifier)(nil)
var _ IssuerLister = (*identity.Verifier)(nil)

// Config configures a CA.
type Config struct {
	// Dir holds the CA's state, created (mode 0700) on first start:
	// root.pem and root-key.pem (the self-signed root; its key is only
	// needed to certify a new intermediate and may be moved offline after
	// the first start), intermediate.pem and, unless Signer is set,
	// intermediate-key.pem (the issuing key). Keys are PKCS#8 PEM, mode
	// 0600. Later starts reuse them.
	Dir string
	// Signer, if set, is the intermediate's key held elsewhere (PKCS#11,
	// KMS). On first start the root certifies it; later starts require
	// intermediate.pem to certify this very key. Nil means an ECDSA P-384
	// key in Dir.
	Signer crypto.Signer
	// Identity verifies the OIDC tokens of certificate requests. Required.
	Identity TokenVerifier
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Validity is the lifetime of issued certificates: DefaultValidity if
	// zero, at most MaxValidity. Certificates are valid from the moment of
	// issuance (no backdating) to that plus Validity.
	Validity time.Duration
	// Logger receives one record per issued or refused certificate; nil
	// discards them.
	Logger *slog.Logger
	// CTLog, if set, logs every precertificate before its certificate is
	// issued; its SCT is embedded in the certificate.
	CTLog CTLog
}

// CTLog is a certificate transparency log that takes precertificates
// (RFC 6962 add-pre-chain): chain is the precertificate, its issuer and the
// root. *ctlog.Log implements it.
type CTLog interface {
	AddPreChain(ctx context.Context, chain []*x509.Certificate) (*ct.SignedCertificateTimestamp, error)
}

// Lifetimes.
const (
	// DefaultValidity is the lifetime of issued certificates, as Fulcio's.
	DefaultValidity = 10 * time.Minute
	// MaxValidity bounds Config.Validity.
	MaxValidity = 24 * time.Hour
	// rootValidity and intermediateValidity are the lifetimes of the CA
	// certificates created on first start.
	rootValidity         = 10 * 365 * 24 * time.Hour
	intermediateValidity = 5 * 365 * 24 * time.Hour
)

// CA is a running certificate authority. It is safe for concurrent use.
type CA struct {
	root         *x509.Certificate
	intermediate *x509.Certificate
	signer       crypto.Signer
	identity     TokenVerifier
	now          func() time.Time
	validity     time.Duration
	log          *slog.Logger
	ctlog        CTLog
	// onIssue, if set (by tests), sees every certificate issued.
	onIssue func(*x509.Certificate)
}

// New loads the CA from cfg.Dir, creating its root and intermediate on
// first start.
func New(cfg Config) (*CA, error) {
	if cfg.Dir == "" {
		return nil, errors.New("ca: no directory")
	}
	if cfg.Identity == nil {
		return nil, errors.New("ca: no identity verifier")
	}
	if cfg.Validity < 0 || cfg.Validity > MaxValidity {
		return nil, fmt.Errorf("ca: validity %s out of range (0, %s]", cfg.Validity, MaxValidity)
	}
	if cfg.Validity == 0 {
		cfg.Validity = DefaultValidity
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := loadOrCreate(cfg.Dir, cfg.Signer, cfg.Now())
	if err != nil {
		return nil, err
	}
	return &CA{
		root:         m.root,
		intermediate: m.intermediate,
		signer:       m.signer,
		identity:     cfg.Identity,
		now:          cfg.Now,
		validity:     cfg.Validity,
		log:          cfg.Logger,
		ctlog:        cfg.CTLog,
	}, nil
}

// Chain returns the CA's chain, intermediate then root: the certificate
// authority of a Sigstore trusted root (trusted_root.json
// certificateAuthorities[].certChain).
func (c *CA) Chain() []*x509.Certificate {
	return []*x509.Certificate{c.intermediate, c.root}
}

// Handler serves the Fulcio API v2 at its full paths (/api/v2/...).
func (c *CA) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/signingCert", c.serveSigningCert)
	mux.HandleFunc("GET /api/v2/trustBundle", c.serveTrustBundle)
	mux.HandleFunc("GET /api/v2/configuration", c.serveConfiguration)
	return mux
}
