// Command tsa measures hallmark's timestamp authority over HTTP beside
// sigstore's timestamp-authority: it starts hallmark's TSA handler on
// loopback in a process of its own and, with -peer, timestamp-authority's
// server (file signer) on the same key and certificate chain, then has N clients POST RFC 3161
// requests to each, each client as soon as its previous answer arrives,
// for a bounded time, and prints the throughput and latency percentiles.
//
//	go run ./bench/tsa [-c clients] [-d duration] [-rounds n] [-peer timestamp-server] [-hallmark-clients 4,8,16]
//
// The requests are a mix, the same for both servers: SHA-256 and SHA-384
// imprints, with and without a nonce, with and without certReq; each
// client cycles through them. Every reply must be 200; the first reply of
// each kind from each server is parsed and checked. With -rounds, the two
// servers alternate (in a rotating order) and the figures are medians with
// their ranges. With -peer, hallmark is also measured with more clients
// (-hallmark-clients): closed-loop clients wait for each answer, so the
// throughput of a server at the peer's p99 is the comparison at equal p99.
package main

import (
	"bufio"
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
	neturl "net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/digitorus/timestamp"

	"hallmark.dev/internal/tsa"
)

func main() {
	clients := flag.Int("c", 4, "concurrent clients (of each server)")
	hallmarkClients := flag.String("hallmark-clients", "4,8,16", "with -peer: the client counts hallmark is also measured with, for its throughput at the peer's p99 (must include -c)")
	duration := flag.Duration("d", 5*time.Second, "how long to send requests, per server and round")
	rounds := flag.Int("rounds", 1, "rounds; the servers alternate in each")
	peer := flag.String("peer", "", "timestamp-authority's server binary (timestamp-server serve); empty: hallmark only")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of hallmark's TSA process to this file")
	serveDir := flag.String("serve", "", "internal: serve hallmark's TSA from this state directory on -addr (the benchmark runs itself so)")
	addr := flag.String("addr", "", "internal: the address for -serve")
	flag.Parse()
	if *serveDir != "" {
		if err := serve(*serveDir, *addr, *cpuProfile); err != nil {
			fmt.Fprintf(os.Stderr, "bench/tsa: error: %v\n", err)
			os.Exit(1)
		}
		return
	}
	var hc []int
	for _, f := range strings.Split(*hallmarkClients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench/tsa: error: invalid client count %q\n", f)
			os.Exit(2)
		}
		hc = append(hc, n)
	}
	if err := run(*clients, hc, *duration, *rounds, *peer, *cpuProfile); err != nil {
		fmt.Fprintf(os.Stderr, "bench/tsa: error: %v\n", err)
		os.Exit(1)
	}
}

// A server is a TSA under test: its timestamp URL and how to stop it.
type server struct {
	name string
	url  string
	stop func() error
	pid  int
}

// cpuTime is the user and system CPU time a process has used so far
// (Linux's /proc), or 0 when it cannot be read.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100
}

// result is one measurement of one server.
type result struct {
	requests  int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	cpu       time.Duration   // the server process's CPU time meanwhile
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) p(q float64) time.Duration {
	return r.latencies[int(q/100*float64(len(r.latencies)-1))]
}

