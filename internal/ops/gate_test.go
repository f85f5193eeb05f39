package ops_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/scan"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/oci/store"
)

// countingTransport counts the requests a client sends.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// gate --scan refuses an image index before trivy runs, asking the
// registry with the caller's client (its options: plain HTTP, timeout,
// credentials).
func TestGateScanRefusesIndexWithCallersClient(t *testing.T) {
	reg := testkit.StartRegistry(t)
	idx := reg.PushIndex(t, "demo/multi:v1", "multi")
	img := reg.PushImage(t, "demo/one:v1", "one")
	trivy := scan.Trivy{Path: testkit.FakeTrivy(t, t.TempDir())}
	var tr countingTransport
	c := store.New(store.Options{Transport: &tr})

	_, err := ops.Gate(t.Context(), c, ops.GateRequest{Scan: idx.String(), Scanner: trivy})
	if err == nil || !strings.Contains(err.Error(), "is an image index: trivy scans only one of its platforms") {
		t.Fatalf("got %v, want the index refused", err)
	}
	if tr.n.Load() == 0 {
		t.Error("the index check did not go through the caller's client")
	}
	res, err := ops.Gate(t.Context(), c, ops.GateRequest{Scan: img.String(), Scanner: trivy})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || res.Source != "trivy" {
		t.Errorf("got %+v, want a passing scan by trivy", res)
	}
	if _, err := ops.Gate(t.Context(), nil, ops.GateRequest{Scan: img.String(), Scanner: trivy}); err == nil || !strings.Contains(err.Error(), "needs a registry client") {
		t.Errorf("got %v, want a scan without a client refused", err)
	}
}
