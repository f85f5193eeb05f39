package admission_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hallmark.dev/internal/admission/kubetest"
	"hallmark.dev/internal/testkit"
)

// sigstore policy-controller v0.13.1, built from the Go module proxy by
// bench/admission/run (the wrapper module bench/admission/policy-controller),
// serving its own control plane with its own manifests (config/ of its
// module), reached by the API server through a Service of type
// ExternalName pointing at localhost (no kubelet, no cluster network),
// port 8443 set in its webhook configurations.
// It reads cosign's legacy signature layout only, so its images are signed
// with the real cosign.

const pcNamespace = "cosign-system"

type pcBench struct {
	c      *kubetest.Cluster
	reg    *testkit.Registry
	key    string // cosign.key
	ns     string
	seq    int
	cosign string
	dir    string
}

var (
	pcOnce   sync.Once
	pcShared *pcBench
	pcSkip   string
)

func binPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dir, err := kubetest.BinDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func setupPC(b *testing.B) *pcBench {
	b.Helper()
	pcOnce.Do(func() { pcShared, pcSkip = newPCBench(b) })
	if pcSkip != "" {
		b.Skip(pcSkip)
	}
	return pcShared
}

// moduleDir returns the directory of policy-controller's module, from the
// wrapper module.
func moduleDir() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/sigstore/policy-controller")
	cmd.Dir = "policy-controller"
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m github.com/sigstore/policy-controller: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func newPCBench(b *testing.B) (*pcBench, string) {
	webhook, cosign := binPath("policy-controller-webhook"), binPath("cosign")
	if webhook == "" {
		return nil, "policy-controller-webhook is not installed (bench/admission/run builds it)"
	}
	if cosign == "" {
		return nil, "cosign is not installed (scripts/install-peers)"
	}
	mod, err := moduleDir()
	if err != nil {
		return nil, err.Error()
	}
	// A control plane of its own: policy-controller's CRDs and webhooks
	// would collide with hallmark's.
	c, err := kubetest.Start()
	if err != nil {
		return nil, err.Error()
	}
	pcCluster = c
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "pc-bench-")
	if err != nil {
		b.Fatal(err)
	}
	p := &pcBench{c: c, cosign: cosign, dir: dir}
	p.reg = testkit.StartRegistryIn(longLived{b}, filepath.Join(dir, "registry"))
	run := func(stdin string, args ...string) {
		if out, stderr, err := c.RunKubectl(ctx, stdin, args...); err != nil {
			b.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
	for _, f := range []string{"100-namespace.yaml", "300-clusterimagepolicy.yaml", "300-trustroot.yaml",
		"config-image-policies.yaml", "config-leader-election.yaml", "config-logging.yaml", "config-observability.yaml",
		"config-policy-controller.yaml", "config-sigstore-keys.yaml", "500-webhook-configuration.yaml", "501-policy-webhook-configurations.yaml"} {
		run("", "apply", "-f", filepath.Join(mod, "config", f))
	}
	run(`apiVersion: v1
kind: Service
metadata: {name: webhook, namespace: `+pcNamespace+`}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{port: 8443}]
`, "apply", "-f", "-")
	// The API server calls the Service's port; the webhook serves on 8443
	// (its --secure-port flag is registered after its flags are parsed).
	port := `[{"op":"add","path":"/webhooks/0/clientConfig/service/port","value":8443}]`
	for _, w := range []string{"validatingwebhookconfiguration/policy.sigstore.dev", "mutatingwebhookconfiguration/policy.sigstore.dev",
		"validatingwebhookconfiguration/validating.clusterimagepolicy.sigstore.dev", "mutatingwebhookconfiguration/defaulting.clusterimagepolicy.sigstore.dev"} {
		run("", "patch", w, "--type=json", "-p", port)
	}
	run("", "patch", "crd/clusterimagepolicies.policy.sigstore.dev", "--type=json", "-p",
		`[{"op":"add","path":"/spec/conversion/webhook/clientConfig/service/port","value":8443}]`)
	cmd := exec.Command(webhook, "--disable-tuf")
	cmd.Env = append(os.Environ(), "SYSTEM_NAMESPACE="+pcNamespace, "CONFIG_LOGGING_NAME=config-logging",
		"METRICS_DOMAIN=sigstore.dev/policy", "WEBHOOK_NAME=webhook", "KUBERNETES_MIN_VERSION=1.21.0", "HOME="+dir, "KUBECONFIG="+c.Kubeconfig)
	logf, err := os.Create(filepath.Join(dir, "webhook.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Sprintf("policy-controller webhook: %v", err)
	}
	pcProcess = cmd
	// A key pair, and a policy that requires its signature.
	kp := exec.Command(cosign, "generate-key-pair")
	kp.Dir, kp.Env = dir, append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := kp.CombinedOutput(); err != nil {
		b.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	p.key = filepath.Join(dir, "cosign.key")
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		b.Fatal(err)
	}
	policy := `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: signed}
spec:
  images: [{glob: "` + p.reg.Host + `/bench/**"}]
  authorities:
  - name: release-key
    key:
      data: |
        ` + strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n        ") + "\n"
	// The policy webhook starts with the webhook: retry until it answers.
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, stderr, err := c.RunKubectl(ctx, policy, "apply", "-f", "-")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Sprintf("policy-controller did not accept the policy: %v: %s\nwebhook log tail: %s", err, stderr, tail(string(log), 2000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.ns = "bench"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: p.ns, Labels: map[string]string{"policy.sigstore.dev/include": "true"}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	imgs := p.images(b, true)
	for {
		_, err := p.create(ctx, imgs)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Sprintf("policy-controller never admitted a signed pod: %v\nwebhook log tail: %s", err, tail(string(log), 2000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	return p, ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var (
	pcCluster *kubetest.Cluster
	pcProcess *exec.Cmd
)

// stopPC stops what the policy-controller benchmarks started.
func stopPC() {
	if pcProcess != nil && pcProcess.Process != nil {
		_ = pcProcess.Process.Kill()
		_ = pcProcess.Wait()
	}
	if pcCluster != nil {
		_ = pcCluster.Stop()
	}
}

// images pushes 8 new images and signs them with cosign, in its legacy
// layout (sha256-<hex>.sig tags), which policy-controller reads.
func (p *pcBench) images(b *testing.B, tags bool) []string {
	b.Helper()
	var out []string
	for i := 0; i < containers; i++ {
		p.seq++
		repo := fmt.Sprintf("bench/app%d:v%d", i, p.seq)
		d := p.reg.PushImage(b, repo, fmt.Sprintf("pc image %d of pod %d", i, p.seq))
		sign := exec.Command(p.cosign, "sign", "--key", p.key, "--tlog-upload=false", "--use-signing-config=false",
			"--new-bundle-format=false", "-y", d.String())
		sign.Env = append(os.Environ(), "COSIGN_PASSWORD=")
		if out, err := sign.CombinedOutput(); err != nil {
			b.Fatalf("cosign sign: %v\n%s", err, out)
		}
		if tags {
			out = append(out, p.reg.Host+"/"+repo)
		} else {
			out = append(out, d.String())
		}
	}
	return out
}

func (p *pcBench) create(ctx context.Context, images []string) (time.Duration, error) {
	bn := &bench{c: p.c, ns: p.ns}
	return bn.create(ctx, images)
}

// BenchmarkPolicyController is BenchmarkWarm and BenchmarkCold with
// policy-controller as the webhook.
func BenchmarkPolicyController(b *testing.B) {
	for _, tc := range []struct {
		name string
		cold bool
		tags bool
	}{{"warm/tags", false, true}, {"warm/digests", false, false}, {"cold", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			p := setupPC(b)
			var pods [][]string
			if tc.cold {
				for i := 0; i < b.N; i++ {
					pods = append(pods, p.images(b, true))
				}
			} else {
				imgs := p.images(b, tc.tags)
				if _, err := p.create(b.Context(), imgs); err != nil {
					b.Fatal(err)
				}
				for i := 0; i < b.N; i++ {
					pods = append(pods, imgs)
				}
			}
			samples := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d, err := p.create(b.Context(), pods[i])
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
