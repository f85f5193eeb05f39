package buildenv

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNormalizeRemote(t *testing.T) {
	tests := []struct {
		in, want string // want "" means not ok
	}{
		{"https://github.com/octo/app.git", "https://github.com/octo/app"},
		{"https://github.com/octo/app", "https://github.com/octo/app"},
		{"https://github.com/octo/app/", "https://github.com/octo/app"},
		{"https://x-access-token:ghs_secret@github.com/octo/app.git", "https://github.com/octo/app"},
		{"http://gitlab.internal:8080/group/sub/app.git", "https://gitlab.internal:8080/group/sub/app"},
		{"git@github.com:octo/app.git", "https://github.com/octo/app"},
		{"github.com:octo/app", "https://github.com/octo/app"},
		{"ssh://git@GitHub.com/octo/app.git", "https://github.com/octo/app"},
		{"ssh://git@gitlab.example.com:2222/group/app.git", "https://gitlab.example.com/group/app"},
		{"git://git.kernel.org/pub/scm/git/git.git", "https://git.kernel.org/pub/scm/git/git"},
		{"https://github.com/octo/app.git?x=1#frag", "https://github.com/octo/app"},
		{"  https://github.com/octo/app.git\n", "https://github.com/octo/app"},
		{"", ""},
		{"/srv/git/app.git", ""},
		{"../app", ""},
		{"file:///srv/git/app.git", ""},
		{"C:\\repos\\app", ""},
		{"https://github.com/", ""},
		{"https://github.com/octo/../app", ""},
		{"https://github.com/octo/a%20b", ""},
		{"https://github.com/octo/app@evil", ""},
		{"ftp://example.com/app", ""},
		{"git@:octo/app", ""},
		{"host:/abs/path", ""},
	}
	for _, tt := range tests {
		got, ok := normalizeRemote(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("normalizeRemote(%q) = %q, want not ok", tt.in, got)
			}
			continue
		}
		if !ok || got != tt.want {
			t.Errorf("normalizeRemote(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

// FuzzNormalizeRemote checks that what normalizeRemote accepts is an https
// URL without credentials, query or fragment, and a fixed point.
func FuzzNormalizeRemote(f *testing.F) {
	for _, s := range []string{
		"https://github.com/octo/app.git", "git@github.com:octo/app.git", "ssh://u:p@h:22/a/b.git/",
		"http://h:80/a.git.git", "/local/path", "h:a", "git://h/a?b#c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := normalizeRemote(in)
		if !ok {
			return
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			strings.HasSuffix(out, ".git") || strings.HasSuffix(out, "/") || strings.Contains(out, "@") {
			t.Fatalf("normalizeRemote(%q) = %q, not a clean https URL", in, out)
		}
		again, ok := normalizeRemote(out)
		if !ok || again != out {
			t.Fatalf("normalizeRemote(%q) = %q, but normalizeRemote(%q) = %q, %v", in, out, out, again, ok)
		}
	})
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestReadGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	t.Run("not a checkout", func(t *testing.T) {
		_, err := ReadGit(ctx, t.TempDir())
		if !errors.Is(err, ErrNotCheckout) {
			t.Errorf("got %v, want ErrNotCheckout", err)
		}
	})
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	t.Run("no commit", func(t *testing.T) {
		_, err := ReadGit(ctx, dir)
		if err == nil || !strings.Contains(err.Error(), "no commit at HEAD") {
			t.Errorf("got %v, want no commit", err)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "a.txt")
	git(t, dir, "commit", "-q", "-m", "one")
	head := git(t, dir, "rev-parse", "HEAD")

	g, err := ReadGit(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Git{Commit: head, Branch: "main"}); g != want {
		t.Errorf("got %+v, want %+v", g, want)
	}

	git(t, dir, "remote", "add", "origin", "git@github.com:octo/app.git")
	git(t, dir, "tag", "v1.9.0")
	git(t, dir, "tag", "v1.10.0")
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "untracked.bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err = ReadGit(ctx, filepath.Join(dir)) // from the top
	if err != nil {
		t.Fatal(err)
	}
	if want := (Git{Commit: head, Remote: "git@github.com:octo/app.git", Branch: "main", Tag: "v1.10.0", Dirty: true}); g != want {
		t.Errorf("got %+v, want %+v", g, want)
	}

	git(t, dir, "checkout", "-q", "a.txt")
	git(t, dir, "checkout", "-q", "--detach")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	g, err = ReadGit(ctx, filepath.Join(dir, "sub")) // from a subdirectory
	if err != nil {
		t.Fatal(err)
	}
	if want := (Git{Commit: head, Remote: "git@github.com:octo/app.git", Tag: "v1.10.0"}); g != want {
		t.Errorf("got %+v, want %+v", g, want)
	}
}
