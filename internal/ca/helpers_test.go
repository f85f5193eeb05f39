package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/ca"
	"hallmark.dev/internal/ctlog"
	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/oidc"
)

// stack is a dev OIDC server with two issuers (an email one under /email
// and a GitHub-Actions-shaped one under /github) and a CA trusting both,
// each on its own loopback server.
type stack struct {
	oidcSrv             *httptest.Server
	email               *oidc.Issuer
	github              *oidc.Issuer
	emailDir, githubDir string

	ca     *ca.CA
	caDir  string
	ctl    *ctlog.Log
	caSrv  *httptest.Server
	issued atomic.Int64
	last   atomic.Pointer[x509.Certificate]
}

type stackOptions struct {
	caNow  func() time.Time
	extra  []identity.Issuer
	signer crypto.Signer
	// ct runs a certificate transparency log the CA logs to.
	ct bool
}

// lateCTLog forwards to a CT log created after the CA (the log accepts
// the CA's root, which the CA creates).
type lateCTLog struct{ l **ctlog.Log }

func (f lateCTLog) AddPreChain(ctx context.Context, chain []*x509.Certificate) (*ct.SignedCertificateTimestamp, error) {
	return (*f.l).AddPreChain(ctx, chain)
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{emailDir: t.TempDir(), githubDir: t.TempDir(), caDir: t.TempDir()}
	var mux atomic.Pointer[http.ServeMux]
	s.oidcSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(s.oidcSrv.Close)
	var err error
	if s.email, err = oidc.NewIssuer(oidc.IssuerConfig{Dir: s.emailDir, URL: s.oidcSrv.URL + "/email"}); err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	if s.github, err = oidc.NewIssuer(oidc.IssuerConfig{Dir: s.githubDir, URL: s.oidcSrv.URL + "/github"}); err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	m := http.NewServeMux()
	m.Handle("/email/", s.email.Handler())
	m.Handle("/github/", s.github.Handler())
	mux.Store(m)

	issuers := append([]identity.Issuer{
		{URL: s.email.URL(), Type: identity.TypeEmail},
		{URL: s.github.URL(), Type: identity.TypeGitHubWorkflow},
	}, o.extra...)
	v, err := identity.NewVerifier(t.Context(), issuers, identity.WithHTTPClient(s.oidcSrv.Client()))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	cfg := ca.Config{
		Dir:      s.caDir,
		Signer:   o.signer,
		Identity: v,
		Now:      o.caNow,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if o.ct {
		cfg.CTLog = lateCTLog{&s.ctl}
	}
	s.ca, err = ca.New(cfg)
	if err != nil {
		t.Fatalf("ca.New: %v", err)
	}
	if o.ct {
		chain := s.ca.Chain()
		s.ctl, err = ctlog.New(t.Context(), ctlog.Config{Dir: t.TempDir(), Origin: "ct.example/log", Roots: chain[len(chain)-1:]})
		if err != nil {
			t.Fatalf("ctlog.New: %v", err)
		}
		t.Cleanup(func() {
			if err := s.ctl.Close(); err != nil {
				t.Errorf("closing the ct log: %v", err)
			}
		})
	}
	ca.OnIssue(s.ca, func(c *x509.Certificate) {
		s.issued.Add(1)
		s.last.Store(c)
	})
	s.caSrv = httptest.NewServer(s.ca.Handler())
	t.Cleanup(s.caSrv.Close)
	return s
}

func mint(t *testing.T, iss *oidc.Issuer, sub, aud string, extra map[string]any) string {
	t.Helper()
	tok, err := iss.Mint(sub, aud, 0, extra)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// trustedRoot is a Sigstore trusted root whose only certificate authority
// is the stack's CA.
func (s *stack) trustedRoot(t *testing.T) *root.TrustedRoot {
	t.Helper()
	chain := s.ca.Chain()
	ctlogs := map[string]*root.TransparencyLog{}
	if s.ctl != nil {
		ctlogs[hex.EncodeToString(s.ctl.LogID())] = &root.TransparencyLog{
			BaseURL:             "https://ct.example/log",
			ID:                  s.ctl.LogID(),
			ValidityPeriodStart: chain[len(chain)-1].NotBefore,
			HashFunc:            crypto.SHA256,
			PublicKey:           s.ctl.PublicKey(),
			SignatureHashFunc:   crypto.SHA256,
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{
			Root:                chain[len(chain)-1],
			Intermediates:       chain[:len(chain)-1],
			ValidityPeriodStart: chain[len(chain)-1].NotBefore,
			URI:                 s.caSrv.URL,
		}}, ctlogs, nil, nil)
	if err != nil {
		t.Fatalf("NewTrustedRoot: %v", err)
	}
	return tr
}

// post sends body to the CA's signingCert endpoint with token as a bearer
// token (none if empty) and returns the status and decoded body.
func (s *stack) post(t *testing.T, body []byte, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.caSrv.URL+"/api/v2/signingCert", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.caSrv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST signingCert: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decoding answer (status %d): %v", resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

// keyRequest is a publicKeyRequest body for pub with proof.
func keyRequest(t *testing.T, pub crypto.PublicKey, alg string, proof []byte) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]any{"algorithm": alg, "content": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
			"proofOfPossession": base64.StdEncoding.EncodeToString(proof),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// prove signs msg with k as sigstore-go does for P-256 keys.
func prove(t testing.TB, k *ecdsa.PrivateKey, msg string) []byte {
	t.Helper()
	d := sha256.Sum256([]byte(msg))
	sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// chainFrom decodes the certificates of a signingCert answer.
func chainFrom(t *testing.T, m map[string]any) []*x509.Certificate {
	t.Helper()
	var resp struct {
		SignedCertificateEmbeddedSct struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
		} `json:"signedCertificateEmbeddedSct"`
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for _, p := range resp.SignedCertificateEmbeddedSct.Chain.Certificates {
		block, rest := pem.Decode([]byte(p))
		if block == nil || len(bytes.TrimSpace(rest)) != 0 {
			t.Fatalf("chain element is not one PEM block: %q", p)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}
