package admission

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"hallmark.dev/internal/admission/cip"
)

// Policy is a ClusterImagePolicy compiled for admission: its keys read,
// its trust roots parsed, its cue and rego policies compiled. A policy
// that could not be compiled keeps the reason in Err: every image it
// matches is denied with it (its globs still apply).
type Policy struct {
	Name string
	// Generation changes whenever the policy or anything it refers to
	// (Secrets, ConfigMaps, TrustRoots) changes; verdicts are cached
	// under it.
	Generation string
	Mode       string // enforce or warn
	Err        error

	globs       []*cip.Glob
	match       []matcher
	authorities []*authority
	policy      *cip.CompiledPolicy
	include     struct{ spec, objectMeta, typeMeta, config bool }
	// timeBound: the verdict depends on the time (a gate attestation's
	// maximum age), so a passing one is kept no longer than a failing one.
	timeBound bool
}

type matcher struct {
	group, version, resource string
	selector                 labels.Selector
}

type authority struct {
	name        string
	static      *cip.StaticRef
	check       *checker
	err         error
	sigRepo     string
	pullSecrets []string
	wanted      []*wantedAttestation
}

type wantedAttestation struct {
	name          string
	predicateType string
	// checks are hallmark's requirements that apply and the cue or rego
	// policy.
	checks attestationChecks
}

// Resolver reads the objects policies refer to, in the webhook's
// namespace, with the version of each for the policy's generation.
type Resolver interface {
	Secret(name string) (data map[string][]byte, version string, err error)
	ConfigMap(name string) (data map[string]string, version string, err error)
}

// Policies is a compiled set of policies, immutable once built.
type Policies struct {
	list []*Policy
}

// Len returns the number of policies.
func (p *Policies) Len() int {
	if p == nil {
		return 0
	}
	return len(p.list)
}

// Get returns the named policy, or nil.
func (p *Policies) Get(name string) *Policy {
	if p == nil {
		return nil
	}
	for _, pol := range p.list {
		if pol.Name == name {
			return pol
		}
	}
	return nil
}

// BrokenPolicy is a ClusterImagePolicy that does not parse: it applies to
// the images of its globs, if they could be read, or to every image, and
// denies them with the reason.
type BrokenPolicy struct {
	Name  string
	Globs []string
	Err   error
}

// CompileInput is what policies are compiled from.
type CompileInput struct {
	Policies   []*cip.ClusterImagePolicy
	Broken     []BrokenPolicy
	TrustRoots []*cip.TrustRoot
	Resolver   Resolver
	// Namespace is the webhook's: secretRef namespaces must name it.
	Namespace string
	// DefaultTrust is the trusted_root.json content of the roots the
	// webhook was started with (--trusted-root): the trust of keyless
	// authorities and logs that name no TrustRoot.
	DefaultTrust [][]byte
}

// Compile compiles the policies. It never fails: a policy that cannot be
// compiled is kept with the reason (Policy.Err).
func Compile(in CompileInput) *Policies {
	trust := map[string]*compiledTrust{}
	for _, tr := range in.TrustRoots {
		ct := &compiledTrust{version: string(tr.UID) + "/" + tr.ResourceVersion}
		j, err := tr.TrustedRootJSON()
		if err == nil {
			ct.tm, err = parseTrust(j)
		}
		ct.err = err
		trust[tr.Name] = ct
	}
	c := &compiler{in: in, trust: trust}
	for _, data := range in.DefaultTrust {
		tm, err := parseTrust(data)
		if err != nil {
			c.defaultErr = fmt.Errorf("the webhook's trusted root: %w", err)
			break
		}
		c.defaultTrust = combineTrust(c.defaultTrust, tm)
	}
	out := &Policies{}
	for _, p := range in.Policies {
		out.list = append(out.list, c.compile(p))
	}
	for _, b := range in.Broken {
		p := &Policy{Name: b.Name, Mode: "enforce", Err: fmt.Errorf("does not parse: %w", b.Err)}
		for _, g := range b.Globs {
			if cg, err := cip.CompileGlob(g); err == nil {
				p.globs = append(p.globs, cg)
			}
		}
		if len(p.globs) == 0 {
			p.globs = []*cip.Glob{matchAll}
		}
		out.list = append(out.list, p)
	}
	sort.Slice(out.list, func(i, j int) bool { return out.list[i].Name < out.list[j].Name })
	return out
}

