package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/internal/logclient"
	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/server"
	"hallmark.dev/tlog"
	"hallmark.dev/verify"
)

// TestMain lets the test binary run as a hallmark server, so the crash test
// can kill -9 a real server process and restart it.
func TestMain(m *testing.M) {
	quietlog.Klog()
	if dir := os.Getenv("HALLMARK_CRASH_DATA"); dir != "" {
		s, err := server.New(context.Background(), server.Config{Addr: os.Getenv("HALLMARK_CRASH_ADDR"), DataDir: dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := s.Serve(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// acked is an entry the log acknowledged, with the checkpoint it came with.
type acked struct {
	tle *protorekor.TransparencyLogEntry
}

// TestCrashLosesNoAcknowledgedEntry kills the server with SIGKILL during
// sustained log writes, many times, and then checks that every entry the
// log acknowledged is in the final tree at its index, and that the final
// tree is consistent with every checkpoint any client was shown.
func TestCrashLosesNoAcknowledgedEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped in -short mode")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		acks []acked
		sent int
	)
	const cycles = 8
	for cycle := 0; cycle < cycles; cycle++ {
		cmd := startProcess(t, dir, addr)
		waitHealthy(t, base)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 5 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					tle, ok := submit(c, base, key)
					mu.Lock()
					sent++
					if ok {
						acks = append(acks, acked{tle: tle})
					}
					mu.Unlock()
				}
			}()
		}
		n, err := rand.Int(rand.Reader, big.NewInt(600))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300*time.Millisecond + time.Duration(n.Int64())*time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	if len(acks) == 0 {
		t.Fatal("no entry was acknowledged")
	}

	// Restart once more and check everything against the final tree.
	cmd := startProcess(t, dir, addr)
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}()
	waitHealthy(t, base)
	trJSON, err := os.ReadFile(filepath.Join(dir, "trust", server.TrustedRootFile))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := verify.ParseTrustedRoot(trJSON)
	if err != nil {
		t.Fatal(err)
	}
	var lc *logclient.Client
	for _, l := range tr.RekorLogs() {
		if lc, err = logclient.New(l.BaseURL, l.PublicKey, &http.Client{Timeout: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	final, _, err := lc.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("final checkpoint: %v", err)
	}
	seenIndex := map[int64]bool{}
	checkpoints := map[uint64][]byte{}
	for _, a := range acks {
		idx := a.tle.GetLogIndex()
		if seenIndex[idx] {
			t.Errorf("index %d acknowledged twice", idx)
		}
		seenIndex[idx] = true
		leaf := tlog.LeafHash(a.tle.GetCanonicalizedBody())
		if _, err := lc.ProveInclusion(ctx, final, uint64(idx), leaf); err != nil {
			t.Errorf("acknowledged entry %d is not in the final tree (size %d): %v", idx, final.Size, err)
		}
		p := a.tle.GetInclusionProof()
		checkpoints[uint64(p.GetTreeSize())] = p.GetRootHash()
		if err := tlog.VerifyInclusion(leaf, uint64(idx), uint64(p.GetTreeSize()), p.GetHashes(), p.GetRootHash()); err != nil {
			t.Errorf("entry %d: the inclusion proof it was acknowledged with does not verify: %v", idx, err)
		}
	}
	for size, root := range checkpoints {
		if _, err := lc.ProveConsistency(ctx, tlog.Checkpoint{Size: size, Hash: root}, final); err != nil {
			t.Errorf("checkpoint of size %d is not consistent with the final tree: %v", size, err)
		}
	}
	t.Logf("%d kill -9 cycles: %d requests, %d acknowledged, final tree size %d, %d distinct checkpoints consistent", cycles, sent, len(acks), final.Size, len(checkpoints))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func startProcess(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HALLMARK_CRASH_DATA="+dir, "HALLMARK_CRASH_ADDR="+addr)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("server did not come up")
}

// submit posts a fresh hashedrekord entry and returns the acknowledged
// entry, or false if the request did not succeed.
func submit(c *http.Client, base string, key *ecdsa.PrivateKey) (*protorekor.TransparencyLogEntry, bool) {
	var msg [32]byte
	if _, err := rand.Read(msg[:]); err != nil {
		return nil, false
	}
	digest := sha256.Sum256(msg[:])
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, false
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, false
	}
	req := &rekorpb.CreateEntryRequest{Spec: &rekorpb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekorpb.HashedRekordRequestV002{
			Digest: digest[:],
			Signature: &rekorpb.Signature{
				Content: sig,
				Verifier: &rekorpb.Verifier{
					Verifier:   &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}},
					KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
				},
			},
		},
	}}
	body, err := protojson.Marshal(req)
	if err != nil {
		return nil, false
	}
	resp, err := c.Post(base+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated) {
		return nil, false
	}
	var tle protorekor.TransparencyLogEntry
	if err := protojson.Unmarshal(data, &tle); err != nil {
		return nil, false
	}
	return &tle, true
}
