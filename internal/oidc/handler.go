package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"hallmark.dev/internal/jsonstrict"
)

// TokenRequest is the body of POST P/token.
type TokenRequest struct {
	// Subject is the sub claim. An email address also becomes the email
	// claim, with email_verified true.
	Subject string `json:"subject"`
	// Audience is the aud claim; empty means DefaultAudience.
	Audience string `json:"audience,omitempty"`
	// TTL is the token's lifetime in seconds; 0 means DefaultTTL.
	TTL int64 `json:"ttl,omitempty"`
	// Claims are extra claims (see Issuer.Mint).
	Claims map[string]any `json:"claims,omitempty"`
}

// TokenResponse is the answer of POST P/token.
type TokenResponse struct {
	IDToken   string `json:"id_token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
}

// maxTokenRequest bounds the body of a token request.
const maxTokenRequest = 64 << 10

// tokenRequestRules are the rules of a token request: the fields of
// TokenRequest, spelled exactly.
var tokenRequestRules = jsonstrict.Rules{Fields: jsonstrict.FieldsOf(TokenRequest{}), UseNumber: true}

// ParseTokenRequest decodes a token request strictly (jsonstrict): one
// JSON object, no repeated keys, no unknown fields, no trailing data,
// numbers in claims kept verbatim.
func ParseTokenRequest(body []byte) (TokenRequest, error) {
	var req TokenRequest
	if err := jsonstrict.Unmarshal(body, &req, tokenRequestRules); err != nil {
		return TokenRequest{}, fmt.Errorf("oidc: token request: %w", err)
	}
	if req.TTL < 0 || req.TTL > int64(MaxTTL/time.Second) {
		return TokenRequest{}, fmt.Errorf("oidc: token request: ttl %d out of range [0, %d]", req.TTL, int64(MaxTTL/time.Second))
	}
	return req, nil
}

// discovery is the OpenID Provider Metadata this issuer publishes.
type discovery struct {
	Issuer                           string   `json:"issuer"`
	JWKSURI                          string   `json:"jwks_uri"`
	TokenEndpoint                    string   `json:"token_endpoint"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

// Handler serves the discovery document, the key set and the token endpoint
// at their full paths under the issuer URL's path, so it is mounted at that
// path without stripping it, e.g. mux.Handle("/oidc/", issuer.Handler()).
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+i.basePath+"/.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET "+i.basePath+"/jwks", i.serveJWKS)
	mux.HandleFunc("POST "+i.basePath+"/token", i.serveToken)
	return mux
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, discovery{
		Issuer:                           i.url,
		JWKSURI:                          i.url + "/jwks",
		TokenEndpoint:                    i.url + "/token",
		ResponseTypesSupported:           []string{"id_token"},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{string(signingAlg)},
		ClaimsSupported:                  []string{"iss", "sub", "aud", "iat", "nbf", "exp", "email", "email_verified"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{i.jwk}})
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("oidc: token request larger than %d bytes", maxTokenRequest))
			return
		}
		writeError(w, http.StatusBadRequest, "oidc: reading token request: "+err.Error())
		return
	}
	req, err := ParseTokenRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ttl := time.Duration(req.TTL) * time.Second
	if ttl == 0 {
		ttl = DefaultTTL
	}
	tok, err := i.Mint(req.Subject, req.Audience, ttl, req.Claims)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, TokenResponse{IDToken: tok, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second)})
}

type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// writeError answers in the shape of RFC 6749 section 5.2.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: "invalid_request", ErrorDescription: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
