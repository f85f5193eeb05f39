package hallmark_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeLayout keeps the README's "Layout" section a map of what
// exists: every path it names exists, and every package of the module is
// named (a benchmark command by bench/).
func TestReadmeLayout(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	named := layoutPaths(t, string(readme))
	for p := range named {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("README layout names %s, which does not exist", p)
		}
	}
	for _, dir := range packageDirs(t) {
		if named[dir] || strings.HasPrefix(dir, "bench/") && named["bench"] {
			continue
		}
		t.Errorf("README layout does not name the package in %s/", dir)
	}
}

// TestRootDocListsPublicPackages keeps doc.go's list of the public
// packages complete: every package outside internal/, cmd/ and bench/.
func TestRootDocListsPublicPackages(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range packageDirs(t) {
		if strings.HasPrefix(dir, "internal/") || strings.HasPrefix(dir, "cmd/") || strings.HasPrefix(dir, "bench/") {
			continue
		}
		if link := "[hallmark.dev/" + dir + "]"; !strings.Contains(string(doc), link) {
			t.Errorf("doc.go does not list %s", link)
		}
	}
}

// layoutPaths returns the paths the README's layout block names: the
// first column of each line (one path, or several separated by ", "), and
// paths under cmd/, internal/, oci/, bench/, docs/ or scripts/ that its
// descriptions mention. Trailing slashes are dropped.
func layoutPaths(t *testing.T, readme string) map[string]bool {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Layout\n")
	if !ok {
		t.Fatal(`README.md has no "## Layout" section`)
	}
	_, block, ok := strings.Cut(section, "```\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("README.md's layout section has no code block")
	}
	inText := regexp.MustCompile(`\b(?:cmd|internal|oci|bench|docs|scripts)/[\w./-]*\w/?`)
	named := map[string]bool{}
	add := func(p string) { named[strings.TrimSuffix(p, "/")] = true }
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		first, desc, _ := strings.Cut(line, "  ")
		for _, p := range strings.Split(first, ", ") {
			add(strings.TrimSpace(p))
		}
		for _, p := range inText.FindAllString(desc, -1) {
			add(p)
		}
	}
	if len(named) == 0 {
		t.Fatal("README.md's layout block names no path")
	}
	return named
}

// packageDirs returns the directories of the module's packages, relative
// to the module root, without the root itself.
func packageDirs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, out)
	}
	var dirs []string
	for _, pkg := range strings.Fields(string(out)) {
		if dir, ok := strings.CutPrefix(pkg, "hallmark.dev/"); ok {
			dirs = append(dirs, dir)
		}
	}
	if len(dirs) == 0 {
		t.Fatal("go list ./... found no packages")
	}
	return dirs
}
