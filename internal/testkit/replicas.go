package testkit

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hallmark.dev/internal/server"
)

// LoadBalancer is a round-robin HTTP load balancer on loopback in front of
// the replicas of a replica set. A request whose replica refuses the
// connection (it is down) goes to the next one, as a load balancer whose
// health checks took the replica out would send it; a request a replica
// accepted is never sent twice.
type LoadBalancer struct {
	// URL is the balancer's base URL, the replicas' public URL.
	URL  string
	Addr string

	mu       sync.Mutex
	backends []string
	next     atomic.Uint64
	broken   atomic.Int64 // requests a replica accepted and did not answer
	server   *http.Server
	client   *http.Transport
}

// maxBufferedBody bounds the request bodies the balancer holds to resend.
const maxBufferedBody = 256 << 20

// StartLoadBalancer starts a balancer on addr (a free loopback port when
// empty), with no backends yet.
func StartLoadBalancer(t testing.TB, addr string) *LoadBalancer {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	lb := &LoadBalancer{URL: "http://" + l.Addr().String(), Addr: l.Addr().String(), client: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
	}}
	lb.server = &http.Server{Handler: lb, ReadHeaderTimeout: 30 * time.Second}
	go lb.server.Serve(l)
	t.Cleanup(func() {
		lb.server.Close()
		lb.client.CloseIdleConnections()
	})
	return lb
}

// Broken returns the number of requests a replica accepted and did not
// answer (it died with them in flight): the balancer answered them 502.
func (lb *LoadBalancer) Broken() int64 { return lb.broken.Load() }

// SetBackends replaces the replicas behind the balancer (host:port each).
func (lb *LoadBalancer) SetBackends(backends ...string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.backends = append([]string(nil), backends...)
}

func (lb *LoadBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
	if err != nil || len(body) > maxBufferedBody {
		http.Error(w, "load balancer: reading the request body", http.StatusBadGateway)
		return
	}
	lb.mu.Lock()
	backends := lb.backends
	lb.mu.Unlock()
	if len(backends) == 0 {
		http.Error(w, "load balancer: no replicas", http.StatusBadGateway)
		return
	}
	start := lb.next.Add(1)
	for i := range backends {
		backend := backends[(start+uint64(i))%uint64(len(backends))]
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", backend
		out.Host = r.Host
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			out.Header.Set("X-Forwarded-For", host)
		}
		resp, err := lb.client.RoundTrip(out)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				continue // the replica is down: nothing was sent
			}
			lb.broken.Add(1)
			http.Error(w, "load balancer: "+err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "load balancer: every replica is down", http.StatusBadGateway)
}

// SharedConfig returns a configure function for StartStackIn that puts the
// server on the replica set's database and bucket, behind publicURL.
func SharedConfig(database, objectStore, publicURL string) func(string, *server.Config) {
	return func(_ string, cfg *server.Config) {
		cfg.Database, cfg.ObjectStore, cfg.PublicURL = database, objectStore, publicURL
		cfg.ObjectStoreCredentials = server.Credentials{AccessKeyID: TestS3AccessKey, SecretAccessKey: TestS3SecretKey}
	}
}

// CopyDir copies a data directory, as an operator copies the first
// replica's to the others.
func CopyDir(t testing.TB, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", filepath.Clean(from)+"/.", to).CombinedOutput(); err != nil {
		t.Fatalf("copying %s to %s: %v\n%s", from, to, err, out)
	}
}

// Process is a `hallmark serve` a test runs as a process of its own, to
// kill with SIGKILL.
type Process struct {
	Addr string
	args []string
	env  []string
	bin  string
	log  *bytes.Buffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartServeProcess runs bin serve with args (which must not name --addr:
// the process listens on addr), waits until it answers /healthz, and stops
// it at the end of the test.
func StartServeProcess(t testing.TB, bin, addr string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Addr: addr, args: args, env: env, bin: bin, log: &bytes.Buffer{}}
	p.Start(t)
	t.Cleanup(func() { p.Kill(t) })
	return p
}

// Start starts the process again after Kill.
func (p *Process) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd := exec.Command(p.bin, append([]string{"serve", "--addr", p.Addr}, p.args...)...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: p.log, mu: &p.mu}, &lockedWriter{w: p.log, mu: &p.mu}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	done := p.done
	p.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + p.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("hallmark serve on %s exited:\n%s", p.Addr, p.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hallmark serve on %s does not answer:\n%s", p.Addr, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill kills the process with SIGKILL and waits for it to exit.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Log returns what the process printed.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
