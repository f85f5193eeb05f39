// Command tsa measures hallmark's timestamp authority over HTTP beside
// sigstore's timestamp-authority: it starts hallmark's TSA handler on
// loopback and, with -peer, timestamp-authority's server (file signer) on
// the same key and certificate chain, then has N clients POST RFC 3161
// requests to each, each client as soon as its previous answer arrives,
// for a bounded time, and prints the throughput and latency percentiles.
//
//	go run ./bench/tsa [-c clients] [-d duration] [-rounds n] [-peer timestamp-server]
//
// The requests are a mix, the same for both servers: SHA-256 and SHA-384
// imprints, with and without a nonce, with and without certReq; each
// client cycles through them. Every reply must be 200; the first reply of
// each kind from each server is parsed and checked. With -rounds, the two
// servers alternate (in a rotating order) and the figures are medians with
// their ranges.
package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/digitorus/timestamp"

	"hallmark.dev/internal/tsa"
)

func main() {
	clients := flag.Int("c", 4, "concurrent clients")
	duration := flag.Duration("d", 5*time.Second, "how long to send requests, per server and round")
	rounds := flag.Int("rounds", 1, "rounds; the servers alternate in each")
	peer := flag.String("peer", "", "timestamp-authority's server binary (timestamp-server serve); empty: hallmark only")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process (hallmark's TSA and every client; the peer is another process) to this file")
	flag.Parse()
	if err := run(*clients, *duration, *rounds, *peer, *cpuProfile); err != nil {
		fmt.Fprintf(os.Stderr, "bench/tsa: error: %v\n", err)
		os.Exit(1)
	}
}

// A server is a TSA under test: its timestamp URL and how to stop it.
type server struct {
	name string
	url  string
	stop func() error
}

// result is one measurement of one server.
type result struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration // sorted
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) p(q float64) time.Duration {
	return r.latencies[int(q/100*float64(len(r.latencies)-1))]
}