func run(clients int, hallmarkClients []int, duration time.Duration, rounds int, peer, cpuProfile string) error {
	if clients < 1 || duration <= 0 || rounds < 1 || !slices.Contains(hallmarkClients, clients) {
		return errors.New("want at least one client and round and a positive duration")
	}
	dir, err := os.MkdirTemp("", "hallmark-bench-tsa-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "tsa")
	if _, err := tsa.New(tsa.Config{Dir: state}); err != nil {
		return err
	}
	servers := []server{}
	ours, err := startHallmark(state, cpuProfile)
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
	// Each round measures the peer with the clients given and hallmark with
	// each count of -hallmark-clients, in a rotating order.
	type config struct {
		s       server
		clients int
	}
	var configs []config
	for _, s := range servers {
		counts := []int{clients}
		if s.name == "hallmark" && peer != "" {
			counts = hallmarkClients
		}
		for _, c := range counts {
			configs = append(configs, config{s, c})
		}
	}
	label := func(c config) string { return fmt.Sprintf("%s, %d clients", c.s.name, c.clients) }
	results := map[string][]result{}
	for r := range rounds {
		for i := range configs {
			c := configs[(i+r)%len(configs)]
			fmt.Fprintf(os.Stderr, "round %d: %s\n", r+1, label(c))
			cpu0 := cpuTime(c.s.pid)
			res, err := measure(c.s.url, mix, c.clients, duration)
			if err != nil {
				return fmt.Errorf("%s: %w", label(c), err)
			}
			res.cpu = cpuTime(c.s.pid) - cpu0
			results[label(c)] = append(results[label(c)], res)
		}
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\treq/s\trange\tp50\tp99\tp99 range\tserver CPU µs/req\tcores\t")
	for _, c := range configs {
		rs := results[label(c)]
		rates := each(rs, func(r result) float64 { return r.rate() })
		p50 := each(rs, func(r result) float64 { return float64(r.p(50)) })
		p99 := each(rs, func(r result) float64 { return float64(r.p(99)) })
		perReq := each(rs, func(r result) float64 { return float64(r.cpu.Microseconds()) / float64(r.requests) })
		cores := each(rs, func(r result) float64 { return r.cpu.Seconds() / r.elapsed.Seconds() })
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%.0f\t%.2f\t\n", label(c), median(rates), spread(rates, func(x float64) string { return fmt.Sprintf("%.0f", x) }),
			ms(median(p50)), ms(median(p99)), spread(p99, ms), median(perReq), median(cores))
	}
	if peer != "" {
		f := func(x float64) string { return fmt.Sprintf("%.2fx", x) }
		same := config{servers[0], clients}
		var rate, p99, equal []float64
		for r := range rounds {
			h, t := results[label(same)][r], results[label(config{servers[1], clients})][r]
			rate = append(rate, h.rate()/t.rate())
			p99 = append(p99, float64(h.p(99))/float64(t.p(99)))
			// At equal p99: hallmark's best rate, in this round, with a p99
			// no higher than the peer's.
			best := 0.0
			for _, n := range hallmarkClients {
				if hr := results[label(config{servers[0], n})][r]; hr.p(99) <= t.p(99) {
					best = max(best, hr.rate())
				}
			}
			equal = append(equal, best/t.rate())
		}
		fmt.Fprintf(tw, "hallmark/timestamp-authority, %d clients each\t%s\t%s\t\t%s\t%s\t\n", clients, f(median(rate)), spread(rate, f), f(median(p99)), spread(p99, f))
		fmt.Fprintf(tw, "hallmark/timestamp-authority at equal p99\t%s\t%s\t\t\t\t\n", f(median(equal)), spread(equal, f))
	}
	tw.Flush()
	fmt.Printf("\nload average at end: %s\n", loadavg())
	fmt.Println("req/s: higher is better; p50/p99 latency: lower is better. Medians over the rounds, ranges in brackets.")
	fmt.Println("Server CPU: the server process's user+system time per request, and in cores over the run.")
	fmt.Println("Ratio rows: medians of the per-round ratios. \"At equal p99\": hallmark's highest req/s of the round")
	fmt.Println("among its client counts whose p99 is no higher than timestamp-authority's p99 (0 when none is).")
	return nil
}

// serve serves hallmark's TSA from its state directory on addr until
// interrupted, with a CPU profile of that time when cpuProfile is set.
func serve(dir, addr, cpuProfile string) error {
	a, err := tsa.New(tsa.Config{Dir: dir})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
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
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startHallmark runs hallmark's TSA in a process of its own (this program
// with -serve), as the peer runs in its own: each server gets its share of
// the machine as a process.
func startHallmark(state, cpuProfile string) (server, error) {
	self, err := os.Executable()
	if err != nil {
		return server{}, err
	}
	port, err := freePort()
	if err != nil {
		return server{}, err
	}
	args := []string{"-serve", state, "-addr", "127.0.0.1:" + strconv.Itoa(port)}
	if cpuProfile != "" {
		args = append(args, "-cpuprofile", cpuProfile)
	}
	return startProcess("hallmark", exec.Command(self, args...), "http://127.0.0.1:"+strconv.Itoa(port), "/api/v1/timestamp/certchain")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startProcess starts a server process, waits until GET base+ready
// answers 200, and returns the server with its timestamp URL.
func startProcess(name string, cmd *exec.Cmd, base, ready string) (server, error) {
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
			return fmt.Errorf("%s did not stop in 20s", name)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			return server{}, fmt.Errorf("%s exited: %v: %s", name, err, stderr.Bytes())
		default:
		}
		if resp, err := http.Get(base + ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return server{name: name, url: base + "/api/v1/timestamp", stop: stop, pid: cmd.Process.Pid}, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return server{}, fmt.Errorf("%s not up after 30s: %s", name, stderr.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startPeer starts timestamp-authority's server with the file signer on
// keyPath and chainPath, on a free loopback port, with a clean environment
// (it reads flag-named variables and $HOME/.timestamp-server.yaml). Its
// metrics listener is fixed on port 2112.
func startPeer(bin, dir, keyPath, chainPath string) (server, error) {
	port, err := freePort()
	if err != nil {
		return server{}, err
	}
	home := filepath.Join(dir, "peer-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return server{}, err
	}
	cmd := exec.Command(bin, "serve", "--host=127.0.0.1", "--port="+strconv.Itoa(port),
		"--disable-ntp-monitoring", "--timestamp-signer=file",
		"--file-signer-key-path="+keyPath, "--certificate-chain-path="+chainPath,
		"--log-type=prod")
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	return startProcess("timestamp-authority", cmd, "http://127.0.0.1:"+strconv.Itoa(port), "/ping")
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

// measure has clients POST the mix to url for duration. Each client is a
// keep-alive HTTP/1.1 connection that writes prepared requests and reads
// each reply with http.ReadResponse: the same lean client for every
// server, so that the measuring side takes as little of the shared CPUs as
// it can (net/http's Transport adds two goroutines and channel hand-offs
// per request).
func measure(url string, mix []kind, clients int, duration time.Duration) (result, error) {
	u, err := neturl.Parse(url)
	if err != nil {
		return result{}, err
	}
	wire := make([][]byte, len(mix))
	for i, k := range mix {
		wire[i] = append(fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/timestamp-query\r\nContent-Length: %d\r\n\r\n",
			u.Path, u.Host, len(k.req)), k.req...)
	}
	latencies := make([][]time.Duration, clients)
	errs := make([]error, clients)
	deadline := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for n := i; time.Now().Before(deadline); n++ {
				t0 := time.Now()
				if _, err := conn.Write(wire[n%len(wire)]); err != nil {
					errs[i] = err
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs[i] = err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					errs[i] = err
					return
				}
				if resp.StatusCode != http.StatusOK || resp.Close {
					errs[i] = fmt.Errorf("status %d, close %v", resp.StatusCode, resp.Close)
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
