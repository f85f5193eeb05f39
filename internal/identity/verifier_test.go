package identity_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/oidc"
)

// devIssuer is a dev OIDC issuer on a loopback server, counting requests.
type devIssuer struct {
	*oidc.Issuer
	srv       *httptest.Server
	down      atomic.Bool
	jwksDown  atomic.Bool
	serving   atomic.Pointer[oidc.Issuer]
	discovery atomic.Int64
	jwks      atomic.Int64
}

func startDevIssuer(t *testing.T, now func() time.Time) *devIssuer {
	t.Helper()
	d := &devIssuer{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/openid-configuration"):
			d.discovery.Add(1)
		case strings.HasSuffix(r.URL.Path, "/jwks"):
			d.jwks.Add(1)
		}
		if d.down.Load() || d.jwksDown.Load() && strings.HasSuffix(r.URL.Path, "/jwks") {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		d.serving.Load().Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(d.srv.Close)
	iss, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: d.srv.URL + "/oidc", Now: now})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	d.Issuer = iss
	d.serving.Store(iss)
	return d
}

func (d *devIssuer) mint(t *testing.T, sub, aud string, ttl time.Duration, extra map[string]any) string {
	t.Helper()
	tok, err := d.Mint(sub, aud, ttl, extra)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	dev := startDevIssuer(t, func() time.Time { return t0 })
	// A second issuer with the same URL but its own key: its tokens must
	// not verify.
	impostor, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: dev.URL()})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	other, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: "https://other.example"})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	impostorTok, err := impostor.Mint("alice@example.com", "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherTok, err := other.Mint("alice@example.com", "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		token   string
		now     time.Time // verifier clock; zero means t0
		want    *identity.Principal
		wantErr error
		errHas  string
	}{
		{
			name:  "email",
			token: dev.mint(t, "alice@example.com", "", 0, nil),
			want: &identity.Principal{Issuer: dev.URL(), Subject: "alice@example.com", SANType: identity.SANEmail,
				Challenge: "alice@example.com", Extensions: certificate.Extensions{Issuer: dev.URL()}},
		},
		{name: "valid near expiry", token: dev.mint(t, "alice@example.com", "", 0, nil), now: t0.Add(9 * time.Minute)},
		{name: "expired within skew", token: dev.mint(t, "alice@example.com", "", time.Minute, nil), now: t0.Add(110 * time.Second)},
		{name: "expired", token: dev.mint(t, "alice@example.com", "", time.Minute, nil), now: t0.Add(3 * time.Minute), wantErr: identity.ErrExpired, errHas: dev.URL()},
		{name: "not yet valid", token: dev.mint(t, "alice@example.com", "", time.Hour, nil), now: t0.Add(-5 * time.Minute), wantErr: identity.ErrInvalidToken, errHas: "nbf"},
		{name: "nbf within skew", token: dev.mint(t, "alice@example.com", "", time.Hour, nil), now: t0.Add(-30 * time.Second)},
		{name: "wrong audience", token: dev.mint(t, "alice@example.com", "other", 0, nil), wantErr: identity.ErrAudience, errHas: `"other"`},
		{name: "unknown issuer", token: otherTok, wantErr: identity.ErrUnknownIssuer, errHas: "https://other.example"},
		{name: "bad signature", token: impostorTok, wantErr: identity.ErrInvalidToken, errHas: "signature"},
		{name: "unverified email", token: dev.mint(t, "eve@example.com", "", 0, map[string]any{"email_verified": false}), wantErr: identity.ErrInvalidToken, errHas: "not verified"},
		{name: "no email", token: dev.mint(t, "eve", "", 0, nil), wantErr: identity.ErrInvalidToken, errHas: "no email claim"},
		{name: "garbage", token: "not a token", wantErr: identity.ErrInvalidToken},
		{name: "empty", token: "", wantErr: identity.ErrInvalidToken},
		{name: "huge", token: strings.Repeat("a", 40<<10), wantErr: identity.ErrInvalidToken, errHas: "longer than"},
		{name: "tampered payload", token: tamper(t, dev.mint(t, "alice@example.com", "", 0, nil)), wantErr: identity.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			v, err := identity.NewVerifier(t.Context(),
				[]identity.Issuer{{URL: dev.URL(), Type: identity.TypeEmail}, {URL: "https://unused.example", Type: identity.TypeURI}},
				identity.WithHTTPClient(dev.srv.Client()), identity.WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			p, err := v.Verify(t.Context(), tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q does not mention %q", err, tt.errHas)
				}
				if strings.Contains(err.Error(), tt.token) && len(tt.token) > 20 {
					t.Errorf("error quotes the token")
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, p); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// tamper changes the token's payload and keeps its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b := []byte(parts[1])
	b[len(b)/2] ^= 1
	parts[1] = string(b)
	return strings.Join(parts, ".")
}

func TestVerifyGitHub(t *testing.T) {
	dev := startDevIssuer(t, nil)
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{{URL: dev.URL(), Type: identity.TypeGitHubWorkflow}},
		identity.WithHTTPClient(dev.srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	tok := dev.mint(t, "repo:octo/hello:ref:refs/tags/v1", "sigstore", 0, GitHubClaims)
	p, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := &identity.Principal{
		Issuer:     dev.URL(),
		Subject:    "https://github.com/octo/hello/.github/workflows/release.yml@refs/tags/v1",
		SANType:    identity.SANURI,
		Challenge:  "repo:octo/hello:ref:refs/tags/v1",
		Extensions: GitHubExtensions(dev.URL()),
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
}

// GitHubClaims are the workflow claims of a GitHub Actions ID token.
var GitHubClaims = map[string]any{
	"job_workflow_ref":      "octo/hello/.github/workflows/release.yml@refs/tags/v1",
	"job_workflow_sha":      "1111111111111111111111111111111111111111",
	"runner_environment":    "github-hosted",
	"repository":            "octo/hello",
	"repository_id":         "123",
	"repository_owner":      "octo",
	"repository_owner_id":   "456",
	"repository_visibility": "public",
	"ref":                   "refs/tags/v1",
	"ref_type":              "tag",
	"sha":                   "2222222222222222222222222222222222222222",
	"workflow":              "Release",
	"workflow_ref":          "octo/hello/.github/workflows/release.yml@refs/tags/v1",
	"workflow_sha":          "2222222222222222222222222222222222222222",
	"event_name":            "push",
	"run_id":                "789",
	"run_attempt":           "2",
	"actor":                 "octocat",
}

// GitHubExtensions are the extensions GitHubClaims map to.
func GitHubExtensions(issuer string) certificate.Extensions {
	return certificate.Extensions{
		Issuer:                              issuer,
		GithubWorkflowTrigger:               "push",
		GithubWorkflowSHA:                   "2222222222222222222222222222222222222222",
		GithubWorkflowName:                  "Release",
		GithubWorkflowRepository:            "octo/hello",
		GithubWorkflowRef:                   "refs/tags/v1",
		BuildSignerURI:                      "https://github.com/octo/hello/.github/workflows/release.yml@refs/tags/v1",
		BuildSignerDigest:                   "1111111111111111111111111111111111111111",
		RunnerEnvironment:                   "github-hosted",
		SourceRepositoryURI:                 "https://github.com/octo/hello",
		SourceRepositoryDigest:              "2222222222222222222222222222222222222222",
		SourceRepositoryRef:                 "refs/tags/v1",
		SourceRepositoryIdentifier:          "123",
		SourceRepositoryOwnerURI:            "https://github.com/octo",
		SourceRepositoryOwnerIdentifier:     "456",
		BuildConfigURI:                      "https://github.com/octo/hello/.github/workflows/release.yml@refs/tags/v1",
		BuildConfigDigest:                   "2222222222222222222222222222222222222222",
		BuildTrigger:                        "push",
		RunInvocationURI:                    "https://github.com/octo/hello/actions/runs/789/attempts/2",
		SourceRepositoryVisibilityAtSigning: "public",
	}
}

func TestDiscoveryIsLazyAndCached(t *testing.T) {
	clk := &clock{now: time.Now().Truncate(time.Second)}
	dev := startDevIssuer(t, clk.Now)
	dev.down.Store(true) // the issuer is not serving yet
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{{URL: dev.URL(), Type: identity.TypeEmail}},
		identity.WithHTTPClient(dev.srv.Client()), identity.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if n := dev.discovery.Load(); n != 0 {
		t.Fatalf("NewVerifier fetched discovery %d times, want 0", n)
	}
	tok := dev.mint(t, "alice@example.com", "", time.Hour, nil)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable while the issuer is down", err)
	}
	dev.down.Store(false)
	clk.Add(identity.KeyRefreshInterval) // a failed discovery is retried after the interval
	for i := range 3 {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
	}
	if d, k := dev.discovery.Load(), dev.jwks.Load(); d != 2 || k != 1 {
		t.Errorf("got %d discovery and %d JWKS fetches, want 2 (one failed) and 1", d, k)
	}
}

func TestKeysUnavailable(t *testing.T) {
	clk := &clock{now: time.Now().Truncate(time.Second)}
	dev := startDevIssuer(t, clk.Now)
	dev.jwksDown.Store(true)
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{{URL: dev.URL(), Type: identity.TypeEmail}},
		identity.WithHTTPClient(dev.srv.Client()), identity.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	tok := dev.mint(t, "alice@example.com", "", time.Hour, nil)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable while the key set is down", err)
	}
	dev.jwksDown.Store(false)
	clk.Add(identity.KeyRefreshInterval) // a failed fetch counts: the next waits for the interval
	if err := verifySoon(t, v, tok); err != nil {
		t.Fatalf("Verify after the key set is back: %v", err)
	}
}

// verifySoon verifies tok, retrying for a moment: go-oidc's key set hands
// the result of a failed (or refused) fetch to callers that arrive before it
// clears its in-flight request.
func verifySoon(t *testing.T, v *identity.Verifier, tok string) error {
	t.Helper()
	var err error
	for range 50 {
		if _, err = v.Verify(t.Context(), tok); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func TestNewVerifierRejects(t *testing.T) {
	tests := []struct {
		name    string
		issuers []identity.Issuer
		opts    []identity.Option
	}{
		{"no issuers", nil, nil},
		{"unknown type", []identity.Issuer{{URL: "https://a.example", Type: "saml"}}, nil},
		{"no type", []identity.Issuer{{URL: "https://a.example"}}, nil},
		{"relative URL", []identity.Issuer{{URL: "a.example", Type: identity.TypeEmail}}, nil},
		{"query in URL", []identity.Issuer{{URL: "https://a.example/?x", Type: identity.TypeEmail}}, nil},
		{"duplicate", []identity.Issuer{{URL: "https://a.example", Type: identity.TypeEmail}, {URL: "https://a.example", Type: identity.TypeURI}}, nil},
		{"bad server URL", []identity.Issuer{{URL: "https://a.example", Type: identity.TypeGitHubWorkflow, ServerURL: "github.com"}}, nil},
		{"bad subject domain", []identity.Issuer{{URL: "https://a.example", Type: identity.TypeURI, SubjectDomain: "ci"}}, nil},
		{"negative skew", []identity.Issuer{{URL: "https://a.example", Type: identity.TypeEmail}}, []identity.Option{identity.WithMaxSkew(-time.Second)}},
		{"huge skew", []identity.Issuer{{URL: "https://a.example", Type: identity.TypeEmail}}, []identity.Option{identity.WithMaxSkew(time.Hour)}},
		{"nil clock", []identity.Issuer{{URL: "https://a.example", Type: identity.TypeEmail}}, []identity.Option{identity.WithClock(nil)}},
		{"nil client", []identity.Issuer{{URL: "https://a.example", Type: identity.TypeEmail}}, []identity.Option{identity.WithHTTPClient(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := identity.NewVerifier(t.Context(), tt.issuers, tt.opts...); err == nil {
				t.Error("NewVerifier succeeded, want an error")
			}
		})
	}
}

func TestIssuers(t *testing.T) {
	in := []identity.Issuer{{URL: "https://a.example", Type: identity.TypeEmail}, {URL: "https://b.example", Type: identity.TypeGitHubWorkflow, ClientID: "x"}}
	v, err := identity.NewVerifier(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, v.Issuers()); diff != "" {
		t.Errorf("Issuers (-want +got):\n%s", diff)
	}
	if got := in[0].ChallengeClaim(); got != "email" {
		t.Errorf("email issuer challenge claim %q, want email", got)
	}
	if got := in[1].ChallengeClaim(); got != "sub" {
		t.Errorf("github issuer challenge claim %q, want sub", got)
	}
}

// clock is a settable clock for tests that step past refresh intervals.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestUnknownKeyRefreshIsRateLimited(t *testing.T) {
	clk := &clock{now: time.Now().Truncate(time.Second)}
	dev := startDevIssuer(t, clk.Now)
	// Tokens of an impostor with the issuer's URL name a key the issuer
	// does not publish: each would make go-oidc fetch the key set again.
	impostor, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: dev.URL(), Now: clk.Now})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{{URL: dev.URL(), Type: identity.TypeEmail}},
		identity.WithHTTPClient(dev.srv.Client()), identity.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	good := dev.mint(t, "alice@example.com", "", time.Hour, nil)
	if _, err := v.Verify(t.Context(), good); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	bad, err := impostor.Mint("mallory@example.com", "", time.Hour, nil)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}

	limited := 0
	for i := range 200 {
		_, err := v.Verify(t.Context(), bad)
		switch {
		case errors.Is(err, identity.ErrUnavailable) && strings.Contains(err.Error(), "fetched less than"):
			limited++
		case errors.Is(err, identity.ErrInvalidToken) && strings.Contains(err.Error(), "signature"):
			// go-oidc handed it the result of the good token's fetch,
			// still in flight.
		default:
			t.Fatalf("Verify %d of an unknown key right after a fetch: got %v, want ErrUnavailable saying the key set was fetched less than %s ago", i, err, identity.KeyRefreshInterval)
		}
	}
	if limited == 0 {
		t.Errorf("got no refusal for a recent fetch, want most of 200")
	}
	if got := dev.jwks.Load(); got != 1 {
		t.Fatalf("200 tokens with an unknown key right after a fetch: got %d key set fetches in all, want 1", got)
	}
	// Tokens of known keys verify meanwhile, without a fetch.
	if _, err := v.Verify(t.Context(), good); err != nil {
		t.Fatalf("Verify of a known key while refreshes wait: %v", err)
	}

	clk.Add(identity.KeyRefreshInterval)
	refreshed := false
	for i := range 200 {
		_, err := v.Verify(t.Context(), bad)
		switch {
		case errors.Is(err, identity.ErrInvalidToken) && strings.Contains(err.Error(), "signature"):
			refreshed = true // checked against a fresh key set
		case errors.Is(err, identity.ErrUnavailable):
		default:
			t.Fatalf("Verify %d of the impostor's token after the interval: got %v, want ErrInvalidToken or ErrUnavailable", i, err)
		}
	}
	if !refreshed {
		t.Errorf("no Verify of the impostor's token after the interval was checked against a fresh key set")
	}
	if got := dev.jwks.Load(); got != 2 {
		t.Errorf("200 more tokens with an unknown key after the interval: got %d key set fetches in all, want 2", got)
	}

	// A real key rotation: the new key's tokens verify once a refresh is
	// allowed.
	rotated, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: dev.URL(), Now: clk.Now})
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	dev.serving.Store(rotated)
	tok, err := rotated.Mint("alice@example.com", "", time.Hour, nil)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, identity.ErrUnavailable) {
		t.Fatalf("Verify of the rotated key within the interval: got %v, want ErrUnavailable", err)
	}
	clk.Add(identity.KeyRefreshInterval)
	if err := verifySoon(t, v, tok); err != nil {
		t.Fatalf("Verify of the rotated key after the interval: %v", err)
	}
}

func TestFailedDiscoveryRetryIsRateLimited(t *testing.T) {
	clk := &clock{now: time.Now().Truncate(time.Second)}
	dev := startDevIssuer(t, clk.Now)
	dev.down.Store(true)
	v, err := identity.NewVerifier(t.Context(), []identity.Issuer{{URL: dev.URL(), Type: identity.TypeEmail}},
		identity.WithHTTPClient(dev.srv.Client()), identity.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	tok := dev.mint(t, "alice@example.com", "", time.Hour, nil)
	for i := range 100 {
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, identity.ErrUnavailable) {
			t.Fatalf("Verify %d while the issuer is down: got %v, want ErrUnavailable", i, err)
		}
	}
	if got := dev.discovery.Load(); got != 1 {
		t.Fatalf("100 tokens while discovery fails: got %d discovery fetches, want 1", got)
	}
	dev.down.Store(false)
	clk.Add(identity.KeyRefreshInterval)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify once the issuer is back and the interval is over: %v", err)
	}
}
