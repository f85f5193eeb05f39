package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/jsonstrict"
)

// The wire format of Fulcio API v2 (fulcio.proto
// CreateSigningCertificateRequest, SigningCertificate, TrustBundle,
// Configuration) in the protojson encoding grpc-gateway serves: camelCase
// names, bytes fields as base64. The request shape is the one sigstore-go's
// sign.Fulcio sends (pkg/sign/certificate.go: fulcioCertRequest, with the
// token in the Authorization header instead of credentials).

type signingCertRequest struct {
	Credentials               *credentials      `json:"credentials"`
	PublicKeyRequest          *publicKeyRequest `json:"publicKeyRequest"`
	CertificateSigningRequest *string           `json:"certificateSigningRequest"`
}

type credentials struct {
	OIDCIdentityToken string `json:"oidcIdentityToken"`
}

type publicKeyRequest struct {
	PublicKey         *publicKey `json:"publicKey"`
	ProofOfPossession string     `json:"proofOfPossession"`
}

type publicKey struct {
	Algorithm string `json:"algorithm"`
	Content   string `json:"content"`
}

type signingCertificate struct {
	SignedCertificateEmbeddedSct embeddedSCT `json:"signedCertificateEmbeddedSct"`
}

type embeddedSCT struct {
	Chain certificateChain `json:"chain"`
}

type certificateChain struct {
	Certificates []string `json:"certificates"`
}

type trustBundle struct {
	Chains []certificateChain `json:"chains"`
}

type configuration struct {
	Issuers []configIssuer `json:"issuers"`
}

type configIssuer struct {
	IssuerURL         string `json:"issuerUrl"`
	Audience          string `json:"audience"`
	ChallengeClaim    string `json:"challengeClaim"`
	SPIFFETrustDomain string `json:"spiffeTrustDomain"`
}

// errorBody is grpc-gateway's error shape (google.rpc.Status).
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// gRPC status codes used in error bodies.
const (
	grpcInvalidArgument = 3
	grpcInternal        = 13
	grpcUnavailable     = 14
	grpcUnauthenticated = 16
)

// maxRequest bounds the body of POST /api/v2/signingCert; larger bodies
// are answered 413.
const maxRequest = 64 << 10

// certRequest is a parsed, not yet authorized, certificate request.
type certRequest struct {
	token string
	pub   crypto.PublicKey
	// proof is the signature over the principal's challenge; nil for a
	// CSR, whose own signature is the proof of possession.
	proof []byte
}

