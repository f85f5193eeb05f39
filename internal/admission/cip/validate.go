package cip

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"hallmark.dev/attest"
)

// FieldError is one reason a resource is refused (or, when Warning, one
// remark on a resource accepted). Paths name the fields, as
// "spec.authorities[0].keyless.identities".
type FieldError struct {
	Message string
	Paths   []string
	Details string
	Warning bool
}

func (e FieldError) String() string {
	s := e.Message
	if len(e.Paths) > 0 {
		s += ": " + strings.Join(slices.Sorted(slices.Values(e.Paths)), ", ")
	}
	if e.Details != "" {
		s += ": " + e.Details
	}
	return s
}

// ValidationError lists why a resource is refused.
type ValidationError struct {
	Kind, Name string
	Errors     []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return fmt.Sprintf("%s %s is invalid: %s", e.Kind, e.Name, strings.Join(parts, "; "))
}

// errs accumulates field errors under a path prefix.
type errs struct {
	list []FieldError
}

func (e *errs) add(fe FieldError) { e.list = append(e.list, fe) }

func (e *errs) missing(paths ...string) {
	e.add(FieldError{Message: "missing field(s)", Paths: paths})
}

func (e *errs) missingOneOf(paths ...string) {
	e.add(FieldError{Message: "expected exactly one, got neither", Paths: paths})
}

func (e *errs) multipleOneOf(paths ...string) {
	e.add(FieldError{Message: "expected exactly one, got both", Paths: paths})
}

func (e *errs) invalid(value, path, details string) {
	e.add(FieldError{Message: "invalid value: " + value, Paths: []string{path}, Details: details})
}

func (e *errs) disallowed(paths ...string) {
	e.add(FieldError{Message: "must not set the field(s)", Paths: paths})
}

func (e *errs) warn(value, path, details string) {
	e.add(FieldError{Message: "invalid value: " + value, Paths: []string{path}, Details: details, Warning: true})
}

