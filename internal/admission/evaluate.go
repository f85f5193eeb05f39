package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/singleflight"
)

// NoMatch says what to do with an image no policy matches.
type NoMatch string

// The answers for images no policy matches (policy-controller's
// no-match-policy).
const (
	NoMatchDeny  NoMatch = "deny"
	NoMatchWarn  NoMatch = "warn"
	NoMatchAllow NoMatch = "allow"
)

// ParseNoMatch parses deny, warn or allow.
func ParseNoMatch(s string) (NoMatch, error) {
	switch n := NoMatch(s); n {
	case NoMatchDeny, NoMatchWarn, NoMatchAllow:
		return n, nil
	}
	return "", fmt.Errorf("no-match answer %q: want deny, warn or allow", s)
}

// Credentials finds the registry credentials a workload pulls with.
type Credentials interface {
	// Keychain returns the credentials of the pull secrets, and of the
	// image pull secrets of the service account, in namespace (as the
	// kubelet uses them); serviceAccount may be empty.
	Keychain(ctx context.Context, namespace, serviceAccount string, pullSecrets []string) (authn.Keychain, error)
}

// EngineConfig configures an [Engine].
type EngineConfig struct {
	// NoMatch is the answer for images no policy matches; empty means
	// deny.
	NoMatch NoMatch
	// Namespace is the webhook's own: what is created there is never
	// checked, so that a broken policy cannot lock the cluster out of
	// fixing it.
	Namespace string
	// Credentials finds pull credentials; nil means anonymous.
	Credentials Credentials
	// RegistryTimeout bounds each registry request.
	RegistryTimeout time.Duration
	// AllowHTTP permits plain HTTP to registries not on loopback.
	AllowHTTP bool
	// Transport is the registry transport; nil means a new one.
	Transport http.RoundTripper
	// CacheSize bounds the verdict cache (entries); CacheTTL is how long a
	// verdict is reused. Zero means the defaults.
	CacheSize int
	CacheTTL  time.Duration
	// TagCacheSize bounds the tag cache (entries); TagCacheTTL is how long
	// the digest a tag was resolved to is reused by the mutating webhook,
	// per (credentials, reference): a tag moved is seen within it. Zero
	// means the defaults; a negative TagCacheTTL resolves every tag at
	// every admission.
	TagCacheSize int
	TagCacheTTL  time.Duration
	// Now is the clock (gate attestation ages); nil means time.Now.
	Now func() time.Time
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// Metrics, if set, counts requests, verdicts and cache hits.
	Metrics *Metrics
}

// Defaults of [EngineConfig].
const (
	DefaultCacheSize       = 10000
	DefaultCacheTTL        = 10 * time.Minute
	DefaultRegistryTimeout = 5 * time.Second
	DefaultTagCacheSize    = 10000
	DefaultTagCacheTTL     = 30 * time.Second
)

// Engine decides whether images may be admitted, under the current
// policies.
type Engine struct {
	cfg      EngineConfig
	policies atomic.Pointer[Policies]
	reg      *registry
	cache    *verdictCache
	tags     *tagCache // nil: tags are resolved at every admission
	flight   singleflight.Group
}

// NewEngine returns an engine with no policies.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.NoMatch == "" {
		cfg.NoMatch = NoMatchDeny
	}
	if cfg.RegistryTimeout <= 0 {
		cfg.RegistryTimeout = DefaultRegistryTimeout
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.TagCacheSize <= 0 {
		cfg.TagCacheSize = DefaultTagCacheSize
	}
	if cfg.TagCacheTTL == 0 {
		cfg.TagCacheTTL = DefaultTagCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch cfg.NoMatch {
	case NoMatchDeny, NoMatchWarn, NoMatchAllow:
	default:
		return nil, fmt.Errorf("no-match answer %q: want deny, warn or allow", cfg.NoMatch)
	}
	cache, err := newVerdictCache(cfg.CacheSize, cfg.CacheTTL, cfg.Now)
	if err != nil {
		return nil, err
	}
	tags, err := newTagCache(cfg.TagCacheSize, cfg.TagCacheTTL, cfg.Now)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, reg: newRegistry(cfg.RegistryTimeout, cfg.AllowHTTP, cfg.Transport), cache: cache, tags: tags}
	e.policies.Store(&Policies{})
	return e, nil
}

