package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/internal/testkit"
)

// softhsmCondition reports whether the PKCS#11 scripts can run: SoftHSM2,
// OpenSC and gcc installed, and this hallmark built with cgo.
func softhsmCondition() (bool, error) {
	err := testkit.LookTools(append([]string{"gcc"}, testkit.SoftHSMTools...)...)
	if _, lerr := pkcs11key.ListTokens(""); errors.Is(lerr, pkcs11key.ErrNotBuiltIn) {
		err = lerr
	}
	if err != nil && requirePeers() {
		return false, fmt.Errorf("HALLMARK_REQUIRE_PEERS=1: %v", err)
	}
	return err == nil, nil
}

// softhsm: create a SoftHSM2 token labelled hallmark, user PIN 1234, in
// $WORK/.softhsm, and set SOFTHSM2_CONF and HSMMODULE (the module's path).
// Guard it with [softhsm].
func cmdSoftHSM(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: softhsm")
	}
	h, err := testkit.NewSoftHSM(ts.MkAbs(".softhsm"), "hallmark", "1234")
	ts.Check(err)
	ts.Setenv("SOFTHSM2_CONF", h.Conf)
	ts.Setenv("HSMMODULE", h.Module)
}

// pkcs11shim VAR NOTMODULE: build the test PKCS#11 module that forwards to
// $HALLMARK_SHIM_MODULE and can remove the token after N signatures
// (HALLMARK_SHIM_REMOVE_AFTER=N), set VAR to its path and NOTMODULE to a
// shared library that is not a PKCS#11 module.
func cmdPKCS11Shim(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pkcs11shim VAR NOTMODULE")
	}
	dir := ts.MkAbs(".shim")
	ts.Check(os.MkdirAll(dir, 0o700))
	shim, other, err := testkit.BuildPKCS11Shim(dir)
	ts.Check(err)
	ts.Setenv(args[0], shim)
	ts.Setenv(args[1], other)
}

// TestNoCgoBuildRefusesPKCS11 builds hallmark without cgo, as
// CGO_ENABLED=0 go build does, and checks that it refuses a PKCS#11 URI
// with a message that says how to get a build that takes one, and signs
// nothing.
func TestNoCgoBuildRefusesPKCS11(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		testkit.SkipOrFail(t, err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hallmark-nocgo")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	blob := filepath.Join(dir, "file.txt")
	if err := os.WriteFile(blob, []byte("artifact\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const uri = "pkcs11:token=hallmark;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234"
	for _, args := range [][]string{
		{"sign-blob", "--key", uri, "--bundle", filepath.Join(dir, "b.json"), blob},
		{"public-key", "--key", uri},
		{"serve", "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0", "--tsa-key", uri},
	} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(bin, args...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("got %v, want exit status 1\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			n := len(lines)
			if n < 2 || !strings.HasPrefix(lines[n-2], "hallmark: error: ") ||
				!strings.HasSuffix(lines[n-2], "pkcs11: this build has no PKCS#11 support: it was built without cgo (CGO_ENABLED=0)") ||
				lines[n-1] != "hallmark: hint: PKCS#11 needs a hallmark built with cgo: CGO_ENABLED=1 go install hallmark.dev/cmd/hallmark (with a C compiler such as gcc installed)" {
				t.Errorf("got\n%s\nwant an error line saying the build has no PKCS#11 support, and the hint", out)
			}
		})
	}
	for _, p := range []string{"b.json", "data"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: got %v, want nothing written", p, err)
		}
	}
}
