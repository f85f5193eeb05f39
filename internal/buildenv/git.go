package buildenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// ReadGit reads the checkout at dir by running git: HEAD, the origin
// remote's URL, the branch, a tag at HEAD and whether tracked files have
// changes. Outside a checkout it returns an error wrapping
// [ErrNotCheckout]. The repository's fsmonitor hook is disabled and no
// optional locks are taken, so reading runs nothing from the repository
// and writes nothing to it.
func ReadGit(ctx context.Context, dir string) (Git, error) {
	run := func(args ...string) (string, error) {
		full := append([]string{"--no-optional-locks", "-c", "core.fsmonitor=false", "-C", dir}, args...)
		cmd := exec.CommandContext(ctx, "git", full...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				return "", fmt.Errorf("git %s: %s", args[0], firstLine(msg))
			}
			return "", fmt.Errorf("git %s: %w", args[0], err)
		}
		return strings.TrimSpace(stdout.String()), nil
	}
	if _, err := exec.LookPath("git"); err != nil {
		return Git{}, fmt.Errorf("buildenv: git is not installed: %w", err)
	}
	inside, err := run("rev-parse", "--is-inside-work-tree")
	if err != nil || inside != "true" {
		return Git{}, fmt.Errorf("buildenv: %s: %w", dir, ErrNotCheckout)
	}
	var g Git
	if g.Commit, err = run("rev-parse", "--verify", "--quiet", "HEAD^{commit}"); err != nil {
		return Git{}, fmt.Errorf("buildenv: %s: the repository has no commit at HEAD", dir)
	}
	// Each of these fails when there is nothing to find: no origin
	// remote, a detached HEAD.
	g.Remote, _ = run("remote", "get-url", "origin")
	g.Branch, _ = run("symbolic-ref", "--quiet", "--short", "HEAD")
	tags, err := run("tag", "--points-at", "HEAD", "--sort=-version:refname")
	if err != nil {
		return Git{}, fmt.Errorf("buildenv: %w", err)
	}
	g.Tag = firstLine(tags)
	status, err := run("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return Git{}, fmt.Errorf("buildenv: %w", err)
	}
	g.Dirty = status != ""
	return g, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// WorkingCheckout returns a reader of the git checkout in the current
// directory, for Detect.
func WorkingCheckout(ctx context.Context) func() (Git, error) {
	return func() (Git, error) {
		dir, err := os.Getwd()
		if err != nil {
			return Git{}, err
		}
		return ReadGit(ctx, dir)
	}
}