// apiError is a refusal: the HTTP status and the message to answer with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// parseRequest decodes and checks a signingCert request body: exactly one
// of a public key with its proof of possession or a CSR, an acceptable
// key, and a token in the body or else in the Authorization header.
func parseRequest(body []byte, authorization string) (*certRequest, error) {
	// encoding/json matches the request's keys to fields under case
	// folding: two keys that fold alike would name one field twice.
	var r signingCertRequest
	err := jsonstrict.Unmarshal(body, &r, jsonstrict.Rules{FoldKeys: true})
	switch {
	case errors.Is(err, jsonstrict.ErrTrailingData):
		return nil, badRequest("ca: trailing data after the JSON request")
	case err != nil:
		return nil, badRequest("ca: request is not a JSON object: %v", err)
	}

	out := &certRequest{}
	switch {
	case r.PublicKeyRequest != nil && r.CertificateSigningRequest != nil:
		return nil, badRequest("ca: request has both publicKeyRequest and certificateSigningRequest")
	case r.PublicKeyRequest != nil:
		pkr := r.PublicKeyRequest
		if pkr.PublicKey == nil || pkr.PublicKey.Content == "" {
			return nil, badRequest("ca: publicKeyRequest has no publicKey.content")
		}
		pub, err := parsePublicKeyPEM(pkr.PublicKey.Content)
		if err != nil {
			return nil, badRequest("ca: publicKey.content: %v", err)
		}
		if err := checkAlgorithm(pkr.PublicKey.Algorithm, pub); err != nil {
			return nil, badRequest("ca: publicKey.algorithm: %v", err)
		}
		if pkr.ProofOfPossession == "" {
			return nil, badRequest("ca: publicKeyRequest has no proofOfPossession")
		}
		proof, err := decodeBase64(pkr.ProofOfPossession)
		if err != nil {
			return nil, badRequest("ca: proofOfPossession: %v", err)
		}
		out.pub, out.proof = pub, proof
	case r.CertificateSigningRequest != nil:
		raw, err := decodeBase64(*r.CertificateSigningRequest)
		if err != nil {
			return nil, badRequest("ca: certificateSigningRequest: %v", err)
		}
		csr, err := parseCSR(raw)
		if err != nil {
			return nil, badRequest("ca: certificateSigningRequest: %v", err)
		}
		if err := checkKey(csr.PublicKey); err != nil {
			return nil, badRequest("ca: certificateSigningRequest: %v", err)
		}
		// The CSR's signature is its proof of possession.
		if err := csr.CheckSignature(); err != nil {
			return nil, badRequest("ca: certificateSigningRequest: proof of possession failed: %v", err)
		}
		out.pub = csr.PublicKey
	default:
		return nil, badRequest("ca: request has neither publicKeyRequest nor certificateSigningRequest")
	}
	if err := checkKey(out.pub); err != nil {
		return nil, badRequest("ca: %v", err)
	}

	// The auth scheme is case-insensitive (RFC 9110 section 11.1).
	bearer, hasBearer := "", false
	if scheme, tok, ok := strings.Cut(authorization, " "); ok && strings.EqualFold(scheme, "Bearer") {
		bearer, hasBearer = strings.TrimSpace(tok), true
	}
	switch {
	case r.Credentials != nil && r.Credentials.OIDCIdentityToken != "":
		out.token = r.Credentials.OIDCIdentityToken
		if hasBearer && bearer != out.token {
			return nil, badRequest("ca: credentials.oidcIdentityToken and the Authorization header disagree")
		}
	case hasBearer && bearer != "":
		out.token = bearer
	default:
		return nil, &apiError{http.StatusUnauthorized, "ca: no OIDC identity token (credentials.oidcIdentityToken or Authorization: Bearer)"}
	}
	return out, nil
}

// parsePublicKeyPEM parses exactly one PKIX PUBLIC KEY PEM block.
func parsePublicKeyPEM(s string) (crypto.PublicKey, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block of type %q, want PUBLIC KEY", block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// parseCSR parses a PEM or DER PKCS #10 request.
func parseCSR(raw []byte) (*x509.CertificateRequest, error) {
	if block, rest := pem.Decode(raw); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("PEM block of type %q, want CERTIFICATE REQUEST", block.Type)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, errors.New("data after the PEM block")
		}
		raw = block.Bytes
	}
	return x509.ParseCertificateRequest(raw)
}

// checkAlgorithm checks the declared algorithm, when there is one, against
// the key. Fulcio's enum names are accepted, and "RSA", which sigstore-go
// sends for RSA keys.
func checkAlgorithm(alg string, pub crypto.PublicKey) error {
	var want string
	switch alg {
	case "", "PUBLIC_KEY_ALGORITHM_UNSPECIFIED":
		return nil
	case "ECDSA":
		want = "*ecdsa.PublicKey"
	case "RSA", "RSA_PSS":
		want = "*rsa.PublicKey"
	case "ED25519":
		want = "ed25519.PublicKey"
	default:
		return fmt.Errorf("unknown algorithm %q", clip(alg))
	}
	if got := fmt.Sprintf("%T", pub); got != want {
		return fmt.Errorf("algorithm %s does not match a key of type %s", alg, got)
	}
	return nil
}

