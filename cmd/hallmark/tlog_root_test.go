package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/keys"
)

// A trusted root that lists no transparency log cannot vouch for a log
// entry: verification is refused, with a hint naming
// --insecure-ignore-tlog, keyed and keyless (decision D14); with the flag
// the signed timestamp is required instead and the result says the log
// was not checked.
func TestTrustedRootWithoutLog(t *testing.T) {
	st := testkit.StartStack(t, nil)
	srv := st.Server
	dir := t.TempDir()
	noLog := lite.EditJSON(t, srv.TrustedRoot(), func(m map[string]any) { delete(m, "tlogs") })
	rootPath := lite.WriteFile(t, dir, "trusted_root.json", noLog)
	file := lite.WriteFile(t, dir, "file.txt", []byte("a release"))
	token := st.Token(t, "dev@example.com")
	kp := testkit.NewKeyPair(t, dir, "cosign", keys.ECDSAP256, "pw")
	env := func(k string) (string, bool) {
		if k == "HALLMARK_PASSWORD" {
			return "pw", true
		}
		return "", false
	}
	hallmark := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(args, strings.NewReader(""), &stdout, &stderr, env)
		return code, stdout.String(), stderr.String()
	}
	keyed, keyless := filepath.Join(dir, "keyed.json"), filepath.Join(dir, "keyless.json")
	if code, _, stderr := hallmark("sign-blob", "--key", kp.KeyPath, "--server", srv.URL(), "--bundle", keyed, file); code != 0 {
		t.Fatalf("sign-blob --key: %s", stderr)
	}
	if code, _, stderr := hallmark("sign-blob", "--identity-token", token, "--server", srv.URL(), "--bundle", keyless, file); code != 0 {
		t.Fatalf("sign-blob --identity-token: %s", stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"keyed", []string{"verify-blob", "--key", kp.PubPath, "--trusted-root", rootPath, "--bundle", keyed, file}},
		{"keyless", []string{"verify-blob", "--certificate-identity", "dev@example.com", "--certificate-oidc-issuer", srv.URL() + "/oidc", "--trusted-root", rootPath, "--bundle", keyless, file}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := hallmark(tc.args...)
			if code == 0 || !strings.Contains(stderr, "hallmark: error: the trusted root lists no transparency log") ||
				!strings.Contains(stderr, "hallmark: hint: pass --insecure-ignore-tlog") {
				t.Fatalf("exit %d, stderr %q; want a refusal with a hint naming --insecure-ignore-tlog", code, stderr)
			}
			code, stdout, stderr := hallmark(append(tc.args[:len(tc.args)-1:len(tc.args)-1], "--insecure-ignore-tlog", file)...)
			if code != 0 || !strings.Contains(stdout, "timestamped ") || !strings.Contains(stdout, "log not checked (--insecure-ignore-tlog)") {
				t.Fatalf("with --insecure-ignore-tlog: exit %d, stdout %q, stderr %q; want verified, saying the log was not checked", code, stdout, stderr)
			}
		})
	}
}