func join(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

func idx(prefix, field string, i int) string {
	return fmt.Sprintf("%s[%d]", join(prefix, field), i)
}

// Options are policy-controller's settings that change validation.
type Options struct {
	// AllowEmptyAuthorities accepts a ClusterImagePolicy without
	// authorities (policy-controller's fail-on-empty-authorities=false).
	AllowEmptyAuthorities bool
}

// split separates errors from warnings.
func split(list []FieldError) (errors, warnings []FieldError) {
	for _, fe := range list {
		if fe.Warning {
			warnings = append(warnings, fe)
		} else {
			errors = append(errors, fe)
		}
	}
	return errors, warnings
}

// Validate applies policy-controller's validation rules to a
// ClusterImagePolicy with its defaults set ([ClusterImagePolicy.SetDefaults]:
// policy-controller's defaulting webhook runs before its validating one). It returns a
// *ValidationError naming every refused field, and the warnings of a
// policy it accepts (deprecated predicate type names).
func (c *ClusterImagePolicy) Validate(o Options) (warnings []string, err error) {
	var e errs
	c.Spec.validate(&e, "spec", o)
	return result(&e, KindClusterImagePolicy, c.Name)
}

func result(e *errs, kind, name string) ([]string, error) {
	errors, warns := split(e.list)
	var ws []string
	for _, w := range warns {
		ws = append(ws, w.String())
	}
	if len(errors) > 0 {
		return ws, &ValidationError{Kind: kind, Name: name, Errors: errors}
	}
	return ws, nil
}

// MatchResources are the resources a policy's match may name: those the
// webhook admits.
var MatchResources = []string{"replicasets", "deployments", "pods", "cronjobs", "jobs", "statefulsets", "daemonsets"}

// ValidModes are the modes of a ClusterImagePolicy.
var ValidModes = []string{"enforce", "warn"}

func (s *ClusterImagePolicySpec) validate(e *errs, p string, o Options) {
	if len(s.Images) == 0 {
		e.missing(join(p, "images"))
	}
	for i, im := range s.Images {
		ip := idx(p, "images", i)
		if im.Glob == "" {
			e.missing(join(ip, "glob"))
			continue
		}
		if err := ValidateGlob(im.Glob); err != nil {
			e.invalid(im.Glob, join(ip, "glob"), err.Error())
		}
	}
	if len(s.Authorities) == 0 && !o.AllowEmptyAuthorities {
		e.missing(join(p, "authorities"))
	}
	for i := range s.Authorities {
		s.Authorities[i].validate(e, idx(p, "authorities", i))
	}
	if s.Mode != "" && !slices.Contains(ValidModes, s.Mode) {
		e.invalid(s.Mode, join(p, "mode"), "unsupported mode (want enforce or warn)")
	}
	for i, m := range s.Match {
		mp := idx(p, "match", i)
		if m.Resource != "" && !slices.Contains(MatchResources, m.Resource) {
			e.invalid(m.Resource, join(mp, "resource"), "unsupported resource name (want one of "+strings.Join(MatchResources, ", ")+")")
		}
		if m.ResourceSelector != nil && m.Resource == "" && m.Version == "" && m.Group == "" {
			e.invalid(m.Resource, join(mp, "selector"), "selector requires a resource type to match the labels")
		}
	}
	// The CIP-level policy may fetch the config file and include the
	// resource; an attestation's may not.
	s.Policy.validate(e, join(p, "policy"), true)
}

func (a *Authority) validate(e *errs, p string) {
	n := 0
	for _, set := range []bool{a.Key != nil, a.Keyless != nil, a.Static != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		e.missingOneOf(join(p, "key"), join(p, "keyless"), join(p, "static"))
		return
	case n > 1:
		e.multipleOneOf(join(p, "key"), join(p, "keyless"), join(p, "static"))
		return
	}
	if a.Key != nil {
		a.Key.validate(e, join(p, "key"))
	}
	if a.Keyless != nil {
		a.Keyless.validate(e, join(p, "keyless"))
	}
	if a.Static != nil {
		sp := join(p, "static")
		switch a.Static.Action {
		case "":
			e.missing(join(sp, "action"))
		case "pass", "fail":
		default:
			e.invalid(a.Static.Action, join(sp, "action"), "unsupported action (want pass or fail)")
		}
		// Attestations, sources, a log or timestamps make no sense with a
		// static authority.
		if len(a.Attestations) > 0 {
			e.multipleOneOf(join(p, "static"), join(p, "attestations"))
		}
		if len(a.Sources) > 0 {
			e.multipleOneOf(join(p, "static"), join(p, "source"))
		}
		if a.CTLog != nil {
			e.multipleOneOf(join(p, "static"), join(p, "ctlog"))
		}
		if a.RFC3161Timestamp != nil {
			e.multipleOneOf(join(p, "static"), join(p, "rfc3161timestamp"))
		}
	}
	if len(a.Sources) > 1 {
		e.invalid("source", join(p, "source"), "only single source is supported")
	} else {
		for i, s := range a.Sources {
			sp := idx(p, "source", i)
			if s.OCI != "" {
				if err := validateOCI(s.OCI); err != nil {
					e.invalid(s.OCI, join(sp, "oci"), err.Error())
				}
			}
			for j, ps := range s.SignaturePullSecrets {
				if ps.Name == "" {
					e.missing(join(idx(sp, "signaturePullSecrets", j), "name"))
				}
			}
		}
	}
	for i := range a.Attestations {
		a.Attestations[i].validate(e, idx(p, "attestations", i))
	}
}

// HashAlgorithms are the signature hash algorithms a key may name.
var HashAlgorithms = []string{"sha224", "sha256", "sha384", "sha512"}

func (k *KeyRef) validate(e *errs, p string) {
	if k.Data == "" && k.KMS == "" && k.SecretRef == nil {
		e.missingOneOf(join(p, "data"), join(p, "kms"), join(p, "secretref"))
	}
	if k.HashAlgorithm != "" && !slices.Contains(HashAlgorithms, strings.ToLower(strings.TrimSpace(k.HashAlgorithm))) {
		e.invalid(k.HashAlgorithm, join(p, "hashAlgorithm"), "unknown digest algorithm (want sha224, sha256, sha384 or sha512)")
	}
	if k.Data != "" {
		if k.KMS != "" || k.SecretRef != nil {
			e.multipleOneOf(join(p, "data"), join(p, "kms"), join(p, "secretref"))
		}
		if pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(k.Data)); err != nil || pub == nil {
			detail := "not a PEM public key"
			if err != nil {
				detail += ": " + err.Error()
			}
			e.invalid(abbreviate(k.Data), join(p, "data"), detail)
		}
	} else if k.KMS != "" && k.SecretRef != nil {
		e.multipleOneOf(join(p, "data"), join(p, "kms"), join(p, "secretref"))
	}
	if k.KMS != "" {
		if err := validateKMS(k.KMS); err != nil {
			e.invalid(k.KMS, join(p, "kms"), err.Error())
		}
	}
	// secretRef.namespace, when set, must be the namespace the controller
	// runs in; the webhook checks that when it resolves the reference,
	// since validation does not know it.
}

