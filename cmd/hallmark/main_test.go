package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rogpeppe/go-internal/testscript"

	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/registry"
	"hallmark.dev/internal/sample"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/oci/store"
	"hallmark.dev/tlog"
)

func TestMain(m *testing.M) {
	quietlog.Klog()
	testscript.Main(m, map[string]func(){
		"hallmark": func() { quietlog.Klog(); os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)) },
	})
}

// requirePeers makes a missing peer binary (cosign) a failure rather than a
// skip; CI sets it.
func requirePeers() bool { return os.Getenv("HALLMARK_REQUIRE_PEERS") == "1" }

func TestScript(t *testing.T) {
	if requirePeers() {
		for _, peer := range []string{"cosign", "litewitness", "witnessctl"} {
			if _, err := exec.LookPath(peer); err != nil {
				t.Fatalf("HALLMARK_REQUIRE_PEERS=1 but %s is not on PATH: %v", peer, err)
			}
		}
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup:               setupScript,
		Condition:           scriptCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"push":         cmdPush,
			"pushindex":    cmdPushIndex,
			"copysig":      cmdCopySig,
			"movetag":      cmdMoveTag,
			"blackhole":    cmdBlackhole,
			"restartreg":   cmdRestartRegistry,
			"tamperbundle": cmdTamperBundle,
			"tampersig":    cmdTamperSig,
			"pushauthed":   cmdPushAuthed,
			"startserver":  cmdStartServer,
			"stopserver":   cmdStopServer,
			"freeport":     cmdFreePort,
			"waithttp":     cmdWaitHTTP,
			"sshvkey":      cmdSSHVKey,
			"pushdir":      cmdPushDir,
			"setdate":      cmdSetDate,
			"expand":       cmdExpand,
			"pushlayout":   cmdPushLayout,
			"signstmt":     cmdSignStatement,
			"policyserver": cmdPolicyServer,
			"hsmagent":     cmdHSMAgent,
			"policyproxy":  cmdPolicyProxy,
			"stdoutvar":    cmdStdoutVar,
			"yamlquote":    cmdYAMLQuote,
			"softhsm":      cmdSoftHSM,
			"pkcs11shim":   cmdPKCS11Shim,
		},
	})
}

// scriptRegistries are the registries one script talks to.
type scriptRegistries struct {
	mu      sync.Mutex
	dir     string
	srv     *httptest.Server
	moveTag map[string]string // "repo:tag" to new text, armed by movetag
	handler http.Handler
}

func setupScript(e *testscript.Env) error {
	regs := &scriptRegistries{dir: filepath.Join(e.WorkDir, ".registry"), moveTag: map[string]string{}}
	h, err := registry.New(context.Background(), registry.Config{Dir: regs.dir})
	if err != nil {
		return err
	}
	regs.handler = h
	regs.srv = httptest.NewServer(regs)
	e.Defer(regs.srv.Close)
	mem := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	e.Defer(mem.Close)
	// A registry that requires credentials (user "ci", password "token").
	authed := httptest.NewServer(basicAuth("ci", "token", ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))))
	e.Defer(authed.Close)
	e.Setenv("AUTHREGISTRY", strings.TrimPrefix(authed.URL, "http://"))
	e.Setenv("REGISTRY", strings.TrimPrefix(regs.srv.URL, "http://"))
	e.Setenv("OLDREGISTRY", strings.TrimPrefix(mem.URL, "http://"))
	sbomData, err := filepath.Abs(filepath.Join("..", "..", "sbom", "testdata"))
	if err != nil {
		return err
	}
	e.Setenv("SBOMDATA", sbomData) // the sample image and real syft/trivy SBOMs of it
	e.Setenv("HOME", e.WorkDir)
	e.Setenv("DOCKER_CONFIG", filepath.Join(e.WorkDir, ".docker"))
	e.Values["registries"] = regs
	e.Values["server"] = &scriptServer{}
	// The gate's vectors: real trivy reports and the database they came from.
	vectors, err := filepath.Abs(filepath.Join("..", "..", "gate", "testdata", "trivy"))
	if err != nil {
		return err
	}
	e.Setenv("GATEVECTORS", vectors)
	// A PATH with only the test's own commands, to run without trivy.
	e.Setenv("CMDPATH", strings.Split(e.Getenv("PATH"), string(os.PathListSeparator))[0])
	return nil
}

