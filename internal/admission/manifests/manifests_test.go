package manifests_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hallmark.dev/internal/admission/kubetest"
	"hallmark.dev/internal/admission/manifests"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    manifests.Options
		want string
	}{
		{"nothing", manifests.Options{}, "give an image"},
		{"both", manifests.Options{Image: "x", URL: "https://h", CABundle: []byte("ca")}, "not both"},
		{"url without ca", manifests.Options{URL: "https://h"}, "give an image"},
		{"http url", manifests.Options{URL: "http://h:1", CABundle: []byte("ca")}, "https://HOST[:PORT] only"},
		{"ca not pem", manifests.Options{URL: "https://h:1", CABundle: []byte("ca")}, "not a PEM certificate"},
		{"timeout", manifests.Options{Image: "x", TimeoutSeconds: 31}, "1 to 30 seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manifests.Write(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestInClusterManifestsApply applies the manifests printed for a webhook
// running in the cluster with kubectl, as printed, and checks what the API
// server stored. (No kubelet runs: the Deployment's pods never start.)
func TestInClusterManifestsApply(t *testing.T) {
	c := kubetest.Get(t)
	const image = "registry.example/hallmark@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	out, err := manifests.Write(manifests.Options{Image: image, Namespace: "hallmark-system", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := c.RunKubectl(t.Context(), string(out), "apply", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", err, stdout, stderr)
	}
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/clusterimagepolicies.policy.sigstore.dev created",
		"customresourcedefinition.apiextensions.k8s.io/trustroots.policy.sigstore.dev created",
		"namespace/hallmark-system created",
		"deployment.apps/hallmark-admission created",
		"service/hallmark-admission created",
		"secret/hallmark-admission-tls created",
		"clusterrole.rbac.authorization.k8s.io/hallmark-admission created",
		"mutatingwebhookconfiguration.admissionregistration.k8s.io/hallmark-admission created",
		"validatingwebhookconfiguration.admissionregistration.k8s.io/hallmark-admission created",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("kubectl apply did not say %q:\n%s", want, stdout)
		}
	}
	d, err := c.Client.AppsV1().Deployments("hallmark-system").Get(t.Context(), "hallmark-admission", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("deployment image %s, want %s", got, image)
	}
	if got := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.HasPrefix(got, "admission serve ") {
		t.Errorf("deployment args %q, want admission serve …", got)
	}
	v, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), "hallmark-admission", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range v.Webhooks {
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Name != "hallmark-admission" || len(w.ClientConfig.CABundle) == 0 {
			t.Errorf("webhook %s: client config %+v, want the service with a CA bundle", w.Name, w.ClientConfig)
		}
		if *w.FailurePolicy != "Fail" {
			t.Errorf("webhook %s: failure policy %s, want Fail", w.Name, *w.FailurePolicy)
		}
	}
	sel, err := json.Marshal(v.Webhooks[0].NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"policy.sigstore.dev/include"`, `"kubernetes.io/metadata.name","operator":"NotIn","values":["hallmark-system"]`} {
		if !strings.Contains(string(sel), want) {
			t.Errorf("namespace selector %s lacks %s", sel, want)
		}
	}
}