func (k *KeylessRef) validate(e *errs, p string) {
	if k.URL == nil && k.CACert == nil {
		e.missingOneOf(join(p, "url"), join(p, "ca-cert"))
	}
	if k.URL != nil && k.CACert != nil {
		e.multipleOneOf(join(p, "url"), join(p, "ca-cert"))
	}
	if k.CACert != nil {
		k.CACert.validate(e, join(p, "ca-cert"))
	}
	if len(k.Identities) == 0 {
		e.missing(join(p, "identities"))
	}
	for i, id := range k.Identities {
		ip := idx(p, "identities", i)
		if id.Issuer != "" && id.IssuerRegExp != "" {
			e.multipleOneOf(join(ip, "issuer"), join(ip, "issuerRegExp"))
		}
		if id.Subject != "" && id.SubjectRegExp != "" {
			e.multipleOneOf(join(ip, "subject"), join(ip, "subjectRegExp"))
		}
		if id.IssuerRegExp != "" {
			if _, err := regexp.Compile(id.IssuerRegExp); err != nil {
				e.invalid(id.IssuerRegExp, join(ip, "issuerRegExp"), "regex is invalid: "+err.Error())
			}
		}
		if id.SubjectRegExp != "" {
			if _, err := regexp.Compile(id.SubjectRegExp); err != nil {
				e.invalid(id.SubjectRegExp, join(ip, "subjectRegExp"), "regex is invalid: "+err.Error())
			}
		}
		if id.Subject == "" && id.SubjectRegExp == "" {
			e.missing(join(ip, "subject"), join(ip, "subjectRegExp"))
		}
		if id.Issuer == "" && id.IssuerRegExp == "" {
			e.missing(join(ip, "issuer"), join(ip, "issuerRegExp"))
		}
	}
}

// PredicateTypeURI returns the URI a predicate type names: itself, or the
// URI of one of cosign's short names (attest.PredicateType), which
// policy-controller accepts with a warning.
func PredicateTypeURI(t string) string {
	if u, err := attest.PredicateType(t); err == nil {
		return u
	}
	return t
}

// isShortPredicateType reports whether t is one of cosign's short names.
func isShortPredicateType(t string) bool { return PredicateTypeURI(t) != t }

func (a *Attestation) validate(e *errs, p string) {
	if a.Name == "" {
		e.missing(join(p, "name"))
	}
	switch short := isShortPredicateType(a.PredicateType); {
	case a.PredicateType == "":
		e.missing(join(p, "predicateType"))
	case short:
		e.warn(a.PredicateType, join(p, "predicateType"), "deprecated value, please use RFC 3986 conformant values")
	default:
		if _, err := url.ParseRequestURI(a.PredicateType); err != nil {
			e.warn(a.PredicateType, join(p, "predicateType"), "deprecated value, please use RFC 3986 conformant values")
		}
	}
	a.Policy.validate(e, join(p, "policy"), false)
}

// PolicyTypes are the policy languages.
var PolicyTypes = []string{"cue", "rego"}

func (pol *Policy) validate(e *errs, p string, inSpec bool) {
	if pol == nil {
		return
	}
	if !slices.Contains(PolicyTypes, pol.Type) {
		e.invalid(pol.Type, join(p, "type"), "only [cue,rego] are supported at the moment")
	}
	n := 0
	for _, set := range []bool{pol.Data != "", pol.ConfigMapRef != nil, pol.Remote != nil} {
		if set {
			n++
		}
	}
	if n == 0 {
		e.missing(join(p, "data"), join(p, "configMapRef"), join(p, "remote"))
	}
	if n > 1 {
		e.multipleOneOf(join(p, "data"), join(p, "configMapRef"), join(p, "remote"))
	}
	if pol.Remote != nil {
		rp := join(p, "remote")
		u := pol.Remote.URL.URL
		if u.Host == "" || u.Scheme != "https" {
			e.invalid(pol.Remote.URL.String(), join(rp, "url"), "url valid is invalid. host and https scheme are expected")
		}
		if pol.Remote.Sha256sum == "" {
			e.missing(join(rp, "sha256sum"))
		}
	}
	if pol.ConfigMapRef != nil {
		cp := join(p, "configMapRef")
		if pol.ConfigMapRef.Name == "" {
			e.missing(join(cp, "name"))
		}
		if pol.ConfigMapRef.Key == "" {
			e.missing(join(cp, "key"))
		}
	}
	if !inSpec {
		for f, set := range map[string]bool{
			"fetchConfigFile":   pol.FetchConfigFile != nil,
			"includeSpec":       pol.IncludeSpec != nil,
			"includeObjectMeta": pol.IncludeObjectMeta != nil,
			"includeTypeMeta":   pol.IncludeTypeMeta != nil,
		} {
			if set {
				e.disallowed(join(p, f))
			}
		}
		sortLastDisallowed(e)
	}
}

