package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	tclient "github.com/transparency-dev/tessera/client"

	"hallmark.dev/internal/oidc"
	"hallmark.dev/internal/ops"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
	"hallmark.dev/tlog"
	"hallmark.dev/verify"
)

// replicaSet is n `hallmark serve` processes on one MariaDB and one
// versitygw, behind a load balancer, the first started on a new data
// directory and the others on copies of it.
type replicaSet struct {
	lb     *testkit.LoadBalancer
	db     *testkit.MariaDB
	s3     *testkit.S3Server
	procs  []*testkit.Process
	trust  string // directory with trusted_root.json and signing_config.json
	bin    string
	tr     *root.TrustedRoot
	sc     *root.SigningConfig
	issuer string
}

// hallmarkBin returns the path of a `hallmark` that runs this test binary
// as the command (testscript.Main dispatches on the program's name).
func hallmarkBin(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hallmark")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

func startReplicaSet(t *testing.T, n int) *replicaSet {
	t.Helper()
	if testing.Short() {
		t.Skip("replica-set test: skipped in -short mode")
	}
	rs := &replicaSet{db: testkit.StartMariaDB(t), s3: testkit.StartS3(t), lb: testkit.StartLoadBalancer(t, ""), bin: hallmarkBin(t)}
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+testkit.TestS3AccessKey, "AWS_SECRET_ACCESS_KEY="+testkit.TestS3SecretKey)
	first := t.TempDir()
	var addrs []string
	for i := range n {
		dir := first
		if i > 0 {
			dir = t.TempDir()
			testkit.CopyDir(t, first, dir)
		}
		addr := testkit.FreeAddr(t)
		p := testkit.StartServeProcess(t, rs.bin, addr, env, "--data", dir, "--public-url", rs.lb.URL, "--dev-oidc",
			"--database", rs.db.URL("hallmark"), "--object-store", rs.s3.URL("hallmark"))
		rs.procs = append(rs.procs, p)
		addrs = append(addrs, addr)
		rs.lb.SetBackends(addrs...)
	}
	rs.trust = t.TempDir()
	for _, f := range []string{"trusted_root.json", "signing_config.json"} {
		body := httpGet(t, rs.lb.URL+"/api/v1/trust/"+f)
		if err := os.WriteFile(filepath.Join(rs.trust, f), body, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range rs.procs {
			if other := httpGet(t, "http://"+p.Addr+"/api/v1/trust/"+f); !bytes.Equal(other, body) {
				t.Fatalf("replica %s publishes another %s", p.Addr, f)
			}
		}
	}
	var err error
	if rs.tr, err = verify.ParseTrustedRoot(httpGet(t, rs.lb.URL+"/api/v1/trust/trusted_root.json")); err != nil {
		t.Fatal(err)
	}
	if rs.sc, err = root.NewSigningConfigFromJSON(httpGet(t, rs.lb.URL+"/api/v1/trust/signing_config.json")); err != nil {
		t.Fatal(err)
	}
	rs.issuer = rs.lb.URL + "/oidc"
	return rs
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return body
}

// runProg runs a program and returns its stdout, failing the test on error.
func runProg(t *testing.T, env []string, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(prog), strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// TestReplicaSetCosign: three `hallmark serve` replicas on MariaDB and an
// S3 server, behind a load balancer, with the real cosign as the client:
// cosign signs an image and a blob keylessly against the load balancer
// and hallmark verifies them; hallmark signs and cosign verifies.
func TestReplicaSetCosign(t *testing.T) {
	if _, err := exec.LookPath("cosign"); err != nil {
		if requirePeers() {
			t.Fatalf("HALLMARK_REQUIRE_PEERS=1 but cosign is not on PATH: %v", err)
		}
		t.Skip("cosign is not on PATH")
	}
	rs := startReplicaSet(t, 3)
	work := t.TempDir()
	env := append(os.Environ(), "TUF_ROOT="+filepath.Join(work, ".sigstore"), "HOME="+work)
	tr, sc := filepath.Join(rs.trust, "trusted_root.json"), filepath.Join(rs.trust, "signing_config.json")
	token := strings.TrimSpace(runProg(t, env, rs.bin, "dev-token", "--server", rs.lb.URL, "--subject", "dev@example.com"))
	tokenFile := filepath.Join(work, "token.txt")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(rs.lb.URL, "http://")
	ident := []string{"--trusted-root", tr, "--certificate-identity", "dev@example.com", "--certificate-oidc-issuer", rs.issuer}

	// cosign signs; hallmark and cosign verify.
	c := pushRandom(t, host+"/demo/c:v1")
	runProg(t, env, "cosign", "sign", "--signing-config", sc, "--trusted-root", tr, "--identity-token", token, "-y", "-a", "repo=c", c)
	out := runProg(t, env, rs.bin, append(append([]string{"verify"}, ident...), "-a", "repo=c", c)...)
	if !strings.Contains(out, "Verified "+c) || !strings.Contains(out, "1 log entries, timestamped") {
		t.Fatalf("hallmark verify: %s", out)
	}
	runProg(t, env, "cosign", append(append([]string{"verify"}, ident...), "-a", "repo=c", c)...)

	// hallmark signs through the load balancer; cosign verifies.
	h := pushRandom(t, host+"/demo/h:v1")
	runProg(t, env, rs.bin, "sign", "--identity-token", tokenFile, "--server", rs.lb.URL, "-a", "repo=h", h)
	out = runProg(t, env, "cosign", append(append([]string{"verify"}, ident...), "-a", "repo=h", h)...)
	if !strings.Contains(out, `"docker-manifest-digest"`) {
		t.Fatalf("cosign verify: %s", out)
	}

	// Blobs, both ways.
	file := filepath.Join(work, "file.txt")
	if err := os.WriteFile(file, []byte("release artifact\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cb, hb := filepath.Join(work, "c.sigstore.json"), filepath.Join(work, "h.sigstore.json")
	runProg(t, env, "cosign", "sign-blob", "--signing-config", sc, "--trusted-root", tr, "--identity-token", token, "-y", "--bundle", cb, file)
	runProg(t, env, rs.bin, append(append([]string{"verify-blob", "--bundle", cb}, ident...), file)...)
	runProg(t, env, rs.bin, "sign-blob", "--identity-token", tokenFile, "--server", rs.lb.URL, "--bundle", hb, file)
	runProg(t, env, "cosign", append(append([]string{"verify-blob", "--bundle", hb}, ident...), file)...)

	// Each replica serves the log that holds the four entries.
	for _, p := range rs.procs {
		cp := checkpointAt(t, "http://"+p.Addr, rs.tr)
		if cp.Size < 4 {
			t.Fatalf("replica %s: checkpoint of size %d, want 4 entries at least", p.Addr, cp.Size)
		}
	}
}

func pushRandom(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return r.Context().Digest(d.String()).String()
}

// checkpointAt reads and verifies the log's checkpoint at base.
func checkpointAt(t *testing.T, base string, tr *root.TrustedRoot) tlog.Checkpoint {
	t.Helper()
	raw := httpGet(t, base+"/api/v2/checkpoint")
	for _, l := range tr.RekorLogs() {
		v, err := tlog.NewNoteVerifier(strings.SplitN(string(raw), "\n", 2)[0], l.PublicKey)
		if err != nil {
			continue
		}
		if cp, err := tlog.VerifyCheckpoint(raw, v); err == nil {
			return cp
		}
	}
	t.Fatalf("the checkpoint at %s does not verify with the trusted root's log", base)
	return tlog.Checkpoint{}
}

// signed is one acknowledged operation of the load: an image pushed and
// its signature attached as a referrer, the image's digest reference.
type signed struct{ image string }

// load signs images through the load balancer with workers until stop is
// closed: each operation pushes an image, signs it keylessly (CA, CT log,
// transparency log, TSA) and attaches the signature as a referrer. An
// operation that fails is counted, not retried.
type load struct {
	rs      *replicaSet
	mu      sync.Mutex
	acked   []signed
	failed  []error
	ops     atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	workers int
}

func startLoad(t *testing.T, rs *replicaSet, workers int) *load {
	t.Helper()
	l := &load{rs: rs, stop: make(chan struct{}), workers: workers}
	host := strings.TrimPrefix(rs.lb.URL, "http://")
	for w := range workers {
		l.wg.Go(func() {
			client := &http.Client{Timeout: 60 * time.Second}
			st := store.New(store.Options{AllowHTTP: true, Timeout: 60 * time.Second})
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				err := l.op(client, st, fmt.Sprintf("%s/load/w%d:%d", host, w, i))
				l.ops.Add(1)
				l.mu.Lock()
				if err != nil {
					l.failed = append(l.failed, err)
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(200 * time.Millisecond)
				}
			}
		})
	}
	return l
}

func (l *load) op(client *http.Client, st *store.Client, ref string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	img, err := random.Image(256, 1)
	if err != nil {
		return err
	}
	if err := remote.Write(r, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	token, err := oidc.RequestToken(ctx, client, l.rs.issuer, oidc.TokenRequest{Subject: "load@example.com"})
	if err != nil {
		return err
	}
	opts, err := sign.Services{Config: l.rs.sc, TrustedRoot: l.rs.tr, IDToken: token, Log: true, Timestamp: true, Timeout: 60 * time.Second}.Options(time.Now())
	if err != nil {
		return err
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return err
	}
	image := r.Context().Digest(d.String()).String()
	if _, err := ops.SignImage(ctx, st, ops.SignImageRequest{Reference: image, Signer: kp, Options: opts}); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	l.mu.Lock()
	l.acked = append(l.acked, signed{image: image})
	l.mu.Unlock()
	return nil
}

// finish stops the load and returns what it did.
func (l *load) finish() ([]signed, []error) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked, l.failed
}

// waitOps waits until the load has done n more operations.
func (l *load) waitOps(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	target := l.ops.Load() + n
	deadline := time.Now().Add(within)
	for l.ops.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("the load did %d operations in %s, want %d more", l.ops.Load(), within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkAll verifies, after the load, that every acknowledged image is in
// the registry with its signature listed as a referrer, that the signature
// verifies (with its log entry's inclusion proof and timestamp), that each
// log entry is at its index in the log's current tree, and that the tree's
// entries hash to the current checkpoint's root.
func checkAll(t *testing.T, rs *replicaSet, acked []signed) {
	t.Helper()
	ctx := context.Background()
	st := store.New(store.Options{AllowHTTP: true})
	k, err := verify.NewKeyless(rs.tr, verify.Identity{Issuer: rs.issuer, Subject: "load@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	cp := checkpointAt(t, rs.lb.URL, rs.tr)
	leaves := readLeaves(t, rs.lb.URL+"/api/v2/", cp.Size)
	if got := rootOf(t, leaves); !bytes.Equal(got, cp.Hash) {
		t.Fatalf("the log's %d entries hash to %x, its checkpoint says %x", cp.Size, got, cp.Hash)
	}
	for _, a := range acked {
		res, err := ops.VerifyImage(ctx, st, ops.VerifyImageRequest{Reference: a.image, Policy: verify.ImagePolicy{Authority: k}})
		if err != nil {
			t.Fatalf("acknowledged %s: %v", a.image, err)
		}
		ref, err := name.NewDigest(a.image)
		if err != nil {
			t.Fatal(err)
		}
		h, err := v1.NewHash(res.Digest)
		if err != nil {
			t.Fatal(err)
		}
		sigs, err := st.Signatures(ctx, ref.Context(), h)
		if err != nil || len(sigs) == 0 {
			t.Fatalf("acknowledged %s: signatures: %d, %v", a.image, len(sigs), err)
		}
		for _, s := range sigs {
			b, err := verify.ParseBundle(s.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := b.TlogEntries()
			if err != nil || len(entries) != 1 {
				t.Fatalf("acknowledged %s: %d log entries, %v", a.image, len(entries), err)
			}
			idx := entries[0].LogIndex()
			if idx < 0 || uint64(idx) >= cp.Size || !bytes.Equal(leaves[idx], entries[0].TransparencyLogEntry().GetCanonicalizedBody()) {
				t.Fatalf("acknowledged %s: its log entry is not at index %d of the tree of size %d", a.image, idx, cp.Size)
			}
		}
	}
}

// readLeaves reads the entries of the log's tree of size through its
// tlog-tiles API at base.
func readLeaves(t *testing.T, base string, size uint64) [][]byte {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	f, err := tclient.NewHTTPFetcher(u, &http.Client{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := uint64(0); uint64(len(out)) < size; i++ {
		data, err := f.ReadEntryBundle(context.Background(), i, layout.PartialTileSize(0, i, size))
		if err != nil {
			t.Fatalf("entry bundle %d: %v", i, err)
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(data); err != nil {
			t.Fatalf("entry bundle %d: %v", i, err)
		}
		out = append(out, b.Entries...)
	}
	return out[:size]
}

func rootOf(t *testing.T, leaves [][]byte) []byte {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReplicaSetKill kills one of three replicas with SIGKILL during
// sustained signing through the load balancer, then starts it again: no
// operation fails but those in flight at the kill, and every acknowledged
// image, signature referrer and log entry is there and verifies.
func TestReplicaSetKill(t *testing.T) {
	rs := startReplicaSet(t, 3)
	const workers = 4
	l := startLoad(t, rs, workers)
	l.waitOps(t, 8, 2*time.Minute)
	rs.procs[1].Kill(t)
	before := l.ops.Load()
	l.waitOps(t, 12, 2*time.Minute)
	rs.procs[1].Start(t)
	l.waitOps(t, 8, 2*time.Minute)
	acked, failed := l.finish()
	t.Logf("%d operations, %d acknowledged, %d failed (%d before the kill); %d requests in flight at the kill", len(acked)+len(failed), len(acked), len(failed), before, rs.lb.Broken())
	if len(failed) > workers {
		t.Errorf("%d operations failed, want at most %d (those in flight at the kill):", len(failed), workers)
		for _, err := range failed {
			t.Log(err)
		}
	}
	checkAll(t, rs, acked)
}

// TestReplicaSetStorageRestart kills MariaDB and then the S3 server with
// SIGKILL under load and starts them again: the replicas recover without
// a restart (operations succeed again), and every acknowledged operation
// is there and verifies.
func TestReplicaSetStorageRestart(t *testing.T) {
	rs := startReplicaSet(t, 3)
	const workers = 4
	l := startLoad(t, rs, workers)
	l.waitOps(t, 8, 2*time.Minute)
	for _, peer := range []*testkit.Peer{rs.db.Peer, rs.s3.Peer} {
		peer.Kill(t)
		time.Sleep(2 * time.Second)
		peer.Restart(t)
		// Recovered: operations succeed again, without touching the
		// replicas.
		l.mu.Lock()
		n := len(l.acked)
		l.mu.Unlock()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			l.mu.Lock()
			done := len(l.acked) >= n+2*workers
			l.mu.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				acked, failed := l.finish()
				t.Fatalf("after restarting %s: %d acknowledged, %d failed; the replicas did not recover (last error: %v)", peer.Addr, len(acked), len(failed), failed[len(failed)-1])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Once recovered, nothing fails.
	l.mu.Lock()
	failedBefore := len(l.failed)
	l.mu.Unlock()
	l.waitOps(t, 12, 2*time.Minute)
	acked, failed := l.finish()
	t.Logf("%d operations, %d acknowledged, %d failed during the outages", len(acked)+len(failed), len(acked), failedBefore)
	if len(failed) > failedBefore {
		t.Errorf("%d operations failed after the replicas recovered:", len(failed)-failedBefore)
		for _, err := range failed[failedBefore:] {
			t.Log(err)
		}
	}
	checkAll(t, rs, acked)
}
