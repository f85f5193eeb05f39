package buildenv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/attest"
)

func TestFileSubject(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app-linux-amd64")
	if err := os.WriteFile(path, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := FileSubject(path)
	if err != nil {
		t.Fatal(err)
	}
	// sha256sum of "hello\n"
	want := attest.Subject{Name: "app-linux-amd64", Digest: map[string]string{"sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := FileSubject(dir); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("a directory: got %v", err)
	}
	if _, err := FileSubject(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: got %v", err)
	}
}

func TestImageSubject(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	tests := []struct {
		ref, name, err string
	}{
		{"ghcr.io/octo/app@sha256:" + hex, "ghcr.io/octo/app", ""},
		{"ghcr.io/octo/app:v1@sha256:" + hex, "ghcr.io/octo/app", ""},
		{"127.0.0.1:5000/demo/app@sha256:" + hex, "127.0.0.1:5000/demo/app", ""},
		{"alpine@sha256:" + hex, "index.docker.io/library/alpine", ""},
		{"ghcr.io/octo/app:v1", "", "must be named by digest"},
		{"ghcr.io/octo/app", "", "must be named by digest"},
		{"ghcr.io/octo/app@sha256:abc", "", "digest"},
		{"ghcr.io/octo/app@sha512:" + hex + hex, "", "want sha256"},
		{"Bad Name@sha256:" + hex, "", "repository"},
	}
	for _, tt := range tests {
		got, err := ImageSubject(tt.ref)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ImageSubject(%q): got %v, want error %q", tt.ref, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ImageSubject(%q): %v", tt.ref, err)
			continue
		}
		want := attest.Subject{Name: tt.name, Digest: map[string]string{"sha256": hex}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ImageSubject(%q) (-want +got):\n%s", tt.ref, diff)
		}
	}
	if _, err := ImageSubject("ghcr.io/octo/app:v1"); !errors.Is(err, ErrNoDigest) {
		t.Errorf("got %v, want ErrNoDigest", err)
	}
}

func TestSubjects(t *testing.T) {
	a := attest.Subject{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("a", 64)}}
	b := attest.Subject{Name: "b", Digest: map[string]string{"sha256": strings.Repeat("b", 64)}}
	a2 := attest.Subject{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("c", 64)}}
	got, err := Subjects([]attest.Subject{a, b, a})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]attest.Subject{a, b}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := Subjects([]attest.Subject{a, a2}); err == nil || !strings.Contains(err.Error(), "two subjects are named a") {
		t.Errorf("got %v, want a duplicate name error", err)
	}
}