// sortLastDisallowed orders the trailing "must not set" errors by path,
// so that messages do not depend on map order.
func sortLastDisallowed(e *errs) {
	i := len(e.list)
	for i > 0 && e.list[i-1].Message == "must not set the field(s)" {
		i--
	}
	tail := e.list[i:]
	sort.Slice(tail, func(a, b int) bool { return tail[a].Paths[0] < tail[b].Paths[0] })
}

// validateOCI checks a signature source: a registry, or a repository.
func validateOCI(oci string) error {
	parts := strings.SplitN(oci, "/", 2)
	if len(parts) == 2 && strings.ContainsAny(parts[0], ".:") {
		_, err := name.NewRepository(oci, name.StrictValidation)
		return err
	}
	_, err := name.NewRegistry(oci, name.StrictValidation)
	return err
}

// KMSProviders are the KMS reference schemes policy-controller accepts.
var KMSProviders = []string{"awskms://", "azurekms://", "hashivault://", "gcpkms://"}

var awsKMSForms = func() []*regexp.Regexp {
	const (
		uuid = `m?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}`
		arn  = `arn:(?:aws|aws-us-gov|aws-cn):kms:[a-z0-9-]+:\d{12}:`
		host = `([^/]*)/`
	)
	return []*regexp.Regexp{
		regexp.MustCompile(`^awskms://` + host + `(` + uuid + `)$`),
		regexp.MustCompile(`^awskms://` + host + `(` + arn + `key/` + uuid + `)$`),
		regexp.MustCompile(`^awskms://` + host + `((alias/.*))$`),
		regexp.MustCompile(`^awskms://` + host + `(` + arn + `(alias/.*))$`),
	}
}()

const awsKMSFormat = "kms key should be in the format awskms://[ENDPOINT]/[ID/ALIAS/ARN] (endpoint optional)"

// validateKMS checks a KMS reference as policy-controller does: a known
// scheme, and for AWS a key or alias ARN.
func validateKMS(kms string) error {
	if !slices.ContainsFunc(KMSProviders, func(p string) bool { return strings.HasPrefix(kms, p) }) {
		return fmt.Errorf("malformed KMS format, should be prefixed by any of the supported providers: %v", KMSProviders)
	}
	if !strings.HasPrefix(kms, "awskms://") {
		return nil
	}
	parts := strings.Split(kms, "/")
	if len(parts) < 4 {
		return fmt.Errorf("malformed AWS KMS format 'awskms://$ENDPOINT/$KEYID'")
	}
	if !slices.ContainsFunc(awsKMSForms, func(re *regexp.Regexp) bool { return re.MatchString(kms) }) {
		return fmt.Errorf("%s", awsKMSFormat)
	}
	endpoint := parts[2]
	if endpoint != "" && (strings.HasPrefix(endpoint, "arn") || strings.HasPrefix(endpoint, "alias")) {
		return fmt.Errorf("%s", awsKMSFormat)
	}
	if endpoint != "" {
		if _, _, err := net.SplitHostPort(endpoint); err != nil {
			return fmt.Errorf("malformed endpoint: %w", err)
		}
	}
	// The key must be an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)
	// of a key or an alias.
	sections := strings.SplitN(parts[3], ":", 6)
	if !strings.HasPrefix(parts[3], "arn:") || len(sections) != 6 {
		return fmt.Errorf("failed to parse either key or alias arn: %q is not an ARN", parts[3])
	}
	if r := sections[5]; r != "key" && r != "alias" {
		return fmt.Errorf("ARN resource %q is neither a key nor an alias", r)
	}
	return nil
}

// abbreviate shortens a long value for a message.
func abbreviate(s string) string {
	s = strings.TrimSpace(s)
	if first, _, ok := strings.Cut(s, "\n"); ok {
		s = strings.TrimSpace(first) + "..."
	}
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// ValidateGlob checks an image glob as policy-controller does: it must be
// a valid path pattern and use only the characters of image references and
// '*'.
func ValidateGlob(g string) error {
	if _, err := filepath.Match(g, ""); err != nil {
		return fmt.Errorf("glob is invalid: %v", err)
	}
	if _, err := CompileGlob(g); err != nil {
		return fmt.Errorf("glob is invalid: %v", err)
	}
	return nil
}
