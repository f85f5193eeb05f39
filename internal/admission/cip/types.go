// Package cip reads sigstore policy-controller's resources as users write
// them: ClusterImagePolicy and TrustRoot of the policy.sigstore.dev group,
// versions v1alpha1 and v1beta1 (the two have the same schema;
// https://github.com/sigstore/policy-controller/tree/main/pkg/apis/policy).
//
// Parsing is strict (an unknown or repeated field is refused, as
// policy-controller's webhook refuses it), [Validate] applies
// policy-controller's validation rules, [SetDefaults] its defaults, and
// [Glob] its image glob rules. Evaluation of the cue and rego policies a
// ClusterImagePolicy carries follows cosign's semantics, which
// policy-controller uses ([CompilePolicy]). The package is pure: no
// network, no Kubernetes client.
package cip

import (
	"encoding/json"
	"fmt"
	"net/url"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group is the API group of the resources.
const Group = "policy.sigstore.dev"

// Versions are the API versions read, newest first.
var Versions = []string{"v1beta1", "v1alpha1"}

// Kinds.
const (
	KindClusterImagePolicy = "ClusterImagePolicy"
	KindTrustRoot          = "TrustRoot"
)

// ClusterImagePolicy says which images must be verified and how.
type ClusterImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ClusterImagePolicySpec `json:"spec"`
	// Status is written by policy-controller's reconciler; it is not read.
	Status json.RawMessage `json:"status,omitempty"`
}

// ClusterImagePolicySpec is the policy.
type ClusterImagePolicySpec struct {
	// Images are the globs of the images the policy applies to.
	Images []ImagePattern `json:"images"`
	// Authorities: within a policy, one that verifies suffices.
	Authorities []Authority `json:"authorities,omitempty"`
	// Policy, when set, is evaluated over the authorities that matched.
	Policy *Policy `json:"policy,omitempty"`
	// Mode is enforce (deny on failure, the default) or warn.
	Mode string `json:"mode,omitempty"`
	// Match restricts the policy to resources of these kinds and labels.
	Match []MatchResource `json:"match,omitempty"`
}

// ImagePattern is a glob of image references ([Glob]).
type ImagePattern struct {
	Glob string `json:"glob"`
}

// Authority says who may have signed an image or its attestations.
type Authority struct {
	Name             string            `json:"name"`
	Key              *KeyRef           `json:"key,omitempty"`
	Keyless          *KeylessRef       `json:"keyless,omitempty"`
	Static           *StaticRef        `json:"static,omitempty"`
	Sources          []Source          `json:"source,omitempty"`
	CTLog            *TLog             `json:"ctlog,omitempty"`
	Attestations     []Attestation     `json:"attestations,omitempty"`
	RFC3161Timestamp *RFC3161Timestamp `json:"rfc3161timestamp,omitempty"`
	SignatureFormat  string            `json:"signatureFormat,omitempty"`
}

// KeyRef is a public key: inline PEM (Data), a Secret in the webhook's
// namespace holding it (SecretRef), or a KMS reference.
type KeyRef struct {
	SecretRef     *SecretReference `json:"secretRef,omitempty"`
	Data          string           `json:"data,omitempty"`
	KMS           string           `json:"kms,omitempty"`
	HashAlgorithm string           `json:"hashAlgorithm,omitempty"`
}

// SecretReference names a Secret (core/v1 SecretReference).
type SecretReference struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name,omitempty"`
}

// StaticRef passes or fails every matching image without verification.
type StaticRef struct {
	Action  string `json:"action"`
	Message string `json:"message,omitempty"`
}

// Source is where signatures and attestations are stored, when not next
// to the image.
type Source struct {
	OCI                  string                 `json:"oci,omitempty"`
	SignaturePullSecrets []LocalObjectReference `json:"signaturePullSecrets,omitempty"`
	TagPrefix            *string                `json:"tagPrefix,omitempty"`
}

// TLog names a transparency log.
type TLog struct {
	URL          *URL   `json:"url,omitempty"`
	TrustRootRef string `json:"trustRootRef,omitempty"`
}

// KeylessRef trusts certificates for identities.
type KeylessRef struct {
	URL               *URL       `json:"url,omitempty"`
	Identities        []Identity `json:"identities"`
	CACert            *KeyRef    `json:"ca-cert,omitempty"`
	TrustRootRef      string     `json:"trustRootRef,omitempty"`
	InsecureIgnoreSCT *bool      `json:"insecureIgnoreSCT,omitempty"`
}

// Attestation is an attestation an authority must have signed, and the
// policy its statement must satisfy.
type Attestation struct {
	Name          string  `json:"name"`
	PredicateType string  `json:"predicateType"`
	Policy        *Policy `json:"policy,omitempty"`
}