// SetPolicies replaces the policies; requests in flight finish under the
// old ones.
func (e *Engine) SetPolicies(p *Policies) { e.policies.Store(p) }

// Policies returns the current policies.
func (e *Engine) Policies() *Policies { return e.policies.Load() }

// resource is what is admitted, as policies see it.
type resource struct {
	group, version, resource string
	namespace                string
	labels                   map[string]string
	// spec, objectMeta and typeMeta are given to policies that include
	// them.
	spec, objectMeta, typeMeta json.RawMessage
}

// request is one admission decision in progress: its resource, its
// credentials and what it fetched, shared by the policies it runs.
type request struct {
	res      resource
	keychain authn.Keychain
	memo     sync.Map // fetchKey -> *fetchOnce
}

type fetchKey struct {
	repo, digest string
	attestations bool
	secrets      string
}

type fetchOnce struct {
	once sync.Once
	f    *fetched
	err  error
}

func (r *request) fetch(ctx context.Context, s *session, k fetchKey) (*fetched, error) {
	v, _ := r.memo.LoadOrStore(k, &fetchOnce{})
	fo := v.(*fetchOnce)
	fo.once.Do(func() { fo.f, fo.err = s.fetch(ctx, k.repo, k.digest, k.attestations) })
	return fo.f, fo.err
}

// verdict is one policy's decision on one image.
type verdict struct {
	Passed   bool
	Reasons  []string // why it failed
	Warnings []string
	// transient marks a failure that may go away by itself (a registry
	// that did not answer); it is not cached.
	transient bool
}

// imageResult is the decision on one image.
type imageResult struct {
	denials  []string
	warnings []string
}

// checkImage decides on one pinned image (repository@sha256:…): every
// policy that matches it must pass.
func (e *Engine) checkImage(ctx context.Context, req *request, field, image string) imageResult {
	var out imageResult
	ps := e.policies.Load()
	var matched []*Policy
	for _, p := range ps.list {
		if p.matches(image, req.res) {
			matched = append(matched, p)
		}
	}
	if len(matched) == 0 {
		msg := fmt.Sprintf("image %s (%s): no matching policies", image, field)
		switch e.cfg.NoMatch {
		case NoMatchAllow:
		case NoMatchWarn:
			out.warnings = append(out.warnings, msg)
		default:
			out.denials = append(out.denials, msg)
		}
		return out
	}
	verdicts := make([]verdict, len(matched))
	var wg sync.WaitGroup
	for i, p := range matched {
		wg.Go(func() { verdicts[i] = e.policyVerdict(ctx, req, p, image) })
	}
	wg.Wait()
	for i, v := range verdicts {
		p := matched[i]
		for _, w := range v.Warnings {
			out.warnings = append(out.warnings, fmt.Sprintf("image %s (%s): policy %s: %s", image, field, p.Name, w))
		}
		if v.Passed {
			continue
		}
		msg := fmt.Sprintf("image %s (%s) failed policy %s: %s", image, field, p.Name, strings.Join(v.Reasons, "; "))
		if p.Mode == "warn" {
			out.warnings = append(out.warnings, msg)
		} else {
			out.denials = append(out.denials, msg)
		}
	}
	return out
}

