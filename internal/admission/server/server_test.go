package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hallmark.dev/internal/admission"
	"hallmark.dev/internal/admission/admissiontest"
	"hallmark.dev/internal/admission/certs"
	"hallmark.dev/internal/admission/kubetest"
	"hallmark.dev/internal/admission/manifests"
	"hallmark.dev/internal/admission/server"
	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/testkit"
)

func TestMain(m *testing.M) {
	quietlog.Klog()
	os.Exit(kubetest.Main(m))
}

// outage makes the registry hang (until the request is cancelled) while
// on is set, and require credentials (user "puller", password "s3cret")
// for repositories under private/ while private is set.
type outage struct{ on, private atomic.Bool }

func (o *outage) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.on.Load() {
			<-r.Context().Done()
			return
		}
		if o.private.Load() && strings.HasPrefix(r.URL.Path, "/v2/private/") {
			if u, p, ok := r.BasicAuth(); !ok || u != "puller" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// stack is the webhook serving a real API server, with a registry.
type stack struct {
	t      *testing.T
	c      *kubetest.Cluster
	reg    *testkit.Registry
	outage *outage
	signer *admissiontest.Signer
	ns     string
}

const webhookNS = "hallmark-system"

// newStack serves the webhook for a test: the manifests printed for a
// webhook at a loopback URL are applied with kubectl, then the webhook is
// served from this process against the API server, as `hallmark admission
// serve --kubeconfig` serves it, until the test ends. The test gets a
// namespace that opts in.
func newStack(t *testing.T) *stack {
	t.Helper()
	c := kubetest.Get(t)
	s := &stack{t: t, c: c, outage: &outage{}}
	s.reg = testkit.StartRegistryWrapped(t, s.outage.wrap)
	s.signer = admissiontest.NewSigner(t)
	ctx := t.Context()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: webhookNS}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	serving, err := certs.New([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, serving.Cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, serving.Key, 0o600); err != nil {
		t.Fatal(err)
	}
	// The port is taken before the server starts, to print the manifests
	// that name it; the CRDs must exist before the webhook reads them.
	addr := freeAddr(t)
	m, err := manifests.Write(manifests.Options{URL: "https://" + addr, CABundle: serving.CA, Namespace: webhookNS, TimeoutSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	s.kubectl(string(m), "apply", "-f", "-")
	s.kubectl("", "wait", "--for=condition=Established", "--timeout=30s",
		"crd/clusterimagepolicies.policy.sigstore.dev", "crd/trustroots.policy.sigstore.dev")
	t.Cleanup(func() {
		// Policies of this test go; the next test's webhook starts clean.
		_, _, _ = c.RunKubectl(context.Background(), "", "delete", "clusterimagepolicies,trustroots", "--all", "--wait=false")
	})
	srvCtx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- server.Run(srvCtx, server.Config{
			Addr: addr, TLSCert: certFile, TLSKey: keyFile, Kube: c.Config, Namespace: webhookNS,
			NoMatch: admission.NoMatchDeny, RegistryTimeout: 2 * time.Second,
			Ready: func(string) { close(ready) },
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-errc
	})
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("webhook: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("webhook: not ready after 60s")
	}
	s.ns = c.Namespace(t, strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), map[string]string{manifests.IncludeLabel: "true"})
	// The API server takes a moment to call the new webhook address.
	probe := "probe.invalid/none@sha256:" + strings.Repeat("0", 64)
	s.eventually("the API server calls this test's webhook", func() error {
		_, err := s.createPod("probe", true, probe)
		if err != nil && strings.Contains(err.Error(), "no matching policies") {
			return nil
		}
		return fmt.Errorf("probe pod: %v", err)
	})
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func (s *stack) kubectl(stdin string, args ...string) string {
	s.t.Helper()
	out, stderr, err := s.c.RunKubectl(s.t.Context(), stdin, args...)
	if err != nil {
		s.t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// eventually retries f until it succeeds or 20 seconds pass: policies
// reach the webhook through a watch, a moment after kubectl returns.
func (s *stack) eventually(what string, f func() error) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *stack) createPod(name string, dryRun bool, images ...string) (*corev1.Pod, error) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for i, im := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: im})
	}
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return s.c.Client.CoreV1().Pods(s.ns).Create(s.t.Context(), p, opts)
}

// policy applies a ClusterImagePolicy written as for policy-controller,
// with ${REG} and ${KEY} replaced, and waits until the webhook applies it:
// until probe (a pod's images) gets the expected answer.
func (s *stack) policy(doc string) {
	s.t.Helper()
	doc = strings.ReplaceAll(doc, "${REG}", s.reg.Host)
	doc = strings.ReplaceAll(doc, "${KEY}", strings.ReplaceAll(strings.TrimSpace(s.signer.PublicKeyPEM), "\n", "\n        "))
	s.kubectl(doc, "apply", "-f", "-")
}

