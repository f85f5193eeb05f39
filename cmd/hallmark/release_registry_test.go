package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/keys"
)

// nonLoopbackIP returns an IPv4 address of this host that is not a
// loopback address, or skips the test.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to serve a plain-HTTP registry on")
	return ""
}

// release --scan talks to the registry with the client the flags make:
// --allow-http-registry reaches a plain-HTTP registry off loopback for the
// index check before the scan as for everything else.
func TestReleaseScanUsesRegistryFlags(t *testing.T) {
	ip := nonLoopbackIP(t)
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	img, err := sample.Image("released over plain HTTP", "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(host+"/demo/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithTransport(http.DefaultTransport)); err != nil {
		t.Fatal(err)
	}
	kp := testkit.NewKeyPair(t, t.TempDir(), "cosign", keys.ECDSAP256, "pw")
	env := func(k string) (string, bool) {
		if k == "HALLMARK_PASSWORD" {
			return "pw", true
		}
		return "", false
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"release", "--key", kp.KeyPath, "--scan", "--trivy", testkit.FakeTrivy(t, t.TempDir()), "--allow-http-registry", "--timeout", "20s", host + "/demo/app:v1"},
		strings.NewReader(""), &stdout, &stderr, env)
	if code != 0 || !strings.Contains(stdout.String(), "Released "+host+"/demo/app@sha256:") {
		t.Fatalf("release exited %d, want 0 and the image released\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
}