// policyVerdict is the policy's verdict on the image, from the cache when
// it is there.
func (e *Engine) policyVerdict(ctx context.Context, req *request, p *Policy, image string) verdict {
	if p.Err != nil {
		return verdict{Reasons: []string{"policy cannot be used: " + p.Err.Error()}}
	}
	d, err := name.NewDigest(image)
	if err != nil {
		return verdict{Reasons: []string{err.Error()}}
	}
	// The repository is part of the key: signatures are looked up where
	// the workload pulls from, so a digest named in a repository without
	// them must not fail (nor pass) the same digest elsewhere.
	key := d.Context().Name() + "@" + d.DigestStr() + "\x00" + p.Name + "\x00" + p.Generation
	cacheable := !p.include.spec && !p.include.objectMeta && !p.include.typeMeta
	if cacheable {
		if v, ok := e.cache.get(key); ok {
			e.cfg.Metrics.cacheHit()
			return v
		}
		e.cfg.Metrics.cacheMiss()
	}
	compute := func() verdict {
		v := e.compute(ctx, req, p, d)
		if cacheable && !v.transient {
			e.cache.put(key, v, p.timeBound)
		}
		return v
	}
	if !cacheable {
		return compute()
	}
	// Concurrent requests for the same image and policy share one
	// verification. Credentials differ between namespaces, so they are
	// part of the key: a namespace that cannot pull an image does not
	// wait on, nor profit from, another's fetch in flight (a cached
	// verdict is shared: it says what the image is, not who may pull it).
	ch := e.flight.DoChan(key+"\x00"+req.res.namespace, func() (any, error) { return compute(), nil })
	select {
	case r := <-ch:
		return r.Val.(verdict)
	case <-ctx.Done():
		return verdict{Reasons: []string{fmt.Sprintf("verification did not finish in the webhook's time (is registry %s slow or unreachable?)", d.RegistryStr())}, transient: true}
	}
}

// authorityResult is one authority's outcome.
type authorityResult struct {
	name   string
	match  *authorityMatch
	err    error
	warned []string
}

// authorityMatch is what policy-controller reports to a
// ClusterImagePolicy-level policy for an authority that passed.
type authorityMatch struct {
	Signatures   []policySignature              `json:"signatures,omitempty"`
	Attestations map[string][]policyAttestation `json:"attestations,omitempty"`
	Static       bool                           `json:"static,omitempty"`
}

type policySignature struct {
	ID                 string `json:"id,omitempty"`
	Subject            string `json:"subject,omitempty"`
	Issuer             string `json:"issuer,omitempty"`
	GithubWorkflowRepo string `json:"githubWorkflowRepo,omitempty"`
}

type policyAttestation struct {
	policySignature
	PredicateType string `json:"predicateType,omitempty"`
	Digest        string `json:"digest,omitempty"`
}

func toPolicySignature(s signer) policySignature {
	return policySignature{ID: s.ID, Subject: s.Subject, Issuer: s.Issuer, GithubWorkflowRepo: s.Repo}
}

// compute verifies the image under the policy: one authority must pass,
// then the policy-level policy, if any.
func (e *Engine) compute(ctx context.Context, req *request, p *Policy, d name.Digest) verdict {
	results := make([]authorityResult, len(p.authorities))
	var wg sync.WaitGroup
	for i, a := range p.authorities {
		wg.Go(func() { results[i] = e.checkAuthority(ctx, req, a, d) })
	}
	wg.Wait()
	var v verdict
	matches := map[string]authorityMatch{}
	for _, r := range results {
		v.Warnings = append(v.Warnings, r.warned...)
		if r.err != nil {
			v.Reasons = append(v.Reasons, fmt.Sprintf("authority %s: %v", r.name, r.err))
			v.transient = v.transient || isTransient(r.err)
			continue
		}
		matches[r.name] = *r.match
	}
	if len(matches) == 0 {
		if len(p.authorities) == 0 {
			v.Reasons = append(v.Reasons, "the policy has no authorities")
		}
		return v
	}
	// One authority passed: the others' failures do not count.
	v.Reasons, v.transient = nil, false
	if p.policy == nil {
		v.Passed = true
		return v
	}
	in := struct {
		AuthorityMatches map[string]authorityMatch `json:"authorityMatches,omitempty"`
		Config           json.RawMessage           `json:"config,omitempty"`
		Spec             json.RawMessage           `json:"spec,omitempty"`
		ObjectMeta       json.RawMessage           `json:"metadata,omitempty"`
		TypeMeta         json.RawMessage           `json:"typemeta,omitempty"`
	}{AuthorityMatches: matches}
	if p.include.spec {
		in.Spec = req.res.spec
	}
	if p.include.objectMeta {
		in.ObjectMeta = req.res.objectMeta
	}
	if p.include.typeMeta {
		in.TypeMeta = req.res.typeMeta
	}
	if p.include.config {
		cfg, err := e.configFiles(ctx, req, d)
		if err != nil {
			return verdict{Reasons: []string{"fetching the image config for the policy: " + err.Error()}, transient: isTransient(err)}
		}
		in.Config = cfg
	}
	input, err := json.Marshal(in)
	if err != nil {
		return verdict{Reasons: []string{err.Error()}}
	}
	out, err := p.policy.Evaluate(ctx, input)
	if out.Warning != "" {
		v.Warnings = append(v.Warnings, out.Warning)
	}
	switch {
	case err != nil:
		return verdict{Reasons: []string{err.Error()}, Warnings: v.Warnings, transient: isTransient(err)}
	case !out.Passed:
		return verdict{Reasons: []string{out.Reason}, Warnings: v.Warnings}
	}
	v.Passed = true
	return v
}