// ServeHTTP forwards to the registry; a tag armed by movetag is moved to a
// new image right after a client resolves it, to test that what is signed
// is the digest resolved first.
func (r *scriptRegistries) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	h := r.handler
	var moveTo, moveKey string
	if req.Method == http.MethodHead || req.Method == http.MethodGet {
		for k, text := range r.moveTag {
			repo, tag, _ := strings.Cut(k, ":")
			if req.URL.Path == "/v2/"+repo+"/manifests/"+tag {
				moveTo, moveKey = text, k
				delete(r.moveTag, k)
			}
		}
	}
	r.mu.Unlock()
	h.ServeHTTP(w, req)
	if moveTo != "" {
		ref := strings.TrimPrefix(r.srv.URL, "http://") + "/" + moveKey
		if _, err := pushSample(ref, moveTo, false); err != nil {
			panic(fmt.Sprintf("movetag: %v", err))
		}
	}
}

// basicAuth requires HTTP basic credentials, answering 401 with a
// challenge otherwise, as registries behind simple auth do.
func basicAuth(user, pass string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="hallmark-test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// pushAuthed pushes with credentials, for the authenticated registry.
func cmdPushAuthed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: pushauthed REF TEXT VAR")
	}
	r, err := name.ParseReference(args[0])
	ts.Check(err)
	img, err := sample.Image(args[1], "linux", "amd64")
	ts.Check(err)
	ts.Check(remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: "ci", Password: "token"})))
	d, err := img.Digest()
	ts.Check(err)
	ts.Setenv(args[2], r.Context().Digest(d.String()).String())
}

func pushSample(ref, text string, index bool) (name.Digest, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return name.Digest{}, err
	}
	var d v1.Hash
	if index {
		idx, err := sample.Index(text)
		if err != nil {
			return name.Digest{}, err
		}
		if err := remote.WriteIndex(r, idx); err != nil {
			return name.Digest{}, err
		}
		d, err = idx.Digest()
		if err != nil {
			return name.Digest{}, err
		}
	} else {
		img, err := sample.Image(text, "linux", "amd64")
		if err != nil {
			return name.Digest{}, err
		}
		if err := remote.Write(r, img); err != nil {
			return name.Digest{}, err
		}
		d, err = img.Digest()
		if err != nil {
			return name.Digest{}, err
		}
	}
	return r.Context().Digest(d.String()), nil
}

// push REF TEXT [VAR]: push a sample image (pushindex: an index) and set
// VAR to its repo@digest and VAR_DIGEST to its digest.
func cmdPush(ts *testscript.TestScript, neg bool, args []string) { pushCmd(ts, neg, args, false) }

func cmdPushIndex(ts *testscript.TestScript, neg bool, args []string) { pushCmd(ts, neg, args, true) }

func pushCmd(ts *testscript.TestScript, neg bool, args []string, index bool) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: push REF TEXT [VAR]")
	}
	d, err := pushSample(args[0], args[1], index)
	ts.Check(err)
	if len(args) == 3 {
		ts.Setenv(args[2], d.String())
		ts.Setenv(args[2]+"_DIGEST", d.DigestStr())
	}
}

// pushlayout DIR REF VAR: push the one image of the OCI layout DIR to REF
// unchanged (same manifest digest) and set VAR to REF's repo@digest and
// VAR_DIGEST to the digest.
func cmdPushLayout(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: pushlayout DIR REF VAR")
	}
	p, err := layout.FromPath(ts.MkAbs(args[0]))
	ts.Check(err)
	idx, err := p.ImageIndex()
	ts.Check(err)
	m, err := idx.IndexManifest()
	ts.Check(err)
	if len(m.Manifests) != 1 {
		ts.Fatalf("pushlayout: %s has %d manifests, want 1", args[0], len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	ts.Check(err)
	r, err := name.ParseReference(args[1])
	ts.Check(err)
	pushAndSet(ts, r, img, args[2])
}

// pushAndSet writes img to r and sets v to its repo@digest and v_DIGEST to
// its digest.
func pushAndSet(ts *testscript.TestScript, r name.Reference, img v1.Image, v string) {
	ts.Check(remote.Write(r, img))
	d, err := img.Digest()
	ts.Check(err)
	ts.Setenv(v, r.Context().Digest(d.String()).String())
	ts.Setenv(v+"_DIGEST", d.String())
}

// copysig FROM TO: copy every bundle signature of image FROM onto image TO,
// as an attacker with push access would.
func cmdCopySig(ts *testscript.TestScript, neg bool, args []string) {
	// copysig -att TYPE FROM TO copies the attestation bundles instead,
	// declaring TYPE.
	predicateType := "https://sigstore.dev/cosign/sign/v1"
	att := len(args) == 4 && args[0] == "-att"
	if att {
		predicateType, args = args[1], args[2:]
	}
	if neg || len(args) != 2 {
		ts.Fatalf("usage: copysig [-att TYPE] FROM TO")
	}
	ctx := context.Background()
	c := store.New(store.Options{})
	from, err := c.ParseReference(args[0])
	ts.Check(err)
	to, err := c.ParseReference(args[1])
	ts.Check(err)
	fd, _, err := c.Resolve(ctx, from)
	ts.Check(err)
	td, tdesc, err := c.Resolve(ctx, to)
	ts.Check(err)
	h, err := v1.NewHash(fd.DigestStr())
	ts.Check(err)
	get := c.Signatures
	if att {
		get = c.Attestations
	}
	sigs, err := get(ctx, fd.Context(), h)
	ts.Check(err)
	n := 0
	for _, s := range sigs {
		if s.Bundle == nil {
			continue
		}
		_, err := c.AttachBundle(ctx, td.Context(), tdesc, s.Bundle, predicateType)
		ts.Check(err)
		n++
	}
	if n == 0 {
		ts.Fatalf("copysig: %s has no bundle signatures", args[0])
	}
}

// movetag REPO:TAG TEXT: after the next client resolves REPO:TAG, push a
// new image with TEXT to that tag.
func cmdMoveTag(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: movetag REPO:TAG TEXT")
	}
	regs := ts.Value("registries").(*scriptRegistries)
	regs.mu.Lock()
	regs.moveTag[args[0]] = args[1]
	regs.mu.Unlock()
}