// matchAll matches every image.
var matchAll = func() *cip.Glob {
	g, err := cip.CompileGlob("**")
	if err != nil {
		panic(err) // a constant glob
	}
	return g
}()

type compiledTrust struct {
	version string
	tm      *trustMaterial
	err     error
}

type compiler struct {
	in           CompileInput
	trust        map[string]*compiledTrust
	defaultTrust *trustMaterial
	defaultErr   error
	// versions lists what the policy being compiled refers to.
	versions []string
}

func (c *compiler) compile(src *cip.ClusterImagePolicy) *Policy {
	src.SetDefaults()
	c.versions = []string{string(src.UID) + "/" + src.ResourceVersion}
	p := &Policy{Name: src.Name, Mode: src.Spec.Mode}
	if p.Mode == "" {
		p.Mode = "enforce"
	}
	defer func() {
		h := sha256.Sum256([]byte(strings.Join(c.versions, "\n")))
		p.Generation = hex.EncodeToString(h[:8])
	}()
	for _, im := range src.Spec.Images {
		g, err := cip.CompileGlob(im.Glob)
		if err != nil {
			p.Err = fmt.Errorf("glob %q: %w", im.Glob, err)
			continue
		}
		p.globs = append(p.globs, g)
	}
	if p.Err != nil {
		return p
	}
	if _, err := src.Validate(cip.Options{}); err != nil {
		p.Err = err
		return p
	}
	for _, m := range src.Spec.Match {
		mm := matcher{group: m.Group, version: m.Version, resource: m.Resource, selector: labels.Everything()}
		if m.ResourceSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(m.ResourceSelector)
			if err != nil {
				p.Err = fmt.Errorf("match selector: %w", err)
				return p
			}
			mm.selector = sel
		}
		p.match = append(p.match, mm)
	}
	reqs, err := parseRequirements(src.Annotations)
	if err != nil {
		p.Err = err
		return p
	}
	if err := checkRequirementsApply(reqs, src); err != nil {
		p.Err = err
		return p
	}
	for _, r := range reqs {
		p.timeBound = p.timeBound || r.annotation == AnnotationGateMaxAge
	}
	for i := range src.Spec.Authorities {
		p.authorities = append(p.authorities, c.authority(&src.Spec.Authorities[i], reqs))
	}
	if pol := src.Spec.Policy; pol != nil {
		cp, err := c.policy(src.Name, pol)
		if err != nil {
			p.Err = err
			return p
		}
		p.policy = cp
		p.include.spec = isTrue(pol.IncludeSpec)
		p.include.objectMeta = isTrue(pol.IncludeObjectMeta)
		p.include.typeMeta = isTrue(pol.IncludeTypeMeta)
		p.include.config = isTrue(pol.FetchConfigFile)
	}
	return p
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkRequirementsApply refuses hallmark annotations that no attestation
// of the policy would be checked by.
func checkRequirementsApply(reqs []requirement, src *cip.ClusterImagePolicy) error {
	var types []string
	for _, a := range src.Spec.Authorities {
		for _, w := range a.Attestations {
			types = append(types, cip.PredicateTypeURI(w.PredicateType))
		}
	}
	for _, r := range reqs {
		pts := r.predicateTypes()
		if !slices.ContainsFunc(types, func(t string) bool { return slices.Contains(pts, t) }) {
			return fmt.Errorf("annotation %s checks %s attestations, but no authority lists an attestation of predicate type %s", r.annotation, r.check.Name(), strings.Join(pts, " or "))
		}
	}
	return nil
}

// ValidateRequirements checks a ClusterImagePolicy's
// admission.hallmark.dev/ annotations, for the webhook that validates
// policies at kubectl apply.
func ValidateRequirements(src *cip.ClusterImagePolicy) error {
	r, err := parseRequirements(src.Annotations)
	if err != nil {
		return err
	}
	return checkRequirementsApply(r, src)
}

