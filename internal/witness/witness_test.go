package witness_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/internal/tlogtest"
	"hallmark.dev/internal/witness"
	"hallmark.dev/tlog"
)

func newWitness(t *testing.T, dir string, logs ...*tlogtest.Log) *witness.Witness {
	t.Helper()
	var pl []tlog.PolicyLog
	for _, l := range logs {
		v, err := tlog.ParseLogVerifierKey(l.VKey)
		if err != nil {
			t.Fatal(err)
		}
		pl = append(pl, tlog.PolicyLog{VKey: l.VKey, Origin: v.Name(), Verifier: v})
	}
	w, err := witness.New(witness.Config{Dir: dir, Name: "witness.example/w1", Logs: pl})
	if err != nil {
		t.Fatalf("witness.New: %v", err)
	}
	return w
}

// body is an add-checkpoint request.
func body(old uint64, proof [][]byte, cp []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.Bytes()
}

func entries(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, fmt.Appendf(nil, "entry %d", i))
	}
	return out
}

// TestAddCheckpoint walks a log through the witness: it cosigns a log that
// grows consistently and refuses, with the status tlog-witness requires, a
// rollback, a fork, a bad proof, a forged checkpoint and an unknown log.
func TestAddCheckpoint(t *testing.T) {
	l := tlogtest.New(t, "log.example")
	l.Append(t, entries(5)...)
	w := newWitness(t, t.TempDir(), l)
	wv, err := tlog.ParseWitnessVerifierKey(w.VerifierKey())
	if err != nil {
		t.Fatalf("the witness's own vkey: %v", err)
	}

	cosign := func(t *testing.T, req []byte) []byte {
		t.Helper()
		lines, err := w.AddCheckpoint(req)
		if err != nil {
			t.Fatalf("AddCheckpoint: %v", err)
		}
		return lines
	}
	// The first checkpoint, from size 0, is cosigned; the cosignature
	// verifies with the witness's vkey.
	cp5 := l.Checkpoint(t)
	lines := cosign(t, body(0, nil, cp5))
	if _, err := note.Open(append(bytes.Clone(cp5), lines...), note.VerifierList(wv)); err != nil {
		t.Fatalf("the cosignature does not verify: %v\n%s", err, lines)
	}
	// Growing with a consistency proof is cosigned.
	l.Append(t, entries(12)[5:]...)
	cp12 := l.Checkpoint(t)
	cosign(t, body(5, l.ConsistencyProof(t, 5, 12), cp12))
	// Resubmitting the same checkpoint is cosigned again.
	cosign(t, body(12, nil, cp12))

	forked := l.Fork(t, 3, []byte("evil entry"))
	forked.Append(t, []byte("more"))
	rolledBack := l.Truncate(t, 7)
	other := tlogtest.New(t, "log.example") // same origin, another key: a forgery
	other.Append(t, entries(13)...)
	unknown := tlogtest.New(t, "unknown.example")
	unknown.Append(t, entries(1)...)

	for _, tc := range []struct {
		name   string
		req    []byte
		status int
		want   string
	}{
		{"rollback", body(7, nil, rolledBack.Checkpoint(t)), http.StatusConflict, "has size 12, not 7"},
		{"rollback claiming the current size", body(12, nil, rolledBack.Checkpoint(t)), http.StatusBadRequest, "above the checkpoint's size"},
		{"fork at the same size", body(12, nil, forked.CheckpointAt(t, 12)), http.StatusUnprocessableEntity, "forked"},
		{"fork that grew", body(12, forked.ConsistencyProof(t, 12, 13), forked.Checkpoint(t)), http.StatusUnprocessableEntity, "consistency proof from tree size 12 to 13 does not verify"},
		{"proof from zero", body(0, l.ConsistencyProof(t, 5, 12), cp12), http.StatusConflict, "has size 12, not 0"},
		{"forged checkpoint", body(12, nil, other.Checkpoint(t)), http.StatusForbidden, "no valid signature by the log's key"},
		{"unknown log", body(0, nil, unknown.Checkpoint(t)), http.StatusNotFound, "unknown log"},
		{"no old line", []byte("12\n\n" + string(cp12)), http.StatusBadRequest, "old <size>"},
		{"leading zero", []byte("old 012\n\n" + string(cp12)), http.StatusBadRequest, "old <size>"},
		{"empty", nil, http.StatusBadRequest, "no old size line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.AddCheckpoint(tc.req)
			var e *witness.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a refusal with status %d", err, tc.status)
			}
			if e.Status != tc.status || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("got %d %q, want %d saying %q", e.Status, e.Msg, tc.status, tc.want)
			}
		})
	}
}

// TestHTTPAndRestart checks the HTTP answers (409 names the size in
// text/x.tlog.size) and that the state survives a restart: a witness that
// forgot what it cosigned would accept a rollback.
func TestHTTPAndRestart(t *testing.T) {
	l := tlogtest.New(t, "log.example")
	l.Append(t, entries(3)...)
	dir := t.TempDir()
	w := newWitness(t, dir, l)
	if _, err := w.AddCheckpoint(body(0, nil, l.Checkpoint(t))); err != nil {
		t.Fatal(err)
	}
	vkey, err := os.ReadFile(filepath.Join(dir, witness.VKeyFile))
	if err != nil || strings.TrimSpace(string(vkey)) != w.VerifierKey() {
		t.Fatalf("witness.vkey holds %q (%v), want %q", vkey, err, w.VerifierKey())
	}

	w2 := newWitness(t, dir, l) // a restart
	if w2.VerifierKey() != w.VerifierKey() {
		t.Fatal("the key changed across a restart")
	}
	srv := httptest.NewServer(w2.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(body(0, nil, l.CheckpointAt(t, 2))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Content-Type") != "text/x.tlog.size" || string(got) != "3\n" {
		t.Errorf("got %s %q %q, want 409 text/x.tlog.size \"3\\n\"", resp.Status, resp.Header.Get("Content-Type"), got)
	}
	// The monitoring endpoint serves the cosigned checkpoint.
	cp := lite.Get(t, srv.URL+"/"+originHash("log.example")+"/checkpoint")
	wv, err := tlog.ParseWitnessVerifierKey(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(cp, note.VerifierList(wv, l.Verifier)); err != nil {
		t.Errorf("served checkpoint: %v\n%s", err, cp)
	}
}

func originHash(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(sum[:])
}
