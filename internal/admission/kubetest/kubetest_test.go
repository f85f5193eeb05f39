package kubetest_test

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hallmark.dev/internal/admission/certs"
	"hallmark.dev/internal/admission/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// TestLoopbackWebhook checks the harness end to end: a Pod created through
// the real API server goes through a validating webhook served on loopback.
func TestLoopbackWebhook(t *testing.T) {
	c := kubetest.Get(t)
	srv, caBundle := serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var pod corev1.Pod
		if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: pod.Labels["deny"] != "true"}
		if !resp.Allowed {
			resp.Result = &metav1.Status{Message: "denied by the loopback webhook"}
		}
		review.Response, review.Request = resp, nil
		_ = json.NewEncoder(w).Encode(&review)
	}))
	ns := c.Namespace(t, "loopback", map[string]string{"loopback": "true"})
	url := srv + "/validate"
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "loopback"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "loopback.hallmark.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"loopback": "true"}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(t.Context(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create webhook configuration: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(t.Context(), "loopback", metav1.DeleteOptions{})
	})
	for _, tc := range []struct {
		name    string
		deny    string
		wantErr string
	}{
		{"allowed", "false", ""},
		{"denied", "true", "denied by the loopback webhook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: tc.name, Labels: map[string]string{"deny": tc.deny}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/app:v1"}}},
			}
			var err error
			// The API server picks up a new webhook configuration within
			// a second or so; until then pods are admitted without it.
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, err = c.Client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				if tc.wantErr == "" || err != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("create pod: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("create pod: got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// serveTLS serves h over TLS on loopback and returns its URL and CA.
func serveTLS(t *testing.T, h http.Handler) (string, []byte) {
	t.Helper()
	s, err := certs.New([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(s.Cert, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String(), s.CA
}

// TestMissingBinaries runs this package's tests again with no control
// plane binaries (an empty KUBEBUILDER_ASSETS): a test that needs the
// control plane is skipped, and fails under HALLMARK_REQUIRE_PEERS=1, as
// CI runs it, naming the missing binaries.
func TestMissingBinaries(t *testing.T) {
	if os.Getenv("KUBETEST_CHILD") == "1" {
		t.Skip("the child run")
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		name    string
		require string
		fails   bool
		want    string
	}{
		{"skipped", "", false, "--- SKIP: TestLoopbackWebhook"},
		{"required", "1", true, "HALLMARK_REQUIRE_PEERS=1: kubetest: etcd, kube-apiserver, kubectl not found in " + empty + " (run scripts/install-kube)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLoopbackWebhook$", "-test.v")
			cmd.Env = append(os.Environ(), "KUBETEST_CHILD=1", "KUBEBUILDER_ASSETS="+empty, "HALLMARK_REQUIRE_PEERS="+tc.require)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.fails {
				t.Fatalf("failed: got %v (%v), want %v\n%s", failed, err, tc.fails, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}