func (c *compiler) authority(a *cip.Authority, reqs []requirement) *authority {
	out := &authority{name: a.Name, static: a.Static}
	if a.Static != nil {
		return out
	}
	fail := func(err error) *authority {
		out.err = err
		return out
	}
	if len(a.Sources) == 1 {
		s := a.Sources[0]
		if s.TagPrefix != nil && *s.TagPrefix != "" {
			return fail(errors.New("source.tagPrefix is not supported: store signatures as referrers or under cosign's sha256-<hex>.sig tags"))
		}
		out.sigRepo = s.OCI
		for _, ps := range s.SignaturePullSecrets {
			out.pullSecrets = append(out.pullSecrets, ps.Name)
		}
	}
	if a.SignatureFormat != "" && a.SignatureFormat != "legacy" && a.SignatureFormat != "bundle" {
		return fail(fmt.Errorf("signatureFormat %q: want legacy or bundle", a.SignatureFormat))
	}
	var err error
	switch {
	case a.Key != nil:
		out.check, err = c.keyChecker(a)
	case a.Keyless != nil:
		out.check, err = c.keylessChecker(a)
	}
	if err != nil {
		return fail(err)
	}
	for _, w := range a.Attestations {
		wa := &wantedAttestation{name: w.Name, predicateType: cip.PredicateTypeURI(w.PredicateType)}
		var cp *cip.CompiledPolicy
		if w.Policy != nil {
			if cp, err = c.policy(w.Name, w.Policy); err != nil {
				return fail(fmt.Errorf("attestation %s: %w", w.Name, err))
			}
		}
		wa.checks = newAttestationChecks(w.Name, wa.predicateType, cp, reqs)
		out.wanted = append(out.wanted, wa)
	}
	return out
}

func (c *compiler) trustRoot(ref, field string) (*trustMaterial, error) {
	t, ok := c.trust[ref]
	if !ok {
		c.versions = append(c.versions, "trustroot "+ref+" missing")
		return nil, fmt.Errorf("%s: TrustRoot %q not found", field, ref)
	}
	c.versions = append(c.versions, "trustroot "+ref+" "+t.version)
	if t.err != nil {
		return nil, fmt.Errorf("%s: %w", field, t.err)
	}
	return t.tm, nil
}

func (c *compiler) defaults(why string) (*trustMaterial, error) {
	if c.defaultErr != nil {
		return nil, c.defaultErr
	}
	if c.defaultTrust == nil {
		return nil, fmt.Errorf("%s needs the public Sigstore trusted root: start the webhook with --trusted-root, or name a TrustRoot", why)
	}
	return c.defaultTrust, nil
}

func (c *compiler) keyChecker(a *cip.Authority) (*checker, error) {
	pubs, err := c.keys(a.Key, "key")
	if err != nil {
		return nil, err
	}
	s := keySpec{keys: pubs}
	if a.CTLog != nil {
		switch {
		case a.CTLog.TrustRootRef != "":
			if s.logs, err = c.trustRoot(a.CTLog.TrustRootRef, "ctlog.trustRootRef"); err != nil {
				return nil, err
			}
		case a.CTLog.URL != nil:
			if s.logs, err = c.defaults("ctlog.url without trustRootRef"); err != nil {
				return nil, err
			}
		}
	}
	if ts := a.RFC3161Timestamp; ts != nil && ts.TrustRootRef != "" {
		if s.timestamps, err = c.trustRoot(ts.TrustRootRef, "rfc3161timestamp.trustRootRef"); err != nil {
			return nil, err
		}
		if !s.timestamps.hasTimestampAuthorities() {
			return nil, fmt.Errorf("rfc3161timestamp.trustRootRef: TrustRoot %q lists no timestamp authority", ts.TrustRootRef)
		}
	}
	return newKeyChecker(s)
}

func (c *compiler) keylessChecker(a *cip.Authority) (*checker, error) {
	k := a.Keyless
	if k.CACert != nil {
		return nil, errors.New("keyless.ca-cert is not supported: put the CA in a TrustRoot (spec.sigstoreKeys) and name it in keyless.trustRootRef")
	}
	s := keylessSpec{identities: k.Identities, ignoreSCT: isTrue(k.InsecureIgnoreSCT)}
	var err error
	if k.TrustRootRef != "" {
		s.root, err = c.trustRoot(k.TrustRootRef, "keyless.trustRootRef")
	} else {
		s.root, err = c.defaults("a keyless authority without trustRootRef")
	}
	if err != nil {
		return nil, err
	}
	if a.CTLog != nil && a.CTLog.TrustRootRef != "" && a.CTLog.TrustRootRef != k.TrustRootRef {
		logs, err := c.trustRoot(a.CTLog.TrustRootRef, "ctlog.trustRootRef")
		if err != nil {
			return nil, err
		}
		s.root = combineTrust(s.root, logs)
	}
	if ts := a.RFC3161Timestamp; ts != nil && ts.TrustRootRef != "" {
		tsa, err := c.trustRoot(ts.TrustRootRef, "rfc3161timestamp.trustRootRef")
		if err != nil {
			return nil, err
		}
		if ts.TrustRootRef != k.TrustRootRef {
			s.root = combineTrust(s.root, tsa)
		}
		s.timestampOnly = true
	}
	return newKeylessChecker(s)
}

