package logserver_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/transparency-dev/tessera"

	"hallmark.dev/internal/keyfile"
	"hallmark.dev/internal/logserver"
	"hallmark.dev/internal/witness"
	"hallmark.dev/tlog"
)

// witnessFor starts a witness that accepts the log whose key is logKey, in
// origin testOrigin, and returns its policy line and server.
func witnessFor(t *testing.T, name string, logKey ed25519.PrivateKey) (string, *httptest.Server) {
	t.Helper()
	vkey, err := tlog.VerifierKey(testOrigin, logKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.ParseLogVerifierKey(vkey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: t.TempDir(), Name: name, Logs: []tlog.PolicyLog{{VKey: vkey, Origin: testOrigin, Verifier: v}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return fmt.Sprintf("witness %s %s %s\n", strings.ReplaceAll(name, "/", "-"), w.VerifierKey(), srv.URL), srv
}

// logKeyIn writes a fresh Ed25519 log key to a new log directory, so that
// witnesses can know the log before it starts.
func logKeyIn(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := keyfile.Write(filepath.Join(dir, "log-key.pem"), key); err != nil {
		t.Fatal(err)
	}
	return dir, key
}

// TestWitnessedPublication runs the log with a quorum of two witnesses: the
// checkpoint an entry is proven against carries both cosignatures, and
// sigstore-go still verifies the bundle.
func TestWitnessedPublication(t *testing.T) {
	dir, key := logKeyIn(t)
	w1, _ := witnessFor(t, "w1.example/w", key)
	w2, _ := witnessFor(t, "w2.example/w", key)
	policy := w1 + w2 + "group both all w1.example-w w2.example-w\nquorum both\n"
	wg, err := tessera.NewWitnessGroupFromPolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	p, err := tlog.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	tl := startLog(t, dir, func(c *logserver.Config) { c.Witnesses = wg })

	tle := tl.add(t, signedRequest(t, []byte("witnessed entry")))
	cp := []byte(tle.GetInclusionProof().GetCheckpoint().GetEnvelope())
	names, err := p.CheckQuorum(cp)
	if err != nil {
		t.Fatalf("the entry's checkpoint: %v\n%s", err, cp)
	}
	if got := strings.Join(names, ","); got != "w1.example-w,w2.example-w" {
		t.Errorf("cosigned by %s, want both witnesses", got)
	}
	if _, raw := tl.checkpoint(t); !strings.Contains(string(raw), "— w1.example/w ") {
		t.Errorf("the published checkpoint carries no cosignature:\n%s", raw)
	}

	s := newSigner(t)
	msg := []byte("signed through sigstore-go")
	b := s.bundle(t, tl, &sign.PlainData{Data: msg})
	if err := s.verifyBundle(tl.trustedRoot(t), b, msg); err != nil {
		t.Errorf("sigstore-go rejects a bundle with a cosigned checkpoint: %v", err)
	}
	if _, err := p.CheckQuorum([]byte(b.GetVerificationMaterial().GetTlogEntries()[0].GetInclusionProof().GetCheckpoint().GetEnvelope())); err != nil {
		t.Errorf("the bundle's checkpoint: %v", err)
	}
}

// TestQuorumNotMet runs the log with a witness that does not know its key:
// a new log does not start (its first checkpoint cannot be cosigned), and
// an existing one publishes nothing new: an entry's request times out
// instead of returning an entry proven against an unwitnessed checkpoint.
func TestQuorumNotMet(t *testing.T) {
	dir, _ := logKeyIn(t)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := witnessFor(t, "w1.example/w", stranger) // trusts another key
	wg, err := tessera.NewWitnessGroupFromPolicy([]byte(line + "quorum w1.example-w\n"))
	if err != nil {
		t.Fatal(err)
	}
	witnessed := func(c *logserver.Config) {
		c.Witnesses = wg
		c.AddTimeout = 2 * time.Second
		c.WitnessTimeout = time.Second
		c.ShutdownTimeout = time.Second
	}
	_, err = logserver.New(t.Context(), logserver.Config{Dir: dir, Origin: testOrigin, Witnesses: wg})
	if err == nil || !strings.Contains(err.Error(), "witness policy was not satisfied") {
		t.Fatalf("a new log started without its first checkpoint cosigned (err %v)", err)
	}

	// The failed start left a log that has never published a checkpoint;
	// it starts with the witness, but an entry is never published, and
	// its request ends at its timeout.
	noCheckpoint := startLog(t, dir, witnessed)
	checkNotPublished(t, noCheckpoint, "never witnessed")
	closeUnpublished(t, noCheckpoint)

	// Started without witnesses, the log publishes the entry; with the
	// witness again, it publishes nothing newer.
	plain := startLog(t, dir, nil)
	waitForCheckpoint(t, plain, 1)
	plain.close(t)
	tl := startLog(t, dir, witnessed)
	checkNotPublished(t, tl, "still not witnessed")
	if c, raw := tl.checkpoint(t); c.Size != 1 {
		t.Fatalf("a checkpoint of size %d was published without the quorum:\n%s", c.Size, raw)
	}
	closeUnpublished(t, tl)
}

// closeUnpublished closes a log whose entries could not be published: Close
// gives up after its timeout and says so.
func closeUnpublished(t *testing.T, tl *testLog) {
	t.Helper()
	tl.srv.Close()
	tl.unpublished = true
	if err := tl.Close(); err == nil {
		t.Error("Close reported success with entries left unpublished")
	}
}

func checkNotPublished(t *testing.T, tl *testLog, msg string) {
	t.Helper()
	start := time.Now()
	r := tl.post(t, requestJSON(t, signedRequest(t, []byte(msg))))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(parseError(t, r.body).Message, "timed out waiting for the entry to be published") {
		t.Fatalf("got %d %s, want 503: not published", r.status, r.body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the request took %v, past its 2s timeout", d)
	}
}

func waitForCheckpoint(t *testing.T, tl *testLog, size uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		raw, err := tl.fetcher(t).ReadCheckpoint(t.Context())
		if err != nil {
			continue
		}
		if c, err := tlog.VerifyCheckpoint(raw, tl.Verifier()); err == nil && c.Size == size {
			return
		}
	}
	t.Fatalf("no checkpoint of size %d published within 10s", size)
}