// blackhole VAR: listen on a loopback port that accepts connections and
// never answers; set VAR to its address.
func cmdBlackhole(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: blackhole VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Defer(func() { l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ts.Setenv(args[0], l.Addr().String())
}

// restartreg: replace the registry handler with a new one on the same data
// directory, as a restarted server would be.
func cmdRestartRegistry(ts *testscript.TestScript, neg bool, args []string) {
	regs := ts.Value("registries").(*scriptRegistries)
	h, err := registry.New(context.Background(), registry.Config{Dir: regs.dir})
	ts.Check(err)
	regs.mu.Lock()
	regs.handler = h
	regs.mu.Unlock()
}

// tamper changes one byte of a bundle's signed content ("payload": the DSSE
// payload or, for a message signature, the digest) or of its signature.
func tamper(bundle []byte, what string) ([]byte, error) {
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, err
	}
	flip := func(m map[string]any, key string) error {
		s, ok := m[key].(string)
		if !ok {
			return fmt.Errorf("bundle has no %s", key)
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return err
		}
		raw[len(raw)/2] ^= 0x01
		m[key] = base64.StdEncoding.EncodeToString(raw)
		return nil
	}
	var err error
	switch env, isDSSE := b["dsseEnvelope"].(map[string]any); {
	case isDSSE && what == "payload":
		err = flip(env, "payload")
	case isDSSE && what == "signature":
		sigs, _ := env["signatures"].([]any)
		if len(sigs) == 0 {
			return nil, errors.New("bundle has no signatures")
		}
		err = flip(sigs[0].(map[string]any), "sig")
	case what == "payload":
		ms, _ := b["messageSignature"].(map[string]any)
		md, _ := ms["messageDigest"].(map[string]any)
		if md == nil {
			return nil, errors.New("bundle has no message digest")
		}
		err = flip(md, "digest")
	case what == "signature":
		ms, _ := b["messageSignature"].(map[string]any)
		if ms == nil {
			return nil, errors.New("bundle has no message signature")
		}
		err = flip(ms, "signature")
	default:
		return nil, fmt.Errorf("tamper: want payload or signature, got %q", what)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

// tamperbundle FILE payload|signature: tamper with a bundle file in place.
func cmdTamperBundle(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tamperbundle FILE payload|signature")
	}
	path := ts.MkAbs(args[0])
	data, err := os.ReadFile(path)
	ts.Check(err)
	out, err := tamper(data, args[1])
	ts.Check(err)
	ts.Check(os.WriteFile(path, out, 0o644))
}

// tampersig IMAGE payload|signature: replace an image's bundle signatures
// by tampered copies attached to the same image, as an attacker with push
// access would; the originals are deleted.
func cmdTamperSig(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tampersig IMAGE payload|signature")
	}
	ctx := context.Background()
	c := store.New(store.Options{})
	ref, err := c.ParseReference(args[0])
	ts.Check(err)
	d, desc, err := c.Resolve(ctx, ref)
	ts.Check(err)
	h, err := v1.NewHash(d.DigestStr())
	ts.Check(err)
	sigs, err := c.Signatures(ctx, d.Context(), h)
	ts.Check(err)
	for _, s := range sigs {
		if s.Bundle == nil {
			continue
		}
		bad, err := tamper(s.Bundle, args[1])
		ts.Check(err)
		_, err = c.AttachBundle(ctx, d.Context(), desc, bad, "https://sigstore.dev/cosign/sign/v1")
		ts.Check(err)
		orig := d.Context().Digest(strings.TrimPrefix(s.Source, "referrer "))
		ts.Check(remote.Delete(orig))
	}
}

// startserver: start a whole hallmark server (registry, CA, log, TSA, dev
// OIDC issuer) in-process on a loopback port; set SERVER to its URL,
// SERVERHOST to its host:port and SERVERDATA to its data directory.
func cmdStartServer(ts *testscript.TestScript, neg bool, args []string) {
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: ts.MkAbs(".server"), DevOIDC: true}
	switch {
	case neg:
		ts.Fatalf("usage: startserver [-witness-policy FILE]")
	case len(args) == 2 && args[0] == "-witness-policy":
		cfg.WitnessPolicy = ts.MkAbs(args[1])
	case len(args) != 0:
		ts.Fatalf("usage: startserver [-witness-policy FILE]")
	}
	if addr := ts.Getenv("SERVERHOST"); addr != "" {
		cfg.Addr = addr // a restart keeps its address
	}
	s, stopServer, err := testkit.StartServer(cfg)
	if err != nil {
		ts.Fatalf("start server: %v", err)
	}
	stop := func() { stopServer() } // a script judges the server by its replies, not by how serving ended
	ts.Defer(stop)
	ts.Value("server").(*scriptServer).stop = stop
	ts.Setenv("SERVER", s.URL())
	ts.Setenv("SERVERHOST", s.Addr().String())
	ts.Setenv("SERVERDATA", cfg.DataDir)
}

