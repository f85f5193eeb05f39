package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"hallmark.dev/internal/jsonstrict"
)

// Verifier verifies ID tokens from an allow-list of issuers.
type Verifier struct {
	issuers map[string]*issuerState
	order   []Issuer
	client  *http.Client
	now     func() time.Time
	skew    time.Duration
	// baseCtx supplies values to go-oidc's background key fetches.
	baseCtx context.Context
}

// issuerState is one issuer and its lazily discovered go-oidc verifier.
type issuerState struct {
	cfg Issuer
	mu  sync.Mutex
	ov  *oidc.IDTokenVerifier
	// discovery spaces out attempts at discovery after a failed one; keys
	// spaces out fetches of the key set, which go-oidc makes whenever a
	// token names a key it has not cached or fails to verify.
	discovery, keys *fetchLimiter
}

// Option configures a Verifier.
type Option func(*Verifier) error

// WithHTTPClient sets the client for discovery and key fetches; the default
// is a client with a 30 second timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(v *Verifier) error {
		if c == nil {
			return errors.New("identity: nil HTTP client")
		}
		v.client = c
		return nil
	}
}

// WithClock sets the clock exp, nbf and iat are checked against.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) error {
		if now == nil {
			return errors.New("identity: nil clock")
		}
		v.now = now
		return nil
	}
}

// KeyRefreshInterval is the shortest time between two fetches of an
// issuer's key set, and between two attempts at its discovery document
// after a failed one.
const KeyRefreshInterval = 10 * time.Second

// DefaultMaxSkew is the clock skew tolerated by default.
const DefaultMaxSkew = time.Minute

// maxSkewLimit bounds WithMaxSkew: more would make exp meaningless.
const maxSkewLimit = 10 * time.Minute

// WithMaxSkew sets the clock skew tolerated on exp, nbf and iat (default
// DefaultMaxSkew, at most 10 minutes).
func WithMaxSkew(d time.Duration) Option {
	return func(v *Verifier) error {
		if d < 0 || d > maxSkewLimit {
			return fmt.Errorf("identity: max skew %s out of range [0, %s]", d, maxSkewLimit)
		}
		v.skew = d
		return nil
	}
}