// decodeBase64 accepts the encodings protojson accepts for bytes: standard
// or URL-safe alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func (c *CA) serveSigningCert(w http.ResponseWriter, r *http.Request) {
	chain, err := c.signingCert(r.Context(), w, r)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{http.StatusInternalServerError, "ca: internal error"}
			c.log.Error("ca: issuing certificate failed", "err", err)
		} else {
			c.log.Info("ca: refused certificate request", "status", ae.status, "reason", ae.msg)
		}
		writeError(w, ae.status, ae.msg)
		return
	}
	resp := signingCertificate{}
	for _, cert := range chain {
		resp.SignedCertificateEmbeddedSct.Chain.Certificates = append(resp.SignedCertificateEmbeddedSct.Chain.Certificates, string(pemCert(cert)))
	}
	writeJSON(w, http.StatusOK, resp)
}

// signingCert authorizes and answers one request; errors other than
// *apiError are internal.
func (c *CA) signingCert(ctx context.Context, w http.ResponseWriter, r *http.Request) ([]*x509.Certificate, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("ca: request larger than %d bytes", maxRequest)}
		}
		return nil, badRequest("ca: reading request: %v", err)
	}
	req, err := parseRequest(body, r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	p, err := c.identity.Verify(ctx, req.token)
	if err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, identity.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		return nil, &apiError{status, "ca: identity token refused: " + err.Error()}
	}
	if p.Challenge == "" {
		return nil, fmt.Errorf("ca: principal %q has no proof-of-possession challenge", p.Subject)
	}
	if req.proof != nil {
		if err := checkProof(req.pub, p.Challenge, req.proof); err != nil {
			return nil, badRequest("ca: proof of possession failed: %v: it must be the signature of %q (the token's email claim, else its sub claim) with the submitted key", err, clip(p.Challenge))
		}
	}
	return c.issue(ctx, p, req.pub)
}

// issue creates and signs the leaf for p's key pub and returns the whole
// chain, leaf first.
func (c *CA) issue(ctx context.Context, p *identity.Principal, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	tmpl, err := c.leafTemplate(p, pub)
	if err != nil {
		return nil, fmt.Errorf("ca: certificate for %q: %w", p.Subject, err)
	}
	if c.ctlog != nil {
		if err := c.embedSCT(ctx, tmpl, pub); err != nil {
			return nil, fmt.Errorf("ca: certificate for %q: %w", p.Subject, err)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.intermediate, pub, c.signer)
	if err != nil {
		return nil, fmt.Errorf("ca: signing certificate for %q: %w", p.Subject, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parsing issued certificate: %w", err)
	}
	c.log.Info("ca: issued certificate",
		"serial", leaf.SerialNumber.Text(16),
		"subject", p.Subject,
		"issuer", p.Issuer,
		"not_after", leaf.NotAfter.UTC())
	if c.onIssue != nil {
		c.onIssue(leaf)
	}
	return []*x509.Certificate{leaf, c.intermediate, c.root}, nil
}

func (c *CA) serveTrustBundle(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, trustBundle{Chains: []certificateChain{{
		Certificates: []string{string(pemCert(c.intermediate)), string(pemCert(c.root))},
	}}})
}

func (c *CA) serveConfiguration(w http.ResponseWriter, _ *http.Request) {
	conf := configuration{Issuers: []configIssuer{}}
	if l, ok := c.identity.(IssuerLister); ok {
		for _, iss := range l.Issuers() {
			aud := iss.ClientID
			if aud == "" {
				aud = identity.DefaultClientID
			}
			conf.Issuers = append(conf.Issuers, configIssuer{
				IssuerURL:      iss.URL,
				Audience:       aud,
				ChallengeClaim: iss.ChallengeClaim(),
			})
		}
	}
	writeJSON(w, http.StatusOK, conf)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	code := grpcInvalidArgument
	switch status {
	case http.StatusUnauthorized:
		code = grpcUnauthenticated
	case http.StatusServiceUnavailable:
		code = grpcUnavailable
	case http.StatusInternalServerError:
		code = grpcInternal
	}
	writeJSON(w, status, errorBody{Code: code, Message: msg, Details: []any{}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":13,"message":"ca: encoding response","details":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// clip shortens client-controlled strings quoted in messages.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
