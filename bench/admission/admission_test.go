// Package admission_test measures the admission webhook through a real
// kube-apiserver: the time for the API server to admit (create) an
// 8-container Pod whose images a ClusterImagePolicy requires signed, with
// the webhook's verdicts cached (warm) and not (cold), on hallmark's
// embedded registry. See README.md; bench/admission/run runs it.
package admission_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

const containers = 8

var (
	clusterOnce sync.Once
	cluster     *kubetest.Cluster
	clusterErr  error
)

// TestMain stops the control plane if a benchmark started one; plain
// `go test` starts none.
func TestMain(m *testing.M) {
	quietlog.Klog()
	code := m.Run()
	if cluster != nil {
		_ = cluster.Stop()
	}
	stopPC()
	os.Exit(code)
}

func getCluster(b *testing.B) *kubetest.Cluster {
	b.Helper()
	clusterOnce.Do(func() { cluster, clusterErr = kubetest.Start() })
	if clusterErr != nil {
		b.Skipf("control plane: %v", clusterErr)
	}
	return cluster
}

// bench is the webhook serving the API server, with a signed-image policy.
type bench struct {
	c      *kubetest.Cluster
	reg    *testkit.Registry
	signer *admissiontest.Signer
	ns     string
	seq    int
}

var (
	benchOnce sync.Once
	shared    *bench
)

func setup(b *testing.B) *bench {
	b.Helper()
	c := getCluster(b)
	benchOnce.Do(func() { shared = newBench(b, c) })
	if shared == nil {
		b.Fatal("setup failed")
	}
	return shared
}

func newBench(b *testing.B, c *kubetest.Cluster) *bench {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "admission-bench-")
	if err != nil {
		b.Fatal(err)
	}
	// The registry and the webhook live until the process ends: they serve
	// every benchmark.
	reg := testkit.StartRegistryIn(longLived{b}, filepath.Join(dir, "registry"))
	signer := admissiontest.NewSigner(b)
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hallmark-system"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	serving, err := certs.New([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, serving.Cert, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(keyFile, serving.Key, 0o600); err != nil {
		b.Fatal(err)
	}
	addr := "127.0.0.1:18443"
	if a := os.Getenv("BENCH_WEBHOOK_ADDR"); a != "" {
		addr = a
	}
	m, err := manifests.Write(manifests.Options{URL: "https://" + addr, CABundle: serving.CA, TimeoutSeconds: 10})
	if err != nil {
		b.Fatal(err)
	}
	if out, stderr, err := c.RunKubectl(ctx, string(m), "apply", "-f", "-"); err != nil {
		b.Fatalf("kubectl apply: %v\n%s%s", err, out, stderr)
	}
	if _, stderr, err := c.RunKubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=30s",
		"crd/clusterimagepolicies.policy.sigstore.dev", "crd/trustroots.policy.sigstore.dev"); err != nil {
		b.Fatalf("CRDs: %v\n%s", err, stderr)
	}
	ready := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- server.Run(ctx, server.Config{Addr: addr, TLSCert: certFile, TLSKey: keyFile, Kube: c.Config,
			Namespace: "hallmark-system", NoMatch: admission.NoMatchDeny, Ready: func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-errc:
		b.Fatalf("webhook: %v", err)
	}
	policy := `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  images: [{glob: "` + reg.Host + `/bench/**"}]
  authorities:
  - name: release-key
    key:
      data: |
        ` + strings.ReplaceAll(strings.TrimSpace(signer.PublicKeyPEM), "\n", "\n        ") + "\n"
	if out, stderr, err := c.RunKubectl(ctx, policy, "apply", "-f", "-"); err != nil {
		b.Fatalf("kubectl apply policy: %v\n%s%s", err, out, stderr)
	}
	ns := "bench"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{manifests.IncludeLabel: "true"}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	bn := &bench{c: c, reg: reg, signer: signer, ns: ns}
	// Wait for the webhook to apply the policy.
	imgs := bn.images(b, true)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := bn.create(ctx, imgs)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the policy never applied: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return bn
}

// images pushes and signs 8 new images; tags or digests.
func (bn *bench) images(b *testing.B, tags bool) []string {
	b.Helper()
	var out []string
	for i := 0; i < containers; i++ {
		bn.seq++
		repo := fmt.Sprintf("bench/app%d:v%d", i, bn.seq)
		d := bn.reg.PushImage(b, repo, fmt.Sprintf("image %d of pod %d", i, bn.seq))
		bn.signer.Sign(b, d.String())
		if tags {
			out = append(out, bn.reg.Host+"/"+repo)
		} else {
			out = append(out, d.String())
		}
	}
	return out
}

func (bn *bench) create(ctx context.Context, images []string) (time.Duration, error) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	for i, im := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: im})
	}
	start := time.Now()
	_, err := bn.c.Client.CoreV1().Pods(bn.ns).Create(ctx, p, metav1.CreateOptions{})
	return time.Since(start), err
}

// report adds percentiles of the samples to the benchmark's output.
func report(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	at := func(q float64) float64 {
		i := int(q*float64(len(samples))+0.5) - 1
		i = max(0, min(i, len(samples)-1))
		return float64(samples[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWarm admits the same 8-container Pod again and again: every
// verdict is cached. With tags, the mutating webhook takes the 8 digests
// from its tag cache (a tag is resolved again once its entry is 30 s old);
// with digests, nothing is resolved. No registry is asked either way.
func BenchmarkWarm(b *testing.B) {
	for _, tags := range []bool{true, false} {
		name := "digests"
		if tags {
			name = "tags"
		}
		b.Run(name, func(b *testing.B) {
			bn := setup(b)
			imgs := bn.images(b, tags)
			if _, err := bn.create(b.Context(), imgs); err != nil {
				b.Fatal(err)
			}
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := bn.create(b.Context(), imgs)
				if err != nil {
					b.Fatal(err)
				}
				samples = append(samples, d)
			}
			b.StopTimer()
			report(b, samples)
		})
	}
}

// BenchmarkCold admits Pods of 8 images never verified before: each
// admission resolves the tags, fetches and verifies the 8 images'
// signatures.
func BenchmarkCold(b *testing.B) {
	bn := setup(b)
	b.StopTimer()
	pods := make([][]string, b.N)
	for i := range pods {
		pods[i] = bn.images(b, true)
	}
	samples := make([]time.Duration, 0, b.N)
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		d, err := bn.create(b.Context(), pods[i])
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, d)
	}
	b.StopTimer()
	report(b, samples)
}

// BenchmarkNoWebhook is the API server alone: a namespace that does not
// opt in.
func BenchmarkNoWebhook(b *testing.B) {
	bn := setup(b)
	ns := "bench-out"
	if _, err := bn.c.Client.CoreV1().Namespaces().Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	imgs := bn.images(b, false)
	out := &bench{c: bn.c, ns: ns}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := out.create(b.Context(), imgs)
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, d)
	}
	b.StopTimer()
	report(b, samples)
}

// longLived is a testing.TB whose cleanups never run: the registry serves
// every benchmark of the process.
type longLived struct{ testing.TB }

func (longLived) Cleanup(func()) {}
func (l longLived) Context() context.Context {
	return context.Background()
}