func (e *Engine) checkAuthority(ctx context.Context, req *request, a *authority, d name.Digest) authorityResult {
	r := authorityResult{name: a.name}
	switch {
	case a.static != nil && a.static.Action == "pass":
		r.match = &authorityMatch{Static: true}
		return r
	case a.static != nil:
		r.err = fmt.Errorf("disallowed by static policy: %s", a.static.Message)
		return r
	case a.err != nil:
		r.err = a.err
		return r
	}
	kc := req.keychain
	secrets := ""
	if len(a.pullSecrets) > 0 {
		if e.cfg.Credentials == nil {
			r.err = errors.New("signaturePullSecrets: no Secrets to read")
			return r
		}
		var err error
		if kc, err = e.cfg.Credentials.Keychain(ctx, req.res.namespace, "", a.pullSecrets); err != nil {
			r.err = fmt.Errorf("signaturePullSecrets: %w", err)
			return r
		}
		secrets = strings.Join(a.pullSecrets, ",")
	}
	s := e.reg.session(kc)
	repo := d.Context().Name()
	if a.sigRepo != "" {
		repo = a.sigRepo
	}
	digest := d.DigestStr()
	if len(a.wanted) == 0 {
		f, err := req.fetch(ctx, s, fetchKey{repo: repo, digest: digest, secrets: secrets})
		if err != nil {
			r.err = err
			return r
		}
		sigs, err := a.check.checkSignatures(digest, f)
		if err != nil {
			r.err = fmt.Errorf("signature check failed: %w", err)
			return r
		}
		r.match = &authorityMatch{}
		for _, s := range sigs {
			r.match.Signatures = append(r.match.Signatures, toPolicySignature(s))
		}
		return r
	}
	m := &authorityMatch{Attestations: map[string][]policyAttestation{}}
	for _, w := range a.wanted {
		f, err := req.fetch(ctx, s, fetchKey{repo: repo, digest: digest, attestations: true, secrets: secrets})
		if err != nil {
			r.err = fmt.Errorf("attestation %s (%s) check failed: %w", w.name, w.predicateType, err)
			return r
		}
		sts, warnings, err := a.check.checkAttestations(ctx, w.name, d.String(), digest, f, w.predicateType, w.checks, e.cfg.Now())
		for _, warning := range warnings {
			r.warned = append(r.warned, fmt.Sprintf("attestation %s: %s", w.name, warning))
		}
		if err != nil {
			r.err = err
			return r
		}
		passed := make([]policyAttestation, len(sts))
		for i, st := range sts {
			passed[i] = policyAttestation{policySignature: toPolicySignature(st.signer), PredicateType: st.PredicateType, Digest: digest}
		}
		m.Attestations[w.name] = passed
	}
	r.match = m
	return r
}

// sortedUnique sorts and removes repeats.
func sortedUnique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
