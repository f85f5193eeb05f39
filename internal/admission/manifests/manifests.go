// Package manifests writes the Kubernetes objects that install the
// admission webhook: the ClusterImagePolicy and TrustRoot CRDs (the
// policy.sigstore.dev group of sigstore policy-controller, so policies
// written for it apply unchanged), the validating and mutating webhook
// configurations, and, for a webhook running in the cluster, its
// namespace, service account, RBAC, TLS Secret, Deployment and Service.
// The output is YAML that kubectl apply accepts as printed.
package manifests

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"hallmark.dev/internal/admission"
	"hallmark.dev/internal/admission/certs"
	"hallmark.dev/internal/admission/cip"
)

// Names of the objects.
const (
	Name            = "hallmark-admission"
	IncludeLabel    = "policy.sigstore.dev/include"
	DefaultTimeout  = 10
	servingPort     = 8443
	tlsMountPath    = "/etc/hallmark-admission/tls"
	certValidity    = 365 * 24 * time.Hour
	defaultNSLabel  = "kubernetes.io/metadata.name"
	webhookImages   = "images.hallmark.dev"
	webhookPolicies = "policies.hallmark.dev"
)

// Options say where the webhook runs.
type Options struct {
	// Namespace is the webhook's namespace (default hallmark-system):
	// excluded from checks, and home of its Secrets and ConfigMaps.
	Namespace string
	// URL and CABundle: the webhook runs outside the cluster (or is
	// reached through a URL), served with a certificate under CABundle
	// (PEM). Or:
	URL      string
	CABundle []byte
	// Image: the webhook runs in the cluster from this image (hallmark's,
	// whose entry point is the hallmark binary). A CA and a serving
	// certificate for the Service are made now, valid for a year, and
	// written as a Secret and the webhooks' CA bundle.
	Image string
	// TimeoutSeconds is the webhooks' timeout (1–30, default 10): the API
	// server waits no longer, and the webhook answers before.
	TimeoutSeconds int32
	// Now is the time certificates start; zero means time.Now.
	Now time.Time
}

// Write returns the manifests as YAML documents.
func Write(o Options) ([]byte, error) {
	if o.Namespace == "" {
		o.Namespace = "hallmark-system"
	}
	if o.TimeoutSeconds == 0 {
		o.TimeoutSeconds = DefaultTimeout
	}
	if o.TimeoutSeconds < 1 || o.TimeoutSeconds > 30 {
		return nil, fmt.Errorf("manifests: timeout %ds: the API server accepts 1 to 30 seconds", o.TimeoutSeconds)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	inCluster := o.Image != ""
	switch {
	case inCluster && (o.URL != "" || len(o.CABundle) > 0):
		return nil, errors.New("manifests: give either an image (the webhook runs in the cluster) or a URL and CA bundle, not both")
	case !inCluster && (o.URL == "" || len(o.CABundle) == 0):
		return nil, errors.New("manifests: give an image (the webhook runs in the cluster), or a URL and its CA bundle")
	}
	var objs []any
	objs = append(objs, crd("clusterimagepolicies", cip.KindClusterImagePolicy, "cip"), crd("trustroots", cip.KindTrustRoot, ""))
	client := func(path string) admissionregistrationv1.WebhookClientConfig {
		u := strings.TrimSuffix(o.URL, "/") + path
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: o.CABundle}
	}
	if inCluster {
		s, err := certs.New([]string{Name + "." + o.Namespace + ".svc", Name + "." + o.Namespace + ".svc.cluster.local"}, o.Now, certValidity)
		if err != nil {
			return nil, err
		}
		client = func(path string) admissionregistrationv1.WebhookClientConfig {
			port := int32(443)
			return admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Namespace: o.Namespace, Name: Name, Path: &path, Port: &port},
				CABundle: s.CA,
			}
		}
		objs = append(objs, inClusterObjects(o, s)...)
	} else {
		if u, err := url.Parse(o.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("manifests: webhook URL %q: the API server calls webhooks at https://HOST[:PORT] only", o.URL)
		}
		if b, _ := pem.Decode(o.CABundle); b == nil || b.Type != "CERTIFICATE" {
			return nil, errors.New("manifests: the CA bundle is not a PEM certificate")
		} else if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, fmt.Errorf("manifests: the CA bundle: %w", err)
		}
	}
	objs = append(objs, webhooks(o, client)...)
	var out bytes.Buffer
	for _, obj := range objs {
		y, err := toYAML(obj)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	return out.Bytes(), nil
}

// toYAML writes an object without the fields only the API server sets.
func toYAML(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	// Pod templates carry a creationTimestamp too.
	if spec, ok := m["spec"].(map[string]any); ok {
		if tmpl, ok := spec["template"].(map[string]any); ok {
			if md, ok := tmpl["metadata"].(map[string]any); ok {
				delete(md, "creationTimestamp")
			}
		}
	}
	return yaml.Marshal(m)
}

