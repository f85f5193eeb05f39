package oidc_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"hallmark.dev/internal/oidc"
)

// startIssuer serves a dev issuer whose URL is the test server's URL plus
// path.
func startIssuer(t *testing.T, dir, path string, now func() time.Time) (*oidc.Issuer, *httptest.Server) {
	t.Helper()
	var h atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	iss, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: dir, URL: srv.URL + path, Now: now})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	h.Store(iss.Handler())
	return iss, srv
}

func TestMintVerifiesThroughDiscovery(t *testing.T) {
	for _, path := range []string{"", "/oidc", "/a/b"} {
		t.Run("path="+path, func(t *testing.T) {
			iss, srv := startIssuer(t, t.TempDir(), path, nil)
			ctx := gooidc.ClientContext(t.Context(), srv.Client())
			p, err := gooidc.NewProvider(ctx, iss.URL())
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			tok, err := iss.Mint("alice@example.com", "", 0, nil)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			idt, err := p.Verifier(&gooidc.Config{ClientID: "sigstore"}).Verify(ctx, tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var c struct {
				Email    string `json:"email"`
				Verified bool   `json:"email_verified"`
				Nbf      int64  `json:"nbf"`
				Iat      int64  `json:"iat"`
				Exp      int64  `json:"exp"`
			}
			if err := idt.Claims(&c); err != nil {
				t.Fatalf("Claims: %v", err)
			}
			if idt.Subject != "alice@example.com" || idt.Issuer != iss.URL() || c.Email != "alice@example.com" || !c.Verified {
				t.Errorf("got sub %q iss %q email %q verified %v", idt.Subject, idt.Issuer, c.Email, c.Verified)
			}
			if got := time.Duration(c.Exp-c.Iat) * time.Second; got != oidc.DefaultTTL || c.Nbf != c.Iat {
				t.Errorf("got lifetime %s nbf-iat %d, want %s and 0", got, c.Nbf-c.Iat, oidc.DefaultTTL)
			}
		})
	}
}

func TestMintClaims(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	iss, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: "https://issuer.example/oidc", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	tests := []struct {
		name     string
		subject  string
		audience string
		ttl      time.Duration
		extra    map[string]any
		want     map[string]any // claims that must be present with these values
		absent   []string
		wantErr  string
	}{
		{name: "email subject", subject: "bob@example.com", want: map[string]any{"email": "bob@example.com", "email_verified": true, "aud": "sigstore", "exp": float64(now.Unix() + 600)}},
		{name: "plain subject has no email", subject: "repo:org/x:ref:refs/heads/main", absent: []string{"email", "email_verified"}},
		{name: "named address is no email", subject: "Bob <bob@example.com>", absent: []string{"email"}},
		{name: "audience and ttl", subject: "x", audience: "other", ttl: time.Hour, want: map[string]any{"aud": "other", "exp": float64(now.Unix() + 3600)}},
		{name: "extra claims", subject: "x", extra: map[string]any{"repository": "org/repo", "run_id": "42"}, want: map[string]any{"repository": "org/repo", "run_id": "42"}},
		{name: "extra overrides email_verified", subject: "eve@example.com", extra: map[string]any{"email_verified": false}, want: map[string]any{"email_verified": false}},
		{name: "extra must not set iss", subject: "x", extra: map[string]any{"iss": "https://evil"}, wantErr: `must not set "iss"`},
		{name: "extra must not set exp", subject: "x", extra: map[string]any{"exp": 1}, wantErr: `must not set "exp"`},
		{name: "empty subject", subject: "", wantErr: "empty subject"},
		{name: "ttl too long", subject: "x", ttl: 25 * time.Hour, wantErr: "out of range"},
		{name: "negative ttl", subject: "x", ttl: -time.Second, wantErr: "out of range"},
		{name: "subject too long", subject: strings.Repeat("a", 2000), wantErr: "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := iss.Mint(tt.subject, tt.audience, tt.ttl, tt.extra)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			claims := unverifiedClaims(t, tok)
			if claims["iss"] != "https://issuer.example/oidc" || claims["sub"] != tt.subject {
				t.Errorf("got iss %v sub %v", claims["iss"], claims["sub"])
			}
			for k, v := range tt.want {
				if claims[k] != v {
					t.Errorf("claim %s: got %v (%T), want %v", k, claims[k], claims[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := claims[k]; ok {
					t.Errorf("claim %s present, want absent", k)
				}
			}
		})
	}
}

func unverifiedClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	payload, err := jsonB64(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return m
}

func TestTokenEndpoint(t *testing.T) {
	iss, srv := startIssuer(t, t.TempDir(), "/oidc", nil)
	tests := []struct {
		name       string
		method     string
		body       string
		wantStatus int
	}{
		{"ok", "POST", `{"subject":"alice@example.com","audience":"sigstore","ttl":60}`, 200},
		{"ok with claims", "POST", `{"subject":"x","claims":{"repository_id":123456789012345678}}`, 200},
		{"no subject", "POST", `{"audience":"sigstore"}`, 400},
		{"unknown field", "POST", `{"subject":"x","sub":"y"}`, 400},
		{"ttl too long", "POST", `{"subject":"x","ttl":999999}`, 400},
		{"negative ttl", "POST", `{"subject":"x","ttl":-1}`, 400},
		{"registered claim", "POST", `{"subject":"x","claims":{"aud":"y"}}`, 400},
		{"trailing data", "POST", `{"subject":"x"} {}`, 400},
		{"not json", "POST", `subject=x`, 400},
		{"oversized", "POST", `{"subject":"` + strings.Repeat("a", 70<<10) + `"}`, 413},
		{"GET", "GET", ``, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, iss.URL()+"/token", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if resp.StatusCode != 200 {
				return
			}
			var tr oidc.TokenResponse
			if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
				t.Fatalf("decoding response: %v", err)
			}
			if tr.IDToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn <= 0 {
				t.Errorf("got response %+v", tr)
			}
			if strings.Contains(tt.body, "repository_id") {
				// Large integers survive verbatim.
				var raw map[string]json.RawMessage
				payload, err := jsonB64(strings.Split(tr.IDToken, ".")[1])
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(payload, &raw); err != nil {
					t.Fatal(err)
				}
				if got := string(raw["repository_id"]); got != "123456789012345678" {
					t.Errorf("got repository_id %s, want 123456789012345678", got)
				}
			}
		})
	}
}

func TestRequestToken(t *testing.T) {
	iss, srv := startIssuer(t, t.TempDir(), "/oidc", nil)
	tok, err := oidc.RequestToken(t.Context(), srv.Client(), iss.URL(), oidc.TokenRequest{Subject: "alice@example.com", TTL: 30})
	if err != nil {
		t.Fatalf("RequestToken: %v", err)
	}
	if c := unverifiedClaims(t, tok); c["sub"] != "alice@example.com" || c["exp"].(float64)-c["iat"].(float64) != 30 {
		t.Errorf("got claims %v", c)
	}
	_, err = oidc.RequestToken(t.Context(), srv.Client(), iss.URL(), oidc.TokenRequest{})
	if err == nil || !strings.Contains(err.Error(), "empty subject") {
		t.Errorf("got error %v, want one about the empty subject", err)
	}
	_, err = oidc.RequestToken(t.Context(), srv.Client(), srv.URL+"/elsewhere", oidc.TokenRequest{Subject: "x"})
	if err == nil || !strings.Contains(err.Error(), "--dev-oidc") {
		t.Errorf("got error %v, want a hint about --dev-oidc", err)
	}
}

func TestDiscoveryDocument(t *testing.T) {
	iss, srv := startIssuer(t, t.TempDir(), "/oidc", nil)
	resp, err := srv.Client().Get(iss.URL() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"issuer": iss.URL(), "jwks_uri": iss.URL() + "/jwks", "token_endpoint": iss.URL() + "/token"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s: got %v, want %v", k, d[k], v)
		}
	}
}

func TestKeyPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: dir, URL: "http://127.0.0.1:5005/oidc"})
	if err != nil {
		t.Fatalf("first NewIssuer: %v", err)
	}
	b, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: dir, URL: "http://127.0.0.1:5005/oidc"})
	if err != nil {
		t.Fatalf("second NewIssuer: %v", err)
	}
	if !a.PublicKey().Equal(b.PublicKey()) {
		t.Error("second start has a different key")
	}
	fi, err := os.Stat(filepath.Join(dir, "oidc-signing-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := os.WriteFile(filepath.Join(dir, "oidc-signing-key.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: dir, URL: "http://127.0.0.1:5005/oidc"}); err == nil {
		t.Error("NewIssuer accepted a corrupt key file")
	}
}

func TestNewIssuerRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  oidc.IssuerConfig
	}{
		{"no dir", oidc.IssuerConfig{URL: "http://127.0.0.1/oidc"}},
		{"no scheme", oidc.IssuerConfig{URL: "127.0.0.1/oidc"}},
		{"ftp", oidc.IssuerConfig{URL: "ftp://127.0.0.1/oidc"}},
		{"trailing slash", oidc.IssuerConfig{URL: "http://127.0.0.1/oidc/"}},
		{"query", oidc.IssuerConfig{URL: "http://127.0.0.1/oidc?x=1"}},
		{"fragment", oidc.IssuerConfig{URL: "http://127.0.0.1/oidc#x"}},
		{"pattern chars", oidc.IssuerConfig{URL: "http://127.0.0.1/{x}"}},
		{"no host", oidc.IssuerConfig{URL: "http:///oidc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Dir == "" && tt.name != "no dir" {
				tt.cfg.Dir = t.TempDir()
			}
			if _, err := oidc.NewIssuer(tt.cfg); err == nil {
				t.Errorf("NewIssuer(%+v) succeeded, want an error", tt.cfg)
			}
		})
	}
}

// TestParseTokenRequestStrict: a request means one thing to every JSON
// reader, or is refused.
func TestParseTokenRequestStrict(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"field in another case", `{"Subject":"x"}`, `unknown field "Subject"`},
		{"repeated key", `{"subject":"x","subject":"y"}`, `duplicate JSON key "subject"`},
		{"repeated claim", `{"subject":"x","claims":{"a":1,"a":2}}`, `duplicate JSON key "a" in claims`},
		{"unknown field", `{"subject":"x","sub":"y"}`, `unknown field "sub"`},
		{"trailing data", `{"subject":"x"} {}`, "after top-level value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oidc.ParseTokenRequest([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseTokenRequest(%s) = %v, want %q", tt.body, err, tt.want)
			}
		})
	}
}

func FuzzParseTokenRequest(f *testing.F) {
	for _, s := range []string{
		`{"subject":"alice@example.com"}`,
		`{"subject":"x","audience":"sigstore","ttl":600,"claims":{"a":1,"b":[true,null],"c":{"d":"e"}}}`,
		`{"subject":"x","ttl":1e3}`,
		`{}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := oidc.ParseTokenRequest(body)
		if err != nil {
			return
		}
		// Property: what parses re-encodes to something that parses to
		// the same request.
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", req, err)
		}
		req2, err := oidc.ParseTokenRequest(again)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", again, err)
		}
		again2, err := json.Marshal(req2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, again2) {
			t.Fatalf("round trip changed the request: %s vs %s", again, again2)
		}
	})
}

func jsonB64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
