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
	var rejected []string
	for _, s := range steps {
		if s.Rejected {
			rejected = append(rejected, s.Detail)
		}
	}
	if len(rejected) != 3 {
		t.Fatalf("got %d rejections, want 3: %+v", len(rejected), steps)
	}
	if !strings.Contains(rejected[0], "subject check failed") || !strings.Contains(rejected[1], "annotations check failed") || !strings.Contains(rejected[2], "identity check failed") {
		t.Errorf("rejections do not name the failed check: %q", rejected)
	}
	last := steps[len(steps)-1]
	if !strings.HasPrefix(last.Title, "done in ") {
		t.Errorf("last step %q, want done", last.Title)
	}
}
