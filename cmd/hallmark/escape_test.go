package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// fakeVerified is what a hostile registry, bundle or signer would like a
// terminal to show: a green "Verified" line of its own.
const fakeVerified = "\x1b[32mVerified\x1b[0m"

// controlBytes reports whether out holds a byte a terminal acts on other
// than a line break: C0 (but \n), DEL, or a C1 control in UTF-8.
func controlBytes(out string) bool {
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f)) {
			return true
		}
	}
	return false
}

type severityName string // a named string type, as many results use

func TestPrintersEscapeControlCharacters(t *testing.T) {
	tests := []struct {
		name  string
		print func(u *ui)
		out   string // stdout
		err   string // stderr
	}{
		{"printf value", func(u *ui) { u.printf("Verified %s\n", "img"+fakeVerified) },
			"Verified img\\u001b[32mVerified\\u001b[0m\n", ""},
		{"printf line break in a value", func(u *ui) { u.printf("  %s\n", "a\nVerified b\r\tc") },
			"  a\\u000aVerified b\\u000d\\u0009c\n", ""},
		{"printf DEL, C1 and a stray byte", func(u *ui) { u.printf("%s|%s|%s\n", "\x7f", "\u009b31m", "\x9b") },
			"\\u007f|\\u009b31m|\\x9b\n", ""},
		{"printf named string, error, bytes", func(u *ui) {
			u.printf("%s %s %s %d\n", severityName("HIGH\x1b"), errors.New("e\x1b"), []byte("b\x1b"), 7)
		}, "HIGH\\u001b e\\u001b b\\u001b 7\n", ""},
		{"printf multiline keeps its lines", func(u *ui) { u.printf("%s", multiline("origin\x1b\n42\n\tsig\n")) },
			"origin\\u001b\n42\n\tsig\n", ""},
		{"printf leaves plain text alone", func(u *ui) { u.printf("%s → %s\n", `C:\path`, "ünïcode") },
			"C:\\path → ünïcode\n", ""},
		{"info and warn", func(u *ui) { u.info("wrote %s", "f"+fakeVerified); u.warn("w %s", "\x1b]0;title\x07") },
			"", "hallmark: wrote f\\u001b[32mVerified\\u001b[0m\nhallmark: warning: w \\u001b]0;title\\u0007\n"},
		{"table cells", func(u *ui) { u.table("  ", [][]string{{"ID", "NOTE"}, {"CVE-1\x1b[2K", "a\tb\nc"}}) },
			"  ID              NOTE\n  CVE-1\\u001b[2K  a\\u0009b\\u000ac\n", ""},
		{"error lines and hint", func(u *ui) {
			u.fail(withHint(errors.New("registry says "+fakeVerified+"\nsecond line\r"), "hint %s", "\x1b[1m"))
		}, "", "hallmark: error: registry says \\u001b[32mVerified\\u001b[0m\nhallmark: error: second line\\u000d\nhallmark: hint: hint \\u001b[1m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			tt.print(&ui{out: &out, err: &errb})
			if out.String() != tt.out {
				t.Errorf("stdout: got %q, want %q", out.String(), tt.out)
			}
			if errb.String() != tt.err {
				t.Errorf("stderr: got %q, want %q", errb.String(), tt.err)
			}
		})
	}
}

// TestJSONOutputEscapesControlCharacters: encoding/json escapes C0 but
// writes DEL and C1 as they are; the JSON printer escapes them too and the
// document still decodes to the same value.
func TestJSONOutputEscapesControlCharacters(t *testing.T) {
	var out bytes.Buffer
	u := &ui{out: &out, err: io.Discard}
	in := map[string]string{"note": fakeVerified + "\x7f\u009b"}
	if err := u.json(in); err != nil {
		t.Fatal(err)
	}
	if controlBytes(out.String()) {
		t.Errorf("JSON output holds control characters: %q", out.String())
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("JSON output does not decode: %v\n%s", err, out.String())
	}
	if got["note"] != in["note"] {
		t.Errorf("decoded %q, want %q", got["note"], in["note"])
	}
}

// runHallmark runs the CLI in-process with HALLMARK_PASSWORD set empty.
func runHallmark(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) {
		if k == "HALLMARK_PASSWORD" {
			return "", true
		}
		return "", false
	}
	code = run(args, strings.NewReader(""), &out, &errb, lookup)
	return code, out.String(), errb.String()
}

// TestUntrustedTextIsEscaped runs the CLI against content that carries
// terminal escapes: a signed annotation, and a registry's error message.
func TestUntrustedTextIsEscaped(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "k")
	if code, _, stderr := runHallmark("generate-key-pair", "--output-key-prefix", prefix); code != 0 {
		t.Fatalf("generate-key-pair: %s", stderr)
	}
	reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	img, err := pushSample(strings.TrimPrefix(reg.URL, "http://")+"/demo/app:v1", "app", false)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("signed annotation", func(t *testing.T) {
		if code, _, stderr := runHallmark("sign", "--key", prefix+".key", "-a", "note="+fakeVerified, img.String()); code != 0 {
			t.Fatalf("sign: %s", stderr)
		}
		code, stdout, stderr := runHallmark("verify", "--key", prefix+".pub", img.String())
		if code != 0 {
			t.Fatalf("verify: %s", stderr)
		}
		if want := `    annotations: note=\u001b[32mVerified\u001b[0m`; !strings.Contains(stdout, want+"\n") {
			t.Errorf("stdout:\n%s\nwant a line %q", stdout, want)
		}
		if controlBytes(stdout + stderr) {
			t.Errorf("output holds control characters: stdout %q, stderr %q", stdout, stderr)
		}
	})

	t.Run("registry error message", func(t *testing.T) {
		hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":[{"code":"DENIED","message":"no\u001b[2K\rVerified evil\nVerified evil"}]}`)
		}))
		t.Cleanup(hostile.Close)
		ref := strings.TrimPrefix(hostile.URL, "http://") + "/demo/app@" + img.DigestStr()
		code, stdout, stderr := runHallmark("verify", "--key", prefix+".pub", ref)
		if code == 0 {
			t.Fatalf("verify against a registry that denies everything succeeded: %s", stdout)
		}
		if !strings.Contains(stderr, `no\u001b[2K\u000dVerified evil`) {
			t.Errorf("stderr:\n%s\nwant the registry's message, escaped", stderr)
		}
		for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
			if !strings.HasPrefix(line, "hallmark: ") {
				t.Errorf("stderr line %q does not start with \"hallmark: \"", line)
			}
		}
		if controlBytes(stdout + stderr) {
			t.Errorf("output holds control characters: stdout %q, stderr %q", stdout, stderr)
		}
	})
}

// TestEscapedArgsKeepVerbs: escaping does not change how fmt formats a
// value that needs none.
func TestEscapedArgsKeepVerbs(t *testing.T) {
	tests := []struct {
		format string
		arg    any
	}{
		{"%d", 42},
		{"%5.1f", 3.14159},
		{"%-8s|", "ab"},
		{"%q", "a\x1bb"},
		{"%v", 90 * time.Second},
		{"%s", (*bytes.Buffer)(nil)},
		{"%x", []byte{1, 2}},
		{"%v", []string{"a", "b"}},
	}
	for _, tt := range tests {
		want := fmt.Sprintf(tt.format, tt.arg)
		if got := fmt.Sprintf(tt.format, escapeArgs([]any{tt.arg})...); got != want {
			t.Errorf("%s of %#v: got %q, want %q", tt.format, tt.arg, got, want)
		}
	}
}