func (s *stack) push(repo, text string) (tag, digest string) {
	s.t.Helper()
	d := s.reg.PushImage(s.t, repo, text)
	return s.reg.Host + "/" + repo, d.String()
}

const keyPolicy = `
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: signed-images
spec:
  images:
  - glob: "${REG}/demo/**"
  authorities:
  - name: release-key
    key:
      data: |
        ${KEY}
`

// TestPodSignedAdmittedUnsignedDenied is the definition of done:
// through a real kube-apiserver, with a ClusterImagePolicy written as for
// policy-controller, a Pod with a signed image is admitted with its tag
// pinned to the digest verified, and one with an unsigned image is denied
// with the image, the policy and the failed check named.
func TestPodSignedAdmittedUnsignedDenied(t *testing.T) {
	s := newStack(t)
	signedTag, signed := s.push("demo/signed:v1", "signed")
	unsignedTag, unsigned := s.push("demo/unsigned:v1", "unsigned")
	s.signer.Sign(t, signed)
	s.policy(keyPolicy)
	s.eventually("the policy applies", func() error {
		_, err := s.createPod("check", true, signedTag)
		return err
	})
	p, err := s.createPod("signed", false, signedTag)
	if err != nil {
		t.Fatalf("signed pod: %v", err)
	}
	if got := p.Spec.Containers[0].Image; got != signed {
		t.Errorf("stored image %s, want it pinned to %s", got, signed)
	}
	_, err = s.createPod("unsigned", false, signedTag, unsignedTag)
	wantDenied(t, err, `admission webhook "validate.images.hallmark.dev" denied the request`, unsigned,
		"spec.containers[1].image", "failed policy signed-images", "authority release-key", "no signatures found")
}

func wantDenied(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted, want denied with %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("denied with %q, want it to contain %q", err, p)
		}
	}
	t.Logf("denied: %v", err)
}

func TestDeploymentPinnedAndChecked(t *testing.T) {
	s := newStack(t)
	signedTag, signed := s.push("demo/app:v1", "app")
	unsignedTag, _ := s.push("demo/other:v1", "other")
	s.signer.Sign(t, signed)
	s.policy(keyPolicy)
	deploy := func(name, image string) (*appsv1.Deployment, error) {
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						InitContainers: []corev1.Container{{Name: "init", Image: image}},
						Containers:     []corev1.Container{{Name: "app", Image: image}},
					},
				},
			},
		}
		return s.c.Client.AppsV1().Deployments(s.ns).Create(t.Context(), d, metav1.CreateOptions{})
	}
	var d *appsv1.Deployment
	s.eventually("the signed deployment is admitted", func() error {
		var err error
		d, err = deploy("signed", signedTag)
		return err
	})
	for _, c := range append(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers...) {
		if c.Image != signed {
			t.Errorf("container %s stored as %s, want %s", c.Name, c.Image, signed)
		}
	}
	_, err := deploy("unsigned", unsignedTag)
	wantDenied(t, err, "spec.template.spec.initContainers[0].image", "spec.template.spec.containers[0].image", "failed policy signed-images")
}

// TestPolicyRefusedAtApply: kubectl apply of a policy policy-controller
// would refuse fails with the reason.
func TestPolicyRefusedAtApply(t *testing.T) {
	s := newStack(t)
	for _, tc := range []struct{ doc, want string }{
		{strings.Replace(keyPolicy, "  - name: release-key\n    key:\n      data: |\n        ${KEY}\n", "  - keyless:\n      url: https://fulcio.example\n", 1), "missing field(s): spec.authorities[0].keyless.identities"},
		{strings.Replace(keyPolicy, "spec:\n", "spec:\n  mode: audit\n", 1), "invalid value: audit: spec.mode"},
		{strings.Replace(keyPolicy, "spec:\n", "spec:\n  imagez: []\n", 1), `unknown field "spec.imagez"`},
		{strings.Replace(keyPolicy, "${KEY}", "-----BEGIN PUBLIC KEY-----\n        AAAA\n        -----END PUBLIC KEY-----", 1), "spec.authorities[0].key.data"},
	} {
		doc := strings.ReplaceAll(tc.doc, "${REG}", s.reg.Host)
		doc = strings.ReplaceAll(doc, "${KEY}", strings.ReplaceAll(strings.TrimSpace(s.signer.PublicKeyPEM), "\n", "\n        "))
		_, stderr, err := s.c.RunKubectl(t.Context(), doc, "apply", "-f", "-")
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("kubectl apply: got %v, %q; want a refusal containing %q", err, stderr, tc.want)
		}
		t.Logf("kubectl apply: %s", stderr)
	}
}