// stopserver: stop the server startserver started (to restart it with
// other options on the same data and address).
func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	stop := ts.Value("server").(*scriptServer).stop
	if neg || len(args) != 0 || stop == nil {
		ts.Fatalf("usage: stopserver, after startserver")
	}
	stop()
}

// sshvkey NAME PUBFILE VAR: set VAR to the tlog-cosignature verifier key
// (type 0x04) of the witness named NAME whose Ed25519 key is the OpenSSH
// public key in PUBFILE, as litewitness, which holds its key in an
// ssh-agent, names it.
func cmdSSHVKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: sshvkey NAME PUBFILE VAR")
	}
	fields := strings.Fields(ts.ReadFile(args[1]))
	if len(fields) < 2 || fields[0] != "ssh-ed25519" {
		ts.Fatalf("%s: not an ssh-ed25519 public key", args[1])
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	ts.Check(err)
	// string "ssh-ed25519", then string key: the key is the last 32 bytes.
	if len(blob) != 4+11+4+ed25519.PublicKeySize {
		ts.Fatalf("%s: unexpected key blob length %d", args[1], len(blob))
	}
	vkey, err := tlog.CosignatureVerifierKey(args[0], ed25519.PublicKey(blob[len(blob)-ed25519.PublicKeySize:]))
	ts.Check(err)
	ts.Setenv(args[2], vkey)
}

// scriptServer is the server startserver runs in one script.
type scriptServer struct {
	stop func()
}

// freeport VAR: set VAR to a free loopback host:port.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], l.Addr().String())
	ts.Check(l.Close())
}

// waithttp URL: wait up to 30s until URL answers (any status).
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waithttp URL")
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			return
		}
	}
	ts.Fatalf("%s did not answer within 30s", args[0])
}

// pushdir DIR REF VAR: push a one-layer image of the directory's files (a
// root file system a scanner can read) and set VAR to its repo@digest and
// VAR_DIGEST to its digest.
func cmdPushDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: pushdir DIR REF VAR")
	}
	r, err := name.ParseReference(args[1])
	ts.Check(err)
	img, err := sample.FromDir(ts.MkAbs(args[0]), "linux", "amd64")
	ts.Check(err)
	pushAndSet(ts, r, img, args[2])
}

// setdate VAR DAYS: set VAR to the UTC date DAYS (may be negative) days
// from now, YYYY-MM-DD.
func cmdSetDate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setdate VAR DAYS")
	}
	var days int
	_, err := fmt.Sscan(args[1], &days)
	ts.Check(err)
	ts.Setenv(args[0], time.Now().UTC().AddDate(0, 0, days).Format(time.DateOnly))
}

// expand FILE: replace $VAR and ${VAR} in the file with the script's
// environment.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: expand FILE")
	}
	p := ts.MkAbs(args[0])
	data, err := os.ReadFile(p)
	ts.Check(err)
	ts.Check(os.WriteFile(p, []byte(os.Expand(string(data), ts.Getenv)), 0o644))
}
