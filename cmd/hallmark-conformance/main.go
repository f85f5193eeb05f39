// Command hallmark-conformance adapts hallmark to the sigstore-conformance
// suite's client protocol (https://github.com/sigstore/sigstore-conformance):
//
//	hallmark-conformance verify-bundle --bundle FILE \
//	    (--certificate-identity ID --certificate-oidc-issuer URL | --key KEY) \
//	    [--trusted-root FILE] FILE_OR_DIGEST
//
// It exits 0 when the bundle verifies and 1, with the reason on stderr,
// when it does not. A call it cannot act on (a bad flag, a file it cannot
// read) exits 2, so that a runner can tell a rejection from a mistake of its
// own. It only parses arguments and calls hallmark.dev/verify (its authority
// built as the CLI builds it, internal/setup).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"

	"hallmark.dev/attest"
	"hallmark.dev/internal/setup"
	"hallmark.dev/verify"
)

func main() {
	err := run(os.Args[1:])
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "hallmark-conformance: error: %v\n", err)
	if errors.As(err, new(invocationError)) {
		os.Exit(2)
	}
	os.Exit(1)
}

// invocationError is a call the adapter cannot act on: bad arguments or an
// unreadable file. It is not a verdict on the bundle.
type invocationError struct{ err error }

func (e invocationError) Error() string { return e.err.Error() }
func (e invocationError) Unwrap() error { return e.err }

func run(args []string) error {
	if len(args) == 0 || args[0] != "verify-bundle" {
		return invocationError{errors.New("usage: hallmark-conformance verify-bundle --bundle FILE (--certificate-identity ID --certificate-oidc-issuer URL | --key KEY) [--trusted-root FILE] FILE_OR_DIGEST")}
	}
	fs := flag.NewFlagSet("verify-bundle", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bundlePath := fs.String("bundle", "", "")
	identity := fs.String("certificate-identity", "", "")
	issuer := fs.String("certificate-oidc-issuer", "", "")
	keyPath := fs.String("key", "", "")
	rootPath := fs.String("trusted-root", "", "")
	fs.Bool("staging", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return invocationError{err}
	}
	if fs.NArg() != 1 {
		return invocationError{errors.New("want exactly one FILE_OR_DIGEST")}
	}
	if *rootPath == "" {
		return invocationError{errors.New("--trusted-root is required: hallmark never fetches trust material implicitly")}
	}
	who := setup.Authority{KeyPath: *keyPath, TrustedRootPath: *rootPath}
	if *keyPath == "" {
		who.Identity = verify.Identity{Issuer: *issuer, Subject: *identity}
	}
	authority, err := setup.NewAuthority(who)
	if errors.As(err, new(*iofs.PathError)) {
		return invocationError{err}
	}
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*bundlePath)
	if err != nil {
		return invocationError{err}
	}
	var a verify.Artifact
	target := fs.Arg(0)
	if strings.HasPrefix(target, "sha256:") {
		if _, _, err := attest.SplitDigest(target); err != nil {
			return invocationError{err}
		}
		a.Digest = target
	} else {
		f, err := os.Open(target)
		if err != nil {
			return invocationError{err}
		}
		defer f.Close()
		a.Content = f
	}
	_, err = verify.Blob(*bundlePath, b, a, verify.BlobPolicy{Authority: authority})
	return err
}