// NewVerifier returns a verifier trusting issuers. Nothing is fetched yet:
// each issuer's discovery document is fetched at its first token, and its
// keys when a token names a key not yet cached, at most once per
// KeyRefreshInterval per issuer (a token that needs a fetch sooner is
// refused with ErrUnavailable). ctx supplies values (not cancellation) to
// those background key fetches.
func NewVerifier(ctx context.Context, issuers []Issuer, opts ...Option) (*Verifier, error) {
	if len(issuers) == 0 {
		return nil, errors.New("identity: no issuers")
	}
	v := &Verifier{
		issuers: make(map[string]*issuerState, len(issuers)),
		client:  &http.Client{Timeout: 30 * time.Second},
		now:     time.Now,
		skew:    DefaultMaxSkew,
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	for _, iss := range issuers {
		if err := checkIssuer(iss); err != nil {
			return nil, err
		}
		if _, dup := v.issuers[iss.URL]; dup {
			return nil, fmt.Errorf("identity: issuer %q listed twice", iss.URL)
		}
		v.issuers[iss.URL] = &issuerState{
			cfg:       iss,
			discovery: &fetchLimiter{every: KeyRefreshInterval, now: v.now},
			keys:      &fetchLimiter{every: KeyRefreshInterval, now: v.now},
		}
		v.order = append(v.order, iss)
	}
	v.baseCtx = context.WithoutCancel(ctx)
	return v, nil
}

func checkIssuer(iss Issuer) error {
	if err := checkHTTPURL(iss.URL); err != nil {
		return fmt.Errorf("identity: issuer URL %q: %w", iss.URL, err)
	}
	switch iss.Type {
	case TypeEmail, TypeGitHubWorkflow, TypeGitLabPipeline, TypeKubernetes:
	case TypeURI:
		if iss.SubjectDomain != "" {
			if err := checkHTTPURL(iss.SubjectDomain); err != nil {
				return fmt.Errorf("identity: issuer %q: subject domain %q: %w", iss.URL, iss.SubjectDomain, err)
			}
		}
	default:
		return fmt.Errorf("identity: issuer %q: unknown type %q", iss.URL, iss.Type)
	}
	if iss.ServerURL != "" {
		if err := checkHTTPURL(iss.ServerURL); err != nil {
			return fmt.Errorf("identity: issuer %q: server URL %q: %w", iss.URL, iss.ServerURL, err)
		}
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "":
		return errors.New("no host")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("must not have user info, query or fragment")
	}
	return nil
}

// Issuers returns the allow-list, in the order given to NewVerifier.
func (v *Verifier) Issuers() []Issuer { return slices.Clone(v.order) }

// maxTokenSize bounds the tokens Verify looks at; real ID tokens are a few
// kilobytes.
const maxTokenSize = 32 << 10

// Verify checks rawToken's signature against its issuer's published keys,
// then its audience and validity period, and maps its claims to a
// Principal per the issuer's type. Errors wrap one of the package's
// sentinels.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Principal, error) {
	if len(rawToken) > maxTokenSize {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, maxTokenSize)
	}
	iss, err := unverifiedIssuer(rawToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	st, ok := v.issuers[iss]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a trusted issuer", ErrUnknownIssuer, clip(iss))
	}
	ov, err := st.verifier(ctx, v)
	if err != nil {
		return nil, err
	}
	tok, err := ov.Verify(ctx, rawToken)
	if err != nil {
		// go-oidc flattens its errors with %v; a failed key fetch is told
		// apart by its message only. Should that message change, such
		// failures fall back to ErrInvalidToken: still a refusal.
		if strings.Contains(err.Error(), "fetching keys") {
			return nil, fmt.Errorf("%w: %q: %v", ErrUnavailable, iss, err)
		}
		return nil, fmt.Errorf("%w: issuer %q: %v", ErrInvalidToken, iss, err)
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, fmt.Errorf("%w: issuer %q: claims: %v", ErrInvalidToken, iss, err)
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: issuer %q: %v", ErrInvalidToken, iss, err)
	}
	if err := v.checkClaims(st.cfg, c); err != nil {
		return nil, err
	}
	return principalFromClaims(st.cfg, c)
}

// verifier returns the issuer's go-oidc verifier, running discovery on
// first use; a failed discovery is retried at a token that comes
// KeyRefreshInterval after it or later.
func (st *issuerState) verifier(ctx context.Context, v *Verifier) (*oidc.IDTokenVerifier, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ov != nil {
		return st.ov, nil
	}
	if err := st.discovery.allow("discovery document"); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrUnavailable, st.cfg.URL, err)
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), st.cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: discovery: %v", ErrUnavailable, st.cfg.URL, err)
	}
	// go-oidc fetches the key set in the background, through a client
	// that refuses more than one fetch per KeyRefreshInterval: a flood of
	// tokens naming unknown keys costs the issuer one fetch.
	keyClient := *v.client
	keyClient.Transport = &limitedTransport{next: v.client.Transport, limit: st.keys}
	keyCtx := oidc.ClientContext(v.baseCtx, &keyClient)
	// go-oidc checks the signature and iss; audience and times are checked
	// by checkClaims, with this package's skew and sentinels.
	st.ov = p.VerifierContext(keyCtx, &oidc.Config{
		SkipClientIDCheck: true,
		SkipExpiryCheck:   true,
		Now:               v.now,
	})
	return st.ov, nil
}

// fetchLimiter allows one fetch per interval.
type fetchLimiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last time.Time // of the last fetch allowed; zero if none
}

// allow records a fetch of what, or refuses it if the last one was less
// than the interval ago.
func (l *fetchLimiter) allow(what string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		if since := now.Sub(l.last); since >= 0 && since < l.every {
			return fmt.Errorf("%s fetched less than %s ago; next fetch in %s", what, l.every, (l.every - since).Round(time.Millisecond))
		}
	}
	l.last = now
	return nil
}