func run(clients int, duration time.Duration, rounds int, peer, cpuProfile string) error {
	if clients < 1 || duration <= 0 || rounds < 1 {
		return errors.New("want at least one client and round and a positive duration")
	}
	dir, err := os.MkdirTemp("", "hallmark-bench-tsa-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "tsa")
	a, err := tsa.New(tsa.Config{Dir: state})
	if err != nil {
		return err
	}
	servers := []server{}
	ours, err := startHallmark(a)
	if err != nil {
		return err
	}
	defer ours.stop()
	servers = append(servers, ours)
	if peer != "" {
		// The same signing key (ECDSA P-256) and chain as hallmark's.
		theirs, err := startPeer(peer, dir, filepath.Join(state, "leaf-key.pem"), filepath.Join(state, "chain.pem"))
		if err != nil {
			return err
		}
		defer theirs.stop()
		servers = append(servers, theirs)
	}
	mix, err := requestMix()
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for _, s := range servers {
		if err := checkReplies(client, s, mix); err != nil {
			return err
		}
	}

	fmt.Printf("RFC 3161 over loopback HTTP: %d clients, %v per server and round, %d round(s), GOMAXPROCS %d\n",
		clients, duration, rounds, runtime.GOMAXPROCS(0))
	fmt.Printf("request mix: %d kinds (SHA-256 and SHA-384, with and without nonce and certReq), cycled by each client\n", len(mix))
	fmt.Printf("load average at start: %s\n\n", loadavg())
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	results := map[string][]result{}
	for r := range rounds {
		for i := range servers {
			s := servers[(i+r)%len(servers)]
			fmt.Fprintf(os.Stderr, "round %d: %s\n", r+1, s.name)
			res, err := measure(client, s.url, mix, clients, duration)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			results[s.name] = append(results[s.name], res)
		}
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\treq/s\trange\tp50\tp99\tp99 range\t")
	for _, s := range servers {
		rs := results[s.name]
		rates := each(rs, func(r result) float64 { return r.rate() })
		p50 := each(rs, func(r result) float64 { return float64(r.p(50)) })
		p99 := each(rs, func(r result) float64 { return float64(r.p(99)) })
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t\n", s.name, median(rates), spread(rates, func(x float64) string { return fmt.Sprintf("%.0f", x) }),
			ms(median(p50)), ms(median(p99)), spread(p99, ms))
	}
	if peer != "" {
		var rate, p99 []float64
		for r := range rounds {
			h, t := results[servers[0].name][r], results[servers[1].name][r]
			rate = append(rate, h.rate()/t.rate())
			p99 = append(p99, float64(h.p(99))/float64(t.p(99)))
		}
		f := func(x float64) string { return fmt.Sprintf("%.2fx", x) }
		fmt.Fprintf(tw, "hallmark/timestamp-authority\t%s\t%s\t\t%s\t%s\t\n", f(median(rate)), spread(rate, f), f(median(p99)), spread(p99, f))
	}
	tw.Flush()
	fmt.Printf("\nload average at end: %s\n", loadavg())
	fmt.Println("req/s: higher is better; p50/p99 latency: lower is better. Medians over the rounds, ranges in brackets;")
	fmt.Println("the ratio row is the median of the per-round ratios (hallmark / timestamp-authority).")
	return nil
}

// startHallmark serves hallmark's TSA handler on loopback.
func startHallmark(a *tsa.TSA) (server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return server{}, err
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return server{name: "hallmark", url: "http://" + ln.Addr().String() + "/api/v1/timestamp", stop: srv.Close}, nil
}

// startPeer starts timestamp-authority's server with the file signer on
// keyPath and chainPath, on a free loopback port, with a clean environment
// (it reads flag-named variables and $HOME/.timestamp-server.yaml). Its
// metrics listener is fixed on port 2112.
func startPeer(bin, dir, keyPath, chainPath string) (server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return server{}, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	home := filepath.Join(dir, "peer-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return server{}, err
	}
	cmd := exec.Command(bin, "serve", "--host=127.0.0.1", "--port="+strconv.Itoa(port),
		"--disable-ntp-monitoring", "--timestamp-signer=file",
		"--file-signer-key-path="+keyPath, "--certificate-chain-path="+chainPath,
		"--log-type=prod")
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return server{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return err
		}
		select {
		case <-exited:
			return nil
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
			return errors.New("timestamp-authority did not stop in 20s")
		}
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			return server{}, fmt.Errorf("timestamp-authority exited: %v: %s", err, stderr.Bytes())
		default:
		}
		if resp, err := http.Get(base + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return server{}, fmt.Errorf("timestamp-authority not up after 30s: %s", stderr.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return server{name: "timestamp-authority", url: base + "/api/v1/timestamp", stop: stop}, nil
}

// kind is one request of the mix, with what its reply must stamp.
type kind struct {
	req    []byte
	hash   crypto.Hash
	digest []byte
	nonce  *big.Int
}

// requestMix builds the eight kinds of request: SHA-256 and SHA-384
// imprints, with and without a nonce, with and without certReq.
func requestMix() ([]kind, error) {
	var mix []kind
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		for _, withNonce := range []bool{false, true} {
			for _, certReq := range []bool{false, true} {
				digest := make([]byte, h.Size())
				if _, err := rand.Read(digest); err != nil {
					return nil, err
				}
				k := kind{hash: h, digest: digest}
				if withNonce {
					n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
					if err != nil {
						return nil, err
					}
					k.nonce = n
				}
				req, err := (&timestamp.Request{HashAlgorithm: h, HashedMessage: digest, Certificates: certReq, Nonce: k.nonce}).Marshal()
				if err != nil {
					return nil, err
				}
				k.req = req
				mix = append(mix, k)
			}
		}
	}
	return mix, nil
}

// checkReplies sends each kind once to s and checks the reply.
func checkReplies(client *http.Client, s server, mix []kind) error {
	for i, k := range mix {
		reply, err := post(client, s.url, k.req)
		if err != nil {
			return fmt.Errorf("%s, request %d: %w", s.name, i, err)
		}
		ts, err := timestamp.ParseResponse(reply)
		if err != nil {
			return fmt.Errorf("%s, request %d: %v", s.name, i, err)
		}
		if !bytes.Equal(ts.HashedMessage, k.digest) || ts.HashAlgorithm != k.hash {
			return fmt.Errorf("%s, request %d: the reply stamps another imprint", s.name, i)
		}
		if (k.nonce == nil) != (ts.Nonce == nil) || (k.nonce != nil && k.nonce.Cmp(ts.Nonce) != 0) {
			return fmt.Errorf("%s, request %d: the reply's nonce is %v, want %v", s.name, i, ts.Nonce, k.nonce)
		}
	}
	return nil
}

// measure has clients POST the mix to url for duration.
func measure(client *http.Client, url string, mix []kind, clients int, duration time.Duration) (result, error) {
	latencies := make([][]time.Duration, clients)
	errs := make([]error, clients)
	deadline := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for n := i; time.Now().Before(deadline); n++ {
				t0 := time.Now()
				if _, err := post(client, url, mix[n%len(mix)].req); err != nil {
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
		return result{}, err
	}
	all := slices.Concat(latencies...)
	if len(all) == 0 {
		return result{}, errors.New("no request completed")
	}
	slices.Sort(all)
	return result{requests: len(all), elapsed: elapsed, latencies: all}, nil
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
		return nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return body, nil
}

func each(rs []result, f func(result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(xs []float64, f func(float64) string) string {
	if len(xs) < 2 {
		return ""
	}
	return "[" + f(slices.Min(xs)) + "–" + f(slices.Max(xs)) + "]"
}

func ms(ns float64) string { return fmt.Sprintf("%.2fms", ns/1e6) }

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return "unknown"
	}
	return string(bytes.Join(f[:3], []byte(" ")))
}