// MatchResource selects resources by group, version, resource and labels.
type MatchResource struct {
	Group            string                `json:"group,omitempty"`
	Version          string                `json:"version,omitempty"`
	Resource         string                `json:"resource,omitempty"`
	ResourceSelector *metav1.LabelSelector `json:"selector,omitempty"`
}

// RemotePolicy is a policy fetched from a URL.
type RemotePolicy struct {
	URL       URL    `json:"url,omitempty"`
	Sha256sum string `json:"sha256sum,omitempty"`
}

// Policy is a cue or rego policy: inline, in a ConfigMap of the webhook's
// namespace, or remote.
type Policy struct {
	Type              string              `json:"type"`
	Data              string              `json:"data,omitempty"`
	Remote            *RemotePolicy       `json:"remote,omitempty"`
	ConfigMapRef      *ConfigMapReference `json:"configMapRef,omitempty"`
	FetchConfigFile   *bool               `json:"fetchConfigFile,omitempty"`
	IncludeSpec       *bool               `json:"includeSpec,omitempty"`
	IncludeObjectMeta *bool               `json:"includeObjectMeta,omitempty"`
	IncludeTypeMeta   *bool               `json:"includeTypeMeta,omitempty"`
}

// ConfigMapReference names a key of a ConfigMap.
type ConfigMapReference struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Key       string `json:"key,omitempty"`
}

// Identity is an expected certificate identity: issuer and subject, each
// exact or a regular expression.
type Identity struct {
	Issuer        string `json:"issuer,omitempty"`
	Subject       string `json:"subject,omitempty"`
	IssuerRegExp  string `json:"issuerRegExp,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// RFC3161Timestamp requires signed timestamps from a TrustRoot's
// timestamp authorities.
type RFC3161Timestamp struct {
	TrustRootRef string `json:"trustRootRef,omitempty"`
}

// TrustRoot is trusted material for a Sigstore stack.
type TrustRoot struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              TrustRootSpec   `json:"spec"`
	Status            json.RawMessage `json:"status,omitempty"`
}

// TrustRootSpec is one of a TUF remote, a serialized TUF repository, or
// the keys and certificates themselves.
type TrustRootSpec struct {
	Remote       *Remote       `json:"remote,omitempty"`
	Repository   *Repository   `json:"repository,omitempty"`
	SigstoreKeys *SigstoreKeys `json:"sigstoreKeys,omitempty"`
}

// Remote is a TUF root and mirror.
type Remote struct {
	Root              []byte `json:"root"`
	Mirror            URL    `json:"mirror"`
	Targets           string `json:"targets,omitempty"`
	TrustedRootTarget string `json:"trustedRootTarget,omitempty"`
}

// Repository is a serialized TUF repository.
type Repository struct {
	Root              []byte `json:"root"`
	MirrorFS          []byte `json:"mirrorFS"`
	Targets           string `json:"targets,omitempty"`
	TrustedRootTarget string `json:"trustedRootTarget,omitempty"`
}

// TransparencyLogInstance is a transparency log or CT log.
type TransparencyLogInstance struct {
	BaseURL       URL    `json:"baseURL"`
	HashAlgorithm string `json:"hashAlgorithm"`
	PublicKey     []byte `json:"publicKey"` // PEM
}

// DistinguishedName names a CA.
type DistinguishedName struct {
	Organization string `json:"organization"`
	CommonName   string `json:"commonName"`
}

// CertificateAuthority is a CA or timestamp authority and its chain.
type CertificateAuthority struct {
	Subject   DistinguishedName `json:"subject"`
	URI       URL               `json:"uri"`
	CertChain []byte            `json:"certChain"` // PEM, root last
}

// SigstoreKeys are the keys and certificates of a Sigstore stack.
type SigstoreKeys struct {
	CertificateAuthorities []CertificateAuthority    `json:"certificateAuthorities"`
	TLogs                  []TransparencyLogInstance `json:"tLogs,omitempty"`
	CTLogs                 []TransparencyLogInstance `json:"ctLogs,omitempty"`
	TimeStampAuthorities   []CertificateAuthority    `json:"timestampAuthorities,omitempty"`
}

// URL is a URL written as a string (knative's apis.URL).
type URL struct{ url.URL }

// String returns the URL, empty for the zero value.
func (u URL) String() string {
	if u.URL == (url.URL{}) {
		return ""
	}
	return u.URL.String()
}

// MarshalJSON writes the URL as a string.
func (u URL) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// UnmarshalJSON parses a URL string.
func (u *URL) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", s, err)
	}
	u.URL = *p
	return nil
}
