// Package kubetest starts a real Kubernetes control plane for tests: etcd
// and kube-apiserver, the binaries scripts/install-kube builds from the Go
// module proxy, run by controller-runtime's envtest. No controller-manager,
// scheduler or kubelet runs: objects are admitted (or not) and stored, and
// nothing more happens to them.
//
// A package's tests share one control plane, started in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
// and each test asks for it with [Get], which skips the test when the
// binaries are not installed, unless HALLMARK_REQUIRE_PEERS=1 (as in CI),
// when it fails it.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"hallmark.dev/internal/testkit"
)

// Binaries are the programs a control plane needs, by file name.
var Binaries = []string{"etcd", "kube-apiserver", "kubectl"}

// Cluster is a running control plane.
type Cluster struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same access.
	Kubeconfig string
	// Kubectl is the path of the kubectl binary.
	Kubectl string
	// Client is a typed client for Config.
	Client kubernetes.Interface

	env *envtest.Environment
	dir string
}

var (
	shared   *Cluster
	startErr error
)

// Main starts the shared control plane, runs the tests and stops it. A
// control plane that cannot start is reported by [Get] to each test.
func Main(m *testing.M) int {
	shared, startErr = Start()
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "kubetest: stop: %v\n", err)
		}
	}
	return code
}

// Get returns the shared control plane, skipping the test when its
// binaries are not installed (failing it under HALLMARK_REQUIRE_PEERS=1)
// and failing it when it did not start.
func Get(t testing.TB) *Cluster {
	t.Helper()
	var missing *MissingBinariesError
	switch {
	case errors.As(startErr, &missing):
		testkit.SkipOrFail(t, fmt.Errorf("%w (run scripts/install-kube)", startErr))
	case startErr != nil:
		t.Fatalf("control plane: %v", startErr)
	case shared == nil:
		t.Fatal("control plane: not started: call kubetest.Main from TestMain")
	}
	return shared
}

// MissingBinariesError says which control plane binaries are not installed.
type MissingBinariesError struct {
	Dir     string
	Missing []string
}

func (e *MissingBinariesError) Error() string {
	return fmt.Sprintf("kubetest: %s not found in %s", strings.Join(e.Missing, ", "), e.Dir)
}

// BinDir is where the binaries are looked for: $KUBEBUILDER_ASSETS if set,
// else the Go bin directory scripts/install-kube installs into.
func BinDir() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	if d := os.Getenv("GOBIN"); d != "" {
		return d, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("kubetest: go env GOPATH: %w", err)
	}
	gopath := strings.TrimSpace(string(out))
	if i := strings.IndexRune(gopath, os.PathListSeparator); i >= 0 {
		gopath = gopath[:i]
	}
	return filepath.Join(gopath, "bin"), nil
}

// Start starts a control plane. The API server runs without the
// ServiceAccount admission plugin, since no controller creates service
// accounts or their tokens.
func Start() (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return nil, &MissingBinariesError{Dir: bin, Missing: missing}
	}
	// envtest logs through controller-runtime's logger; its messages are
	// in the errors it returns.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	env.ControlPlane.GetAPIServer().Configure().
		Set("disable-admission-plugins", "ServiceAccount").
		Set("service-cluster-ip-range", "10.0.0.0/24")
	cfg, err := env.Start()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("kubetest: start control plane: %w", err)
	}
	c := &Cluster{Config: cfg, Kubectl: filepath.Join(bin, "kubectl"), env: env, dir: dir}
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, cfg)
	if err == nil {
		var kc []byte
		if kc, err = user.KubeConfig(); err == nil {
			c.Kubeconfig = filepath.Join(dir, "kubeconfig")
			err = os.WriteFile(c.Kubeconfig, kc, 0o600)
		}
	}
	if err == nil {
		c.Client, err = kubernetes.NewForConfig(cfg)
	}
	if err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	return c, nil
}

// Stop stops the control plane and removes its files.
func (c *Cluster) Stop() error {
	err := c.env.Stop()
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

// Namespace creates a namespace with the labels for the test and deletes
// it when the test ends (no controller finalizes it, so its objects stay in
// etcd until the control plane stops).
func (c *Cluster) Namespace(t testing.TB, name string, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// RunKubectl runs kubectl against the control plane with args and stdin,
// returning its standard output and error.
func (c *Cluster) RunKubectl(ctx context.Context, stdin string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
