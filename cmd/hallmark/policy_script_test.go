package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/signpolicy"
)

// policyserver NAME [-writer-key FILE] [-writer SUBJECT]: start a whole
// hallmark server in-process, as startserver does, whose signing policy
// writer is the key FILE and/or SUBJECT of the server's own dev OIDC
// issuer; set NAME to its URL, NAMEHOST to host:port, NAMEDATA to its
// data directory.
func cmdPolicyServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: policyserver NAME [-writer-key FILE] [-writer SUBJECT]")
	}
	name := args[0]
	fs := flag.NewFlagSet("policyserver", flag.ContinueOnError)
	writerKey := fs.String("writer-key", "", "")
	writer := fs.String("writer", "", "")
	ts.Check(fs.Parse(args[1:]))
	// The writer's identity names the server's own issuer: reserve the
	// port first to know its URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := l.Addr().String()
	ts.Check(l.Close())
	url := "http://" + addr
	dir := ts.MkAbs("." + strings.ToLower(name))
	cfg := server.Config{Addr: addr, DataDir: dir, DevOIDC: true}
	if *writerKey != "" {
		cfg.SigningPolicy.WriterKeys = []string{ts.MkAbs(*writerKey)}
	}
	if *writer != "" {
		cfg.SigningPolicy.Writers = []signpolicy.Identity{{Issuer: url + "/oidc", Subject: *writer}}
	}
	s, stop, err := testkit.StartServer(cfg)
	if err != nil {
		ts.Fatalf("start server: %v", err)
	}
	ts.Defer(func() { stop() })
	ts.Setenv(name, s.URL())
	ts.Setenv(name+"HOST", s.Addr().String())
	ts.Setenv(name+"DATA", dir)
}

// scriptCondition answers [hsm]: the tools hsmagent runs are installed.
// When HALLMARK_REQUIRE_PEERS=1 a missing tool fails the script instead.
func scriptCondition(cond string) (bool, error) {
	if cond == "softhsm" {
		return softhsmCondition()
	}
	if cond != "hsm" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	err := testkit.LookTools(append([]string{"git"}, testkit.HSMAgentTools...)...)
	if err != nil && requirePeers() {
		return false, fmt.Errorf("HALLMARK_REQUIRE_PEERS=1: %v", err)
	}
	return err == nil, nil
}

// hsmagent: start an ssh-agent holding an ECDSA key that lives in a
// SoftHSM2 token (loaded with ssh-add -s), set SSH_AUTH_SOCK to it and
// HSMKEY to the key's authorized_keys line. Guard it with [hsm].
func cmdHSMAgent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: hsmagent")
	}
	a, err := testkit.StartHSMAgent(ts.MkAbs(".hsm"))
	ts.Check(err)
	ts.Defer(func() { ts.Check(a.Close()) })
	ts.Setenv("SSH_AUTH_SOCK", a.Socket)
	ts.Setenv("HSMKEY", a.PublicKey)
}

// policyproxy VAR URL N: serve URL through a proxy, set VAR to its URL,
// that answers requests for signing policy versions with the first N
// versions only, as a server rolling back would.
func cmdPolicyProxy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: policyproxy VAR URL N")
	}
	target, err := url.Parse(args[1])
	ts.Check(err)
	keep, err := strconv.Atoi(args[2])
	ts.Check(err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != policystore.PathVersions || resp.Request.Method != http.MethodGet {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body.Close()
		var v struct {
			Repository string             `json:"repository"`
			Versions   []signpolicy.Entry `json:"versions"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		if len(v.Versions) > keep {
			v.Versions = v.Versions[:keep]
		}
		body, err = json.Marshal(v)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		resp.ContentLength = int64(len(body))
		resp.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(proxy)
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}

// stdoutvar VAR: set VAR to the last command's standard output, trimmed.
func cmdStdoutVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stdoutvar VAR")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}

// yamlquote VAR FILE: set VAR to FILE's content as one double-quoted YAML
// (JSON) string, to put a PEM key into a policy file with expand.
func cmdYAMLQuote(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: yamlquote VAR FILE")
	}
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	q, err := json.Marshal(string(data))
	ts.Check(err)
	ts.Setenv(args[0], string(q))
}
