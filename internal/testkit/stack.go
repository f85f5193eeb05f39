package testkit

import (
	"context"
	"crypto"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"

	"hallmark.dev/internal/server"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// Stack is a whole hallmark server (registry, CA, Rekor v2 log, TSA, dev
// OIDC issuer) running in-process on loopback for a test.
type Stack struct {
	Server        *server.Server
	URL           string
	DataDir       string
	TrustedRoot   *root.TrustedRoot
	SigningConfig *root.SigningConfig
	// Issuer is the dev OIDC issuer's URL, the issuer of keyless
	// signers' certificates.
	Issuer string
}

// StartStack starts a server with the dev OIDC issuer. configure, if
// set, may change the configuration first; it is given the URL the server
// will have (its port is reserved first), so that it can name identities
// of the server's own issuer, URL+"/oidc".
func StartStack(t testing.TB, configure func(url string, cfg *server.Config)) *Stack {
	t.Helper()
	return StartStackIn(t, t.TempDir(), "", configure)
}

// StartStackIn starts a server on dir at addr (a free loopback port when
// empty), as StartStack does: a restarted server gets the same data
// directory and address.
func StartStackIn(t testing.TB, dir, addr string, configure func(url string, cfg *server.Config)) *Stack {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	cfg := server.Config{Addr: addr, DataDir: dir, DevOIDC: true}
	if configure != nil {
		configure("http://"+addr, &cfg)
	}
	s := Serve(t, cfg)
	tr, err := verify.ParseTrustedRoot(s.TrustedRoot())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := root.NewSigningConfigFromJSON(s.SigningConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &Stack{Server: s, URL: s.URL(), DataDir: filepath.Clean(dir), TrustedRoot: tr, SigningConfig: sc, Issuer: s.URL() + "/oidc"}
}

// Serve starts the server cfg describes and serves it until the test
// ends; the test's cleanup stops it and fails the test if serving failed.
func Serve(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	s, stop, err := StartServer(cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// StartServer starts the server cfg describes and serves it until stop is
// called; stop returns what serving returned, and may be called again.
// It is Serve for drivers that have no testing.TB (testscript commands).
func StartServer(cfg server.Config) (s *server.Server, stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err = server.New(ctx, cfg)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	return s, sync.OnceValue(func() error {
		cancel()
		return <-done
	}), nil
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// KeyOptions returns the signer of key and the options to sign with it
// through the stack's log and timestamp authority.
func (s *Stack) KeyOptions(t testing.TB, key crypto.Signer) (sgsign.Keypair, sign.Options) {
	t.Helper()
	kp, err := sign.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := sign.Services{Config: s.SigningConfig, TrustedRoot: s.TrustedRoot, Key: key.Public(), Log: true, Timestamp: true}.Options(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return kp, opts
}

// Token mints a dev OIDC identity token for subject.
func (s *Stack) Token(t testing.TB, subject string) string {
	t.Helper()
	token, err := s.Server.DevIssuer().Mint(subject, "sigstore", 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// KeylessOptions returns an ephemeral key and the options to sign with it
// keylessly as subject, logged and timestamped.
func (s *Stack) KeylessOptions(t testing.TB, subject string) (sgsign.Keypair, sign.Options) {
	t.Helper()
	return EphemeralOptions(t, sign.Services{Config: s.SigningConfig, TrustedRoot: s.TrustedRoot, IDToken: s.Token(t, subject), Log: true, Timestamp: true})
}

// EphemeralOptions returns an ephemeral key and the options to sign with
// it through svc: keylessly with svc's identity token, logged and
// timestamped as svc asks.
func EphemeralOptions(t testing.TB, svc sign.Services) (sgsign.Keypair, sign.Options) {
	t.Helper()
	opts, err := svc.Options(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	return kp, opts
}

// SignStatement signs an in-toto statement with kp and opts and returns
// the bundle.
func SignStatement(t testing.TB, kp sgsign.Keypair, opts sign.Options, statement []byte) []byte {
	t.Helper()
	b, err := sign.Statement(context.Background(), kp, statement, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SignWithKey signs an in-toto statement with key, logged and
// timestamped by the stack, and returns the bundle.
func (s *Stack) SignWithKey(t testing.TB, key crypto.Signer, statement []byte) []byte {
	t.Helper()
	kp, opts := s.KeyOptions(t, key)
	return SignStatement(t, kp, opts, statement)
}

// SignKeyless signs an in-toto statement keylessly as subject, logged
// and timestamped by the stack, and returns the bundle.
func (s *Stack) SignKeyless(t testing.TB, subject string, statement []byte) []byte {
	t.Helper()
	kp, opts := s.KeylessOptions(t, subject)
	return SignStatement(t, kp, opts, statement)
}

// SignKeylessBlob signs data keylessly as subject, logged and timestamped
// by the stack, and returns the bundle.
func (s *Stack) SignKeylessBlob(t testing.TB, subject string, data []byte) []byte {
	t.Helper()
	kp, opts := s.KeylessOptions(t, subject)
	b, err := sign.Blob(context.Background(), kp, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
