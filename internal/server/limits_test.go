package server_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"hallmark.dev/internal/server"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/internal/testkit/lite"
)

// startConfig serves cfg (on a fresh data directory, loopback, no CA) until
// the test ends.
func startConfig(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	return testkit.Serve(t, cfg)
}

func dial(t *testing.T, s *server.Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports how long the server took to close c (reads return
// EOF or a reset), failing the test if it has not within limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(limit)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	_, err := io.Copy(io.Discard, c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", limit)
	}
	return time.Since(start)
}

func TestIdleConnectionClosed(t *testing.T) {
	s := startConfig(t, server.Config{IdleTimeout: 200 * time.Millisecond})
	c := dial(t, s)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("got status %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	if d := closedWithin(t, c, 5*time.Second); d < 100*time.Millisecond {
		t.Errorf("idle connection closed after %s, want about the 200ms idle timeout", d)
	}
}

func TestTrickledBodyCut(t *testing.T) {
	logs := &lite.SyncBuffer{}
	s := startConfig(t, server.Config{MinDataRate: 1000, DataRateGrace: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := dial(t, s)
	const size = 1000 // a second's worth at the minimum rate
	if _, err := fmt.Fprintf(c, "POST /api/v1/timestamp HTTP/1.1\r\nHost: x\r\nContent-Type: application/timestamp-query\r\nContent-Length: %d\r\n\r\n", size); err != nil {
		t.Fatalf("writing the headers: %v", err)
	}
	// 1 byte every 20ms: 50 bytes/s, a twentieth of the minimum.
	sent := 0
	start := time.Now()
	buf := make([]byte, 4096)
trickle:
	for ; sent < size; sent++ {
		if _, err := c.Write([]byte{0}); err != nil {
			break // cut
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the server still read a body trickled at 50 bytes/s after %s", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
		if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
			t.Fatalf("SetReadDeadline: %v", err)
		}
		for {
			_, err := c.Read(buf)
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				break
			}
			if err != nil {
				break trickle // closed by the server
			}
		}
	}
	if sent == size {
		t.Fatalf("the server read the whole body trickled at 50 bytes/s")
	}
	// Cut at about grace + sent/rate, a fraction of a second here, against
	// 20s for the whole body; the bound leaves room for a loaded machine.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cut after %s, want well under 5s", d)
	}
	if !strings.Contains(logs.String(), "request body slower than the minimum rate") {
		t.Errorf("the server did not log why it cut the request; logs:\n%s", logs)
	}
}

// TestSlowUploadCompletes pushes a blob in one request at four times the
// minimum rate, for several times the grace period: it must be stored.
func TestSlowUploadCompletes(t *testing.T) {
	const rate = 64 << 10 // bytes per second
	logs := &lite.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", logs)
		}
	})
	s := startConfig(t, server.Config{MinDataRate: rate / 4, DataRateGrace: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	blob := bytes.Repeat([]byte("hallmark"), (rate*2)/8) // 2s at rate
	start := time.Now()
	digest := pushBlob(t, s, "slow", blob, &paced{data: blob, chunk: 4 << 10, every: time.Second * (4 << 10) / rate})
	if d := time.Since(start); d < 3*500*time.Millisecond {
		t.Fatalf("the upload took %s; the test needs it to outlast the grace period many times", d)
	}
	head, err := http.Head("http://" + s.Addr().String() + "/v2/slow/blobs/" + digest)
	if err != nil {
		t.Fatalf("HEAD blob: %v", err)
	}
	head.Body.Close()
	if got := head.Header.Get("Content-Length"); head.StatusCode != http.StatusOK || got != strconv.Itoa(len(blob)) {
		t.Errorf("HEAD blob: got %d, Content-Length %s; want 200, %d", head.StatusCode, got, len(blob))
	}
}

// pushBlob uploads blob, read from body, to repo on s in one PUT and
// returns its digest.
func pushBlob(t *testing.T, s *server.Server, repo string, blob []byte, body io.Reader) string {
	t.Helper()
	sum := sha256.Sum256(blob)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	base := "http://" + s.Addr().String()
	resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "application/octet-stream", nil)
	if err != nil {
		t.Fatalf("starting the upload: %v", err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("starting the upload: got %d, Location %q", resp.StatusCode, loc)
	}
	if strings.HasPrefix(loc, "/") {
		loc = base + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(http.MethodPut, loc+sep+"digest="+digest, body)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	req.ContentLength = int64(len(blob))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: got %d %s, want 201", resp.StatusCode, answer)
	}
	return digest
}

// paced yields data chunk bytes at a time, one chunk per every.
type paced struct {
	data  []byte
	chunk int
	every time.Duration
	sent  bool
}

func (p *paced) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	if p.sent {
		time.Sleep(p.every)
	}
	p.sent = true
	n := copy(b[:min(len(b), p.chunk)], p.data)
	p.data = p.data[n:]
	return n, nil
}

// TestSlowReaderCut: a client that takes a large response far below the
// minimum rate is cut.
func TestSlowReaderCut(t *testing.T) {
	dir := t.TempDir()
	// Push with the default limits, then serve the same data with a
	// minimum rate that a client reading nothing cannot meet.
	first := startConfig(t, server.Config{DataDir: dir})
	blob := bytes.Repeat([]byte{1}, 16<<20)
	digest := pushBlob(t, first, "big", blob, bytes.NewReader(blob))
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	logs := &lite.SyncBuffer{}
	s := startConfig(t, server.Config{DataDir: dir, MinDataRate: 16 << 20, DataRateGrace: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})

	// The kernel buffers a few MiB of the response (the server's send
	// buffer, the client's receive window): far less than the blob.
	c := dial(t, s)
	if _, err := io.WriteString(c, "GET /v2/big/blobs/"+digest+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	time.Sleep(2 * time.Second) // take nothing: the server must give up
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	n, err := io.Copy(io.Discard, c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the connection stayed open after %d bytes: %v; logs:\n%s", n, err, logs)
	}
	if n >= int64(len(blob)) {
		t.Fatalf("the client that read nothing for 2s got the whole %d byte blob at last (%d bytes), want the server to cut it", len(blob), n)
	}
	if !strings.Contains(logs.String(), "response slower than the minimum rate") {
		t.Errorf("the server did not log why it cut the response; logs:\n%s", logs)
	}
}

// TestConnectionLimit: connections beyond MaxConnections wait until one
// closes.
func TestConnectionLimit(t *testing.T) {
	s := startConfig(t, server.Config{MaxConnections: 2})
	held := []net.Conn{dial(t, s), dial(t, s)}
	for _, c := range held {
		// Complete a request on each, so both are accepted for sure.
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("writing the request: %v", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		resp.Body.Close()
	}
	third := dial(t, s)
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	if err := third.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	br := bufio.NewReader(third)
	if _, err := br.Peek(1); err == nil {
		t.Fatalf("a third connection was served while two were open, want it to wait (limit 2)")
	}
	held[0].Close()
	if err := third.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the third connection after one closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the third connection after one closed: got %d, want 200", resp.StatusCode)
	}
}