func crd(plural, kind, short string) *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	schema := &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		// The spec is checked by the webhook (strictly, with
		// policy-controller's rules), not by a schema: unknown fields
		// reach it and are refused with the reason.
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"spec":   {Type: "object", XPreserveUnknownFields: &preserve},
			"status": {Type: "object", XPreserveUnknownFields: &preserve},
		},
	}}
	var versions []apiextensionsv1.CustomResourceDefinitionVersion
	for _, v := range []string{"v1alpha1", "v1beta1"} {
		versions = append(versions, apiextensionsv1.CustomResourceDefinitionVersion{
			Name: v, Served: true, Storage: v == "v1alpha1", Schema: schema,
			Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
		})
	}
	names := apiextensionsv1.CustomResourceDefinitionNames{
		Plural: plural, Singular: strings.ToLower(kind), Kind: kind, ListKind: kind + "List", Categories: []string{"all", "sigstore"},
	}
	if short != "" {
		names.ShortNames = []string{short}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + cip.Group, Labels: map[string]string{"app.kubernetes.io/part-of": Name}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: cip.Group, Names: names, Scope: apiextensionsv1.ClusterScoped, Versions: versions,
		},
	}
}

func webhooks(o Options, client func(string) admissionregistrationv1.WebhookClientConfig) []any {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	timeout := o.TimeoutSeconds
	createUpdate := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	var imageRules []admissionregistrationv1.RuleWithOperations
	byGroup := map[string][]string{}
	var groups []string
	for _, r := range admission.Resources() {
		if _, ok := byGroup[r.Group]; !ok {
			groups = append(groups, r.Group)
		}
		byGroup[r.Group] = append(byGroup[r.Group], r.Resource)
	}
	for _, g := range groups {
		res := byGroup[g]
		if g == "" {
			res = append(res, "pods/ephemeralcontainers")
		}
		imageRules = append(imageRules, admissionregistrationv1.RuleWithOperations{
			Operations: createUpdate,
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{g}, APIVersions: []string{"v1"}, Resources: res, Scope: ptr(admissionregistrationv1.NamespacedScope)},
		})
	}
	// Namespaces opt in with policy.sigstore.dev/include=true, as with
	// policy-controller; the webhook's own namespace never is checked.
	nsSelector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: IncludeLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}},
		{Key: defaultNSLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{o.Namespace}},
	}}
	labels := map[string]string{"app.kubernetes.io/part-of": Name}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{
				Name: "validate." + webhookImages, ClientConfig: client(admission.PathValidate), Rules: imageRules,
				NamespaceSelector: nsSelector, FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent,
				TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
			},
			{
				Name: "validate." + webhookPolicies, ClientConfig: client(admission.PathPolicies),
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: createUpdate,
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{cip.Group}, APIVersions: []string{"*"}, Resources: []string{"clusterimagepolicies", "trustroots"}, Scope: ptr(admissionregistrationv1.ClusterScope)},
				}},
				FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent,
				TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
			},
		},
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate." + webhookImages, ClientConfig: client(admission.PathMutate), Rules: imageRules,
			NamespaceSelector: nsSelector, FailurePolicy: &fail, SideEffects: &none, MatchPolicy: &equivalent,
			TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: &ifNeeded,
		}},
	}
	return []any{mutating, validating}
}

func ptr[T any](v T) *T { return &v }

func inClusterObjects(o Options, s *certs.Serving) []any {
	ns := o.Namespace
	labels := map[string]string{"app.kubernetes.io/name": Name, "app.kubernetes.io/part-of": Name}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}
	}
	read := []string{"get", "list", "watch"}
	role := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{cip.Group}, Resources: []string{"clusterimagepolicies", "trustroots"}, Verbs: read},
			// Image pull secrets and service accounts of every namespace:
			// the registry credentials the kubelet would use.
			{APIGroups: []string{""}, Resources: []string{"secrets", "serviceaccounts"}, Verbs: read},
			// Keys and policies that ClusterImagePolicies name live in the
			// webhook's namespace (the Role below); ConfigMaps elsewhere are
			// not read.
		},
	}
	nsRole := &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: meta(Name),
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: read}},
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: Name, Namespace: ns}}
	binding := &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: Name},
		Subjects:   subject,
	}
	nsBinding := &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: meta(Name),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: Name},
		Subjects:   subject,
	}
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: meta(Name + "-tls"),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: s.Cert, corev1.TLSPrivateKeyKey: s.Key},
	}
	https := &corev1.HTTPGetAction{Scheme: corev1.URISchemeHTTPS, Port: intstr.FromInt32(servingPort)}
	probe := func(path string) *corev1.Probe {
		h := *https
		h.Path = path
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &h}, PeriodSeconds: 10}
	}
	replicas := int32(2)
	nonRoot := true
	noEscalation := false
	readOnly := true
	deploy := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(Name),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": Name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: Name,
					Containers: []corev1.Container{{
						Name:  "webhook",
						Image: o.Image,
						Args: []string{"admission", "serve",
							fmt.Sprintf("--addr=:%d", servingPort),
							"--tls-cert=" + tlsMountPath + "/" + corev1.TLSCertKey,
							"--tls-key=" + tlsMountPath + "/" + corev1.TLSPrivateKeyKey,
							"--namespace=" + ns},
						Ports:          []corev1.ContainerPort{{Name: "https", ContainerPort: servingPort}},
						ReadinessProbe: probe("/readyz"),
						LivenessProbe:  probe("/healthz"),
						VolumeMounts:   []corev1.VolumeMount{{Name: "tls", MountPath: tlsMountPath, ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot: &nonRoot, AllowPrivilegeEscalation: &noEscalation, ReadOnlyRootFilesystem: &readOnly,
							Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
					Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret.Name}}}},
				},
			},
		},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(Name),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": Name},
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(servingPort)}},
		},
	}
	namespace := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels},
	}
	account := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta(Name)}
	return []any{namespace, account, role, binding, nsRole, nsBinding, secret, deploy, svc}
}