// keys reads the public keys of a key reference: every PEM block of its
// data, or the one entry of its Secret.
func (c *compiler) keys(k *cip.KeyRef, field string) ([]crypto.PublicKey, error) {
	data := []byte(k.Data)
	switch {
	case k.KMS != "":
		return nil, fmt.Errorf("%s.kms: KMS keys are not read by hallmark; put the public key in %s.data or a Secret (%s.secretRef)", field, field, field)
	case k.SecretRef != nil:
		if ns := k.SecretRef.Namespace; ns != "" && ns != c.in.Namespace {
			return nil, fmt.Errorf("%s.secretRef.namespace %q: the Secret must be in the webhook's namespace %q", field, ns, c.in.Namespace)
		}
		if c.in.Resolver == nil {
			return nil, fmt.Errorf("%s.secretRef: no Secrets to read", field)
		}
		sd, version, err := c.in.Resolver.Secret(k.SecretRef.Name)
		c.versions = append(c.versions, "secret "+k.SecretRef.Name+" "+version)
		if err != nil {
			return nil, fmt.Errorf("%s.secretRef: secret %q: %w", field, k.SecretRef.Name, err)
		}
		if len(sd) != 1 {
			return nil, fmt.Errorf("%s.secretRef: secret %q has %d entries, want exactly one holding the public key", field, k.SecretRef.Name, len(sd))
		}
		for _, v := range sd {
			data = v
		}
	}
	var pubs []crypto.PublicKey
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem.EncodeToMemory(b))
		if err != nil {
			return nil, fmt.Errorf("%s: public key %d: %w", field, len(pubs)+1, err)
		}
		pubs = append(pubs, pub)
	}
	if len(pubs) == 0 {
		return nil, fmt.Errorf("%s: no PEM public key", field)
	}
	return pubs, nil
}

// policy compiles a cue or rego policy, reading it from its ConfigMap when
// it names one.
func (c *compiler) policy(name string, p *cip.Policy) (*cip.CompiledPolicy, error) {
	src := p.Data
	switch {
	case p.Remote != nil:
		return nil, fmt.Errorf("policy %s: remote policies are not fetched by hallmark; put the policy in data or a ConfigMap (configMapRef)", name)
	case p.ConfigMapRef != nil:
		if c.in.Resolver == nil {
			return nil, fmt.Errorf("policy %s: configMapRef: no ConfigMaps to read", name)
		}
		data, version, err := c.in.Resolver.ConfigMap(p.ConfigMapRef.Name)
		c.versions = append(c.versions, "configmap "+p.ConfigMapRef.Name+" "+version)
		if err != nil {
			return nil, fmt.Errorf("policy %s: configMapRef: configmap %q: %w", name, p.ConfigMapRef.Name, err)
		}
		if src = data[p.ConfigMapRef.Key]; src == "" {
			return nil, fmt.Errorf("policy %s: configMapRef: configmap %q does not contain key %s", name, p.ConfigMapRef.Name, p.ConfigMapRef.Key)
		}
	}
	return cip.CompilePolicy(name, p.Type, src)
}

// matches reports whether the policy applies to an image of a resource.
func (p *Policy) matches(image string, res resource) bool {
	if len(p.match) > 0 && !slices.ContainsFunc(p.match, func(m matcher) bool { return m.matches(res) }) {
		return false
	}
	return slices.ContainsFunc(p.globs, func(g *cip.Glob) bool { return g.Match(image) })
}

func (m matcher) matches(res resource) bool {
	if m.group != "" && m.group != res.group {
		return false
	}
	if m.version != "" && m.version != res.version {
		return false
	}
	if m.resource != "" && m.resource != res.resource {
		return false
	}
	return m.selector.Matches(labels.Set(res.labels))
}
