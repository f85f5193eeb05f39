// Command tsa measures hallmark's timestamp authority over HTTP: it starts
// the TSA's handler on loopback, has N clients POST RFC 3161 requests, each
// as soon as its previous answer arrives, for a bounded time, and prints
// the throughput and the latency percentiles.
//
//	go run ./bench/tsa [-c clients] [-d duration] [-certreq]
//
// Requests are what sigstore-go and cosign send (a SHA-256 imprint, no
// nonce, certReq false) unless -certreq asks for the chain in every reply.
// Every reply must be 200; the first one is parsed and checked.
package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/digitorus/timestamp"

	"hallmark.dev/internal/tsa"
)

func main() {
	clients := flag.Int("c", runtime.GOMAXPROCS(0)*2, "concurrent clients")
	duration := flag.Duration("d", 5*time.Second, "how long to send requests")
	certReq := flag.Bool("certreq", false, "ask for the certificate chain in every reply")
	flag.Parse()
	if err := run(*clients, *duration, *certReq); err != nil {
		fmt.Fprintf(os.Stderr, "bench/tsa: error: %v\n", err)
		os.Exit(1)
	}
}

func run(clients int, duration time.Duration, certReq bool) error {
	if clients < 1 || duration <= 0 {
		return errors.New("want at least one client and a positive duration")
	}
	dir, err := os.MkdirTemp("", "hallmark-bench-tsa-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	a, err := tsa.New(tsa.Config{Dir: dir})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/api/v1/timestamp"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}

	digest := make([]byte, sha256.Size)
	if _, err := rand.Read(digest); err != nil {
		return err
	}
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Certificates: certReq}).Marshal()
	if err != nil {
		return err
	}

	// One checked request first, which also warms the connection pool up.
	reply, err := post(client, url, req)
	if err != nil {
		return err
	}
	ts, err := timestamp.ParseResponse(reply)
	if err != nil {
		return fmt.Errorf("first reply: %v", err)
	}
	if !bytes.Equal(ts.HashedMessage, digest) {
		return errors.New("first reply: wrong hashed message")
	}

	latencies := make([][]time.Duration, clients)
	errs := make([]error, clients)
	deadline := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := post(client, url, req); err != nil {
					errs[i] = err
					return
				}
				latencies[i] = append(latencies[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}

	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	fmt.Printf("hallmark TSA over HTTP: %d clients, %v, certReq %v, GOMAXPROCS %d\n", clients, duration, certReq, runtime.GOMAXPROCS(0))
	fmt.Printf("requests  %d\n", len(all))
	fmt.Printf("req/s     %.0f\n", float64(len(all))/elapsed.Seconds())
	fmt.Printf("p50       %v\n", pct(0.50).Round(time.Microsecond))
	fmt.Printf("p99       %v\n", pct(0.99).Round(time.Microsecond))
	return nil
}

// post sends one request and returns the reply, which must be 200.
func post(client *http.Client, url string, req []byte) ([]byte, error) {
	resp, err := client.Post(url, "application/timestamp-query", bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, nil
}