// TestPolicyChangesFollowed: a changed policy applies without a restart.
func TestPolicyChangesFollowed(t *testing.T) {
	s := newStack(t)
	tag, digest := s.push("demo/app:v1", "app")
	s.signer.Sign(t, digest)
	s.policy(keyPolicy)
	s.eventually("signed admitted", func() error { _, err := s.createPod("a", true, tag); return err })
	other := admissiontest.NewSigner(t)
	s.kubectl(strings.ReplaceAll(strings.ReplaceAll(keyPolicy, "${REG}", s.reg.Host), "${KEY}",
		strings.ReplaceAll(strings.TrimSpace(other.PublicKeyPEM), "\n", "\n        ")), "apply", "-f", "-")
	s.eventually("the new key applies", func() error {
		_, err := s.createPod("b", true, tag)
		if err != nil && strings.Contains(err.Error(), "signature check failed") {
			return nil
		}
		return fmt.Errorf("got %v, want a denial by the new key", err)
	})
}

// TestOutageFailsClosed: a registry that does not answer denies within
// the webhook's timeout, with the reason, and the API server is never held
// past it.
func TestOutageFailsClosed(t *testing.T) {
	s := newStack(t)
	_, digest := s.push("demo/app:v1", "app")
	s.signer.Sign(t, digest)
	s.policy(keyPolicy)
	s.eventually("signed admitted", func() error { _, err := s.createPod("a", true, digest); return err })
	_, fresh := s.push("demo/fresh:v1", "fresh")
	s.outage.on.Store(true)
	defer s.outage.on.Store(false)
	start := time.Now()
	_, err := s.createPod("b", false, fresh)
	took := time.Since(start)
	wantDenied(t, err, fresh, "failed policy signed-images", "registry "+s.reg.Host)
	t.Logf("the API server answered in %s", took)
	if took > 5*time.Second {
		t.Errorf("the API server answered after %s, past the webhook's 5s timeout", took)
	}
	// A verdict already cached still admits.
	if _, err := s.createPod("c", true, digest); err != nil {
		t.Errorf("cached verdict during the outage: %v", err)
	}
}

func TestNamespacesOptIn(t *testing.T) {
	s := newStack(t)
	tag, _ := s.push("demo/unsigned:v1", "unsigned")
	s.policy(keyPolicy)
	for _, ns := range []string{
		s.c.Namespace(t, strings.ToLower(t.Name())+"-out", nil),
		webhookNS,
	} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tag}}}}
		if _, err := s.c.Client.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
}

func TestAttestationPolicyHolds(t *testing.T) {
	s := newStack(t)
	tag, digest := s.push("demo/app:v1", "app")
	s.signer.Attest(t, digest, "https://cosign.sigstore.dev/attestation/v1", []byte("foobar e2e test"))
	// As policy-controller's own end-to-end test writes it.
	s.policy(keyPolicy + `    attestations:
    - name: custom-match-predicate
      predicateType: "https://cosign.sigstore.dev/attestation/v1"
      policy:
        type: cue
        data: |
          predicateType: "https://cosign.sigstore.dev/attestation/v1"
          predicate: Data: "foobar e2e test"
`)
	s.eventually("the attested image is admitted", func() error { _, err := s.createPod("a", true, tag); return err })
	s.policy(strings.Replace(keyPolicy, "signed-images", "signed-images", 1) + `    attestations:
    - name: custom-match-predicate
      predicateType: "https://cosign.sigstore.dev/attestation/v1"
      policy:
        type: rego
        data: |
          package sigstore
          default isCompliant = false
          isCompliant {
            input.predicate.Data == "something else"
          }
`)
	s.eventually("the rego policy denies", func() error {
		_, err := s.createPod("b", true, tag)
		if err != nil && strings.Contains(err.Error(), "attestation custom-match-predicate: failed its policy") {
			return nil
		}
		return fmt.Errorf("got %v, want the attestation policy to deny", err)
	})
}

// TestPullSecrets: registry credentials come from the Pod's
// imagePullSecrets and its service account's, as the kubelet uses them.
func TestPullSecrets(t *testing.T) {
	s := newStack(t)
	tag, digest := s.push("private/app:v1", "private")
	s.signer.Sign(t, digest)
	s.outage.private.Store(true)
	defer s.outage.private.Store(false)
	s.policy(strings.Replace(keyPolicy, "/demo/**", "/private/**", 1))
	cfg := fmt.Sprintf(`{"auths":{%q:{"username":"puller","password":"s3cret"}}}`, s.reg.Host)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pull"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)}}
	if _, err := s.c.Client.CoreV1().Secrets(s.ns).Create(t.Context(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "puller"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}}
	if _, err := s.c.Client.CoreV1().ServiceAccounts(s.ns).Create(t.Context(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, spec corev1.PodSpec) error {
		spec.Containers = []corev1.Container{{Name: "c", Image: tag}}
		_, err := s.c.Client.CoreV1().Pods(s.ns).Create(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	s.eventually("the pod's pull secret is used", func() error {
		return pod("with-secret", corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}})
	})
	if err := pod("with-account", corev1.PodSpec{ServiceAccountName: "puller"}); err != nil {
		t.Errorf("the service account's pull secret: %v", err)
	}
	wantDenied(t, pod("anonymous", corev1.PodSpec{}), "private/app:v1", "cannot be pinned to a digest", "access denied", "imagePullSecrets")
}