// limitedTransport sends a request only if its limiter allows a fetch;
// the redirects a fetch follows are part of it.
type limitedTransport struct {
	next  http.RoundTripper // nil means http.DefaultTransport
	limit *fetchLimiter
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Response == nil {
		if err := t.limit.allow("key set"); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, fmt.Errorf("identity: %w", err)
		}
	}
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

// unverifiedIssuer reads the iss claim of a compact JWS without verifying
// it, to pick the issuer whose keys verify it.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("not a compact JWS: want 3 dot-separated parts")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("payload: %v", err)
	}
	var c struct {
		Iss *string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fmt.Errorf("payload: %v", err)
	}
	if c.Iss == nil || *c.Iss == "" {
		return "", errors.New("no iss claim")
	}
	return *c.Iss, nil
}

// claims is a token's decoded claim set; numbers stay json.Number.
type claims map[string]any

func decodeClaims(payload []byte) (claims, error) {
	var c claims
	if err := jsonstrict.Unmarshal(payload, &c, jsonstrict.Rules{UseNumber: true}); err != nil {
		return nil, fmt.Errorf("claims: %v", err)
	}
	if c == nil {
		return nil, errors.New("claims: not an object")
	}
	return c, nil
}

// checkClaims checks audience, exp, nbf and iat.
func (v *Verifier) checkClaims(iss Issuer, c claims) error {
	aud, err := c.audience()
	if err != nil {
		return fmt.Errorf("%w: issuer %q: %v", ErrInvalidToken, iss.URL, err)
	}
	if !slices.Contains(aud, iss.clientID()) {
		return fmt.Errorf("%w: issuer %q: aud %q does not contain %q", ErrAudience, iss.URL, clipAll(aud), iss.clientID())
	}
	now := v.now()
	exp, ok, err := c.numericDate("exp")
	switch {
	case err != nil:
		return fmt.Errorf("%w: issuer %q: %v", ErrInvalidToken, iss.URL, err)
	case !ok:
		return fmt.Errorf("%w: issuer %q: no exp claim", ErrInvalidToken, iss.URL)
	case now.After(exp.Add(v.skew)):
		return fmt.Errorf("%w: issuer %q: exp %s is before now %s (skew %s)", ErrExpired, iss.URL, exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.skew)
	}
	nbf, ok, err := c.numericDate("nbf")
	switch {
	case err != nil:
		return fmt.Errorf("%w: issuer %q: %v", ErrInvalidToken, iss.URL, err)
	case ok && now.Add(v.skew).Before(nbf):
		return fmt.Errorf("%w: issuer %q: not valid before nbf %s (now %s, skew %s)", ErrInvalidToken, iss.URL, nbf.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.skew)
	}
	iat, ok, err := c.numericDate("iat")
	switch {
	case err != nil:
		return fmt.Errorf("%w: issuer %q: %v", ErrInvalidToken, iss.URL, err)
	case ok && now.Add(v.skew).Before(iat):
		return fmt.Errorf("%w: issuer %q: iat %s is in the future (now %s, skew %s)", ErrInvalidToken, iss.URL, iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.skew)
	}
	return nil
}

// audience returns aud, a string or an array of strings (RFC 7519 4.1.3).
func (c claims) audience() ([]string, error) {
	switch a := c["aud"].(type) {
	case nil:
		return nil, errors.New("no aud claim")
	case string:
		return []string{a}, nil
	case []any:
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("aud claim: element of type %T", e)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("aud claim: type %T", a)
	}
}

// numericDate returns a NumericDate claim (RFC 7519 section 2).
func (c claims) numericDate(name string) (time.Time, bool, error) {
	raw, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := raw.(json.Number)
	if !ok {
		return time.Time{}, false, fmt.Errorf("%s claim: type %T, want a number", name, raw)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, false, fmt.Errorf("%s claim: %q is not a usable NumericDate", name, clip(n.String()))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// clip shortens attacker-controlled strings quoted in errors and logs.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

func clipAll(ss []string) []string {
	const max = 8
	out := make([]string, 0, min(len(ss), max))
	for i, s := range ss {
		if i == max {
			out = append(out, "…")
			break
		}
		out = append(out, clip(s))
	}
	return out
}
