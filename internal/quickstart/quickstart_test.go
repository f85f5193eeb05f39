package quickstart_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"hallmark.dev/internal/quickstart"
	"hallmark.dev/internal/testkit"
)

// run runs the quickstart and returns its steps' titles, the details of
// its rejections, and the commands it prints.
func run(t *testing.T) (titles, rejected, commands []string) {
	t.Helper()
	var steps []quickstart.Step
	err := quickstart.Run(context.Background(), quickstart.Config{Dir: t.TempDir(), Report: func(s quickstart.Step) {
		steps = append(steps, s)
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, s := range steps {
		titles = append(titles, s.Title)
		if s.Rejected {
			rejected = append(rejected, s.Detail)
		}
		if s.Command != "" {
			commands = append(commands, s.Command)
		}
	}
	if last := steps[len(steps)-1]; !strings.HasPrefix(last.Title, "done in ") {
		t.Errorf("last step %q, want done", last.Title)
	}
	return titles, rejected, commands
}

func checkRejections(t *testing.T, rejected, want []string) {
	t.Helper()
	if len(rejected) != len(want) {
		t.Fatalf("got %d rejections, want %d: %q", len(rejected), len(want), rejected)
	}
	for i, w := range want {
		if !strings.Contains(rejected[i], w) {
			t.Errorf("rejection %d: %q does not contain %q", i, rejected[i], w)
		}
	}
}

func checkTitles(t *testing.T, titles, want []string) {
	t.Helper()
	all := strings.Join(titles, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no step about %q in:\n%s", w, all)
		}
	}
}

func TestRun(t *testing.T) {
	testkit.RequireTools(t, "git", "ssh-keygen")
	titles, rejected, commands := run(t)
	checkRejections(t, rejected, []string{
		"CVE-2099-1001 in libssl3t64",                  // the gate
		"denies the release of tag v20261122 (commit ", // the signing policy, one approval
		"tag: provenance says v20261122, want v20250101",
		"subject check failed",  // a copied signature
		"identity check failed", // a partial identity regexp
	})
	checkTitles(t, titles, []string{"published the signing policy", "alice, a maintainer", "bob, a maintainer", "released keylessly once two maintainers approved",
		"gate attestation", "provenance: built from github.com/example/runner-images at tag v20261122, allowed by the signing policy", "SBOM attestation by its RFC 3161 timestamp"})
	all := strings.Join(commands, "\n")
	for _, want := range []string{"--policy-writer http://127.0.0.1:5005/oidc=release-bot@runner-images.example", "hallmark policy publish ",
		"hallmark approve ", "--source-repo github.com/example/runner-images --git-dir source/.git --tag v20261122", "--signing-policy-digest sha256:"} {
		if !strings.Contains(all, want) {
			t.Errorf("no command with %q in:\n%s", want, all)
		}
	}
}

// TestRunWithoutGit: without git the quickstart runs the rest, and says
// what it skipped.
func TestRunWithoutGit(t *testing.T) {
	defer quickstart.SetLookPath(func(name string) (string, error) {
		if name == "git" {
			return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
		}
		return exec.LookPath(name)
	})()
	titles, rejected, commands := run(t)
	checkRejections(t, rejected, []string{"CVE-2099-1001 in libssl3t64", "tag: provenance says v20261122, want v20250101", "subject check failed", "identity check failed"})
	checkTitles(t, titles, []string{"skipped the signing policy steps (a release refused with one maintainer's approval, allowed after a second's): git not installed"})
	if all := strings.Join(commands, "\n"); strings.Contains(all, "--source-repo") || strings.Contains(all, "policy publish") {
		t.Errorf("commands name the signing policy without it:\n%s", all)
	}
}
