package cip

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	kjson "sigs.k8s.io/json"
)

// MaxObjectSize bounds a resource read: the API server stores objects of
// at most 1.5 MiB, and trust roots with certificate chains are far smaller.
const MaxObjectSize = 3 << 20

// ParseClusterImagePolicy parses a ClusterImagePolicy (JSON, as the API
// server sends it) strictly: an unknown or repeated field is refused, as
// policy-controller's webhook refuses it.
func ParseClusterImagePolicy(data []byte) (*ClusterImagePolicy, error) {
	var c ClusterImagePolicy
	if err := parseStrict(data, &c, KindClusterImagePolicy); err != nil {
		return nil, err
	}
	if err := checkType(c.APIVersion, c.Kind, KindClusterImagePolicy); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseTrustRoot parses a TrustRoot strictly.
func ParseTrustRoot(data []byte) (*TrustRoot, error) {
	var tr TrustRoot
	if err := parseStrict(data, &tr, KindTrustRoot); err != nil {
		return nil, err
	}
	if err := checkType(tr.APIVersion, tr.Kind, KindTrustRoot); err != nil {
		return nil, err
	}
	return &tr, nil
}

func parseStrict(data []byte, v any, kind string) error {
	if len(data) > MaxObjectSize {
		return fmt.Errorf("%s: %d bytes, over the %d byte limit", kind, len(data), MaxObjectSize)
	}
	strict, err := kjson.UnmarshalStrict(data, v)
	if err != nil {
		return fmt.Errorf("%s does not parse: %w", kind, err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s does not parse: %s", kind, strings.Join(msgs, "; "))
	}
	return nil
}

func checkType(apiVersion, kind, want string) error {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok || group != Group || !slices.Contains(Versions, version) {
		return fmt.Errorf("%s: apiVersion %q, want %s/v1beta1 or %s/v1alpha1", want, apiVersion, Group, Group)
	}
	if kind != want {
		return fmt.Errorf("kind %q, want %s", kind, want)
	}
	return nil
}

// SetDefaults applies policy-controller's defaults: mode enforce,
// authorities named authority-<index>, and the public Fulcio for a keyless
// authority that names no CA.
func (c *ClusterImagePolicy) SetDefaults() {
	if c.Spec.Mode == "" {
		c.Spec.Mode = "enforce"
	}
	for i := range c.Spec.Authorities {
		a := &c.Spec.Authorities[i]
		if a.Name == "" {
			a.Name = fmt.Sprintf("authority-%d", i)
		}
		if a.Key == nil && a.Static == nil && a.Keyless != nil && a.Keyless.CACert == nil && a.Keyless.URL == nil {
			a.Keyless.URL = &URL{}
			a.Keyless.URL.Scheme, a.Keyless.URL.Host = "https", "fulcio.sigstore.dev"
		}
	}
}

// SetDefaults applies policy-controller's defaults to a TrustRoot.
func (tr *TrustRoot) SetDefaults() {
	if r := tr.Spec.Repository; r != nil && r.Targets == "" {
		r.Targets = "targets"
	}
	if r := tr.Spec.Remote; r != nil && r.Targets == "" {
		r.Targets = "targets"
	}
}

// Validate applies policy-controller's validation rules to a TrustRoot
// with its defaults set. Every refused field is named (policy-controller keeps
// only the last error of its certificate authorities and logs).
func (tr *TrustRoot) Validate() error {
	var e errs
	tr.Spec.validate(&e, "spec")
	_, err := result(&e, KindTrustRoot, tr.Name)
	return err
}

func (s *TrustRootSpec) validate(e *errs, p string) {
	n := 0
	for _, set := range []bool{s.Repository != nil, s.Remote != nil, s.SigstoreKeys != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		e.missingOneOf(join(p, "repository"), join(p, "remote"), join(p, "sigstoreKeys"))
		return
	case n > 1:
		e.multipleOneOf(join(p, "repository"), join(p, "remote"), join(p, "sigstoreKeys"))
		return
	}
	switch {
	case s.Repository != nil:
		rp := join(p, "repository")
		if s.Repository.Targets == "" {
			e.missing(join(rp, "targets"))
		}
		validateTUFRoot(e, join(rp, "root"), s.Repository.Root)
		if len(s.Repository.MirrorFS) == 0 {
			e.missing(join(rp, "mirrorFS"))
		}
	case s.Remote != nil:
		rp := join(p, "remote")
		if s.Remote.Mirror.String() == "" {
			e.missing(join(rp, "mirror"))
		}
		validateTUFRoot(e, join(rp, "root"), s.Remote.Root)
	default:
		s.SigstoreKeys.validate(e, join(p, "sigstoreKeys"))
	}
}

func validateTUFRoot(e *errs, p string, root []byte) {
	if root == nil {
		e.missing(p)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(root, &m); err != nil {
		e.invalid("failed to unmarshal", p, err.Error())
		return
	}
	if m["signatures"] == nil {
		e.invalid("missing signatures in root.json", p, "no signatures")
	}
}

func (k *SigstoreKeys) validate(e *errs, p string) {
	if len(k.CertificateAuthorities) == 0 && len(k.TimeStampAuthorities) == 0 {
		e.missingOneOf(join(p, "certificateAuthorities"), join(p, "timestampAuthorities"))
	}
	for i, ca := range k.CertificateAuthorities {
		validateCA(e, idx(p, "certificateAuthorities", i), ca, false)
	}
	for i, tsa := range k.TimeStampAuthorities {
		validateCA(e, idx(p, "timestampAuthorities", i), tsa, true)
	}
	for i, l := range k.CTLogs {
		validateLog(e, idx(p, "ctLogs", i), l)
	}
	for i, l := range k.TLogs {
		validateLog(e, idx(p, "tLogs", i), l)
	}
}

func validateCA(e *errs, p string, ca CertificateAuthority, tsa bool) {
	sp := join(p, "subject")
	if ca.Subject.Organization == "" {
		e.missing(join(sp, "organization"))
	}
	if ca.Subject.CommonName == "" {
		e.missing(join(sp, "commonName"))
	}
	if ca.URI.String() == "" {
		e.missing(join(p, "uri"))
	}
	if len(ca.CertChain) == 0 {
		e.missing(join(p, "certChain"))
		return
	}
	// As policy-controller, only a timestamp authority's chain is parsed
	// here; a CA's that does not parse makes the TrustRoot unusable, which
	// the webhook reports when a policy uses it.
	if tsa {
		certs, err := parseCertificates(ca.CertChain)
		if err != nil {
			e.invalid("error splitting the certificates", join(p, "certChain"), err.Error())
			return
		}
		leaves := 0
		for _, c := range certs {
			if !c.IsCA {
				leaves++
			}
		}
		if leaves > 1 {
			e.invalid("certificate chain must contain at most one TSA certificate", join(p, "certChain"), "")
		}
	}
}

func validateLog(e *errs, p string, l TransparencyLogInstance) {
	if l.BaseURL.String() == "" {
		e.missing(join(p, "baseURL"))
	}
	if l.HashAlgorithm == "" {
		e.missing(join(p, "hashAlgorithm"))
	}
	if len(l.PublicKey) == 0 {
		e.missing(join(p, "publicKey"))
	}
}

// parseCertificates parses the PEM certificates of a chain.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(data)
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("not PEM certificates")
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block of type %q, want CERTIFICATE", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
		rest = bytes.TrimSpace(rest)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificates")
	}
	return certs, nil
}
