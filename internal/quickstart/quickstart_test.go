package quickstart_test

import (
	"context"
	"strings"
	"testing"

	"hallmark.dev/internal/quickstart"
)

func TestRun(t *testing.T) {
	var steps []quickstart.Step
	err := quickstart.Run(context.Background(), quickstart.Config{Dir: t.TempDir(), Report: func(s quickstart.Step) {
		steps = append(steps, s)
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var rejected, titles []string
	for _, s := range steps {
		titles = append(titles, s.Title)
		if s.Rejected {
			rejected = append(rejected, s.Detail)
		}
	}
	wantRejections := []string{
		"CVE-2099-1001 in libssl3t64", // the gate
		"tag: provenance says v20261122, want v20250101",
		"subject check failed",  // a copied signature
		"identity check failed", // a partial identity regexp
	}
	if len(rejected) != len(wantRejections) {
		t.Fatalf("got %d rejections, want %d: %q", len(rejected), len(wantRejections), rejected)
	}
	for i, want := range wantRejections {
		if !strings.Contains(rejected[i], want) {
			t.Errorf("rejection %d: %q does not contain %q", i, rejected[i], want)
		}
	}
	all := strings.Join(titles, "\n")
	for _, want := range []string{"gate attestation", "provenance", "SBOM attestation by its RFC 3161 timestamp"} {
		if !strings.Contains(all, want) {
			t.Errorf("no step about %q in:\n%s", want, all)
		}
	}
	last := steps[len(steps)-1]
	if !strings.HasPrefix(last.Title, "done in ") {
		t.Errorf("last step %q, want done", last.Title)
	}
}
