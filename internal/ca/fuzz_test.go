package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"hallmark.dev/internal/identity"
)

// fixedVerifier accepts the token "tok" as alice@example.com.
type fixedVerifier struct{}

func (fixedVerifier) Verify(_ context.Context, tok string) (*identity.Principal, error) {
	if tok != "tok" {
		return nil, identity.ErrInvalidToken
	}
	return &identity.Principal{Issuer: "https://issuer.example", Subject: "alice@example.com", SANType: identity.SANEmail, Challenge: "alice@example.com"}, nil
}

// FuzzSigningCert feeds arbitrary bodies and Authorization headers to the
// signingCert endpoint. Properties: it never panics; it answers 200 exactly
// when it issues a certificate; it issues only for requests that parse,
// carry the accepted token and prove possession of the certified key; and
// it never answers a 5xx.
func FuzzSigningCert(f *testing.F) {
	c, err := New(Config{Dir: f.TempDir(), Identity: fixedVerifier{}})
	if err != nil {
		f.Fatal(err)
	}
	var issued []*x509.Certificate
	c.onIssue = func(cert *x509.Certificate) { issued = append(issued, cert) }
	h := c.Handler()

	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	d := sha256.Sum256([]byte("alice@example.com"))
	proof, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		f.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	if err != nil {
		f.Fatal(err)
	}
	keyReq, err := json.Marshal(signingCertRequest{PublicKeyRequest: &publicKeyRequest{
		PublicKey:         &publicKey{Algorithm: "ECDSA", Content: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		ProofOfPossession: base64.StdEncoding.EncodeToString(proof),
	}})
	if err != nil {
		f.Fatal(err)
	}
	csr := base64.StdEncoding.EncodeToString(csrDER)
	csrReq, err := json.Marshal(signingCertRequest{Credentials: &credentials{OIDCIdentityToken: "tok"}, CertificateSigningRequest: &csr})
	if err != nil {
		f.Fatal(err)
	}
	seeds := []struct {
		body string
		auth string
	}{
		{string(keyReq), "Bearer tok"},
		{string(keyReq), "Bearer nope"},
		{string(keyReq), ""},
		{string(csrReq), ""},
		{string(csrReq), "Bearer tok"},
		{`{"publicKeyRequest":{"publicKey":{"content":"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"},"proofOfPossession":"AA"}}`, "Bearer tok"},
		{`{"certificateSigningRequest":"////"}`, "Bearer tok"},
		{`{}`, "Bearer tok"},
		{`null`, "Bearer tok"},
		{``, ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.auth)
	}
	f.Fuzz(func(t *testing.T, body []byte, auth string) {
		issued = issued[:0]
		req := httptest.NewRequest(http.MethodPost, "/api/v2/signingCert", bytes.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("status %d for a client's request: %s", rec.Code, rec.Body)
		}
		if (rec.Code == http.StatusOK) != (len(issued) == 1) || len(issued) > 1 {
			t.Fatalf("status %d with %d certificates issued", rec.Code, len(issued))
		}
		if rec.Code != http.StatusOK {
			return
		}
		cr, err := parseRequest(body, req.Header.Get("Authorization"))
		if err != nil {
			t.Fatalf("issued for a request that does not parse: %v", err)
		}
		if cr.token != "tok" {
			t.Fatalf("issued for token %q", cr.token)
		}
		if cr.proof != nil {
			if err := checkProof(cr.pub, "alice@example.com", cr.proof); err != nil {
				t.Fatalf("issued without proof of possession: %v", err)
			}
		}
		pub, ok := cr.pub.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(issued[0].PublicKey) {
			t.Fatal("issued certificate certifies another key than the request's")
		}
	})
}

// FuzzParseRequest checks parseRequest alone: no panics, and every
// refusal is an *apiError with a 4xx status.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"publicKeyRequest":{"publicKey":{"algorithm":"ECDSA","content":"x"},"proofOfPossession":"AA=="}}`,
		`{"certificateSigningRequest":"AA=="}`,
		`{"credentials":{"oidcIdentityToken":"t"}}`,
		`[]`,
	} {
		f.Add([]byte(s), "Bearer t")
	}
	f.Fuzz(func(t *testing.T, body []byte, auth string) {
		r, err := parseRequest(body, auth)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 {
				t.Fatalf("refusal %v is not a 4xx apiError", err)
			}
			return
		}
		if r.token == "" || r.pub == nil || checkKey(r.pub) != nil {
			t.Fatalf("accepted request without token or with a bad key: %+v", r)
		}
	})
}
