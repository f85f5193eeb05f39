// Command witness measures what witnessing adds to an entry's integration
// in hallmark's transparency log: the time from logserver.Log.Add until a
// published checkpoint covers the entry (what every signer waits for),
// with no witness, then with hallmark witnesses (internal/witness, each on
// its own loopback HTTP server with its own durable state) cosigning every
// checkpoint before tessera publishes it.
//
//	go run ./bench/witness [-idle 40] [-writers 16] [-duration 5s] [-dir $TMPDIR]
//
// For each configuration it logs -idle entries one at a time on an idle
// log (the latency one signer sees), then runs -writers concurrent writers
// for -duration (the latency under load, when one witnessed checkpoint
// covers a batch). The log keeps hallmark's defaults (10 ms batches, a
// checkpoint at most every 100 ms, 5 ms polling).
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/tessera"
	"k8s.io/klog/v2"

	"hallmark.dev/internal/keyfile"
	"hallmark.dev/internal/logserver"
	"hallmark.dev/internal/witness"
	"hallmark.dev/tlog"
)

// setup is a witness configuration: n witnesses, k of which must cosign.
type setup struct {
	name string
	n, k int
}

func main() {
	idle := flag.Int("idle", 40, "entries logged one at a time on an idle log")
	writers := flag.Int("writers", 16, "concurrent writers for the loaded run (0: skip)")
	duration := flag.Duration("duration", 5*time.Second, "length of the loaded run")
	dirFlag := flag.String("dir", os.TempDir(), "directory for the logs and the witnesses' state")
	flag.Parse()
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	klogFlags.Set("logtostderr", "false")
	klogFlags.Set("stderrthreshold", "FATAL")
	klog.SetOutput(nopWriter{})

	setups := []setup{{"no witness", 0, 0}, {"1 witness", 1, 1}, {"2 of 2 witnesses", 2, 2}, {"2 of 3 witnesses", 3, 2}}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "configuration\tidle p50\tidle p90\tidle mean\tadded (p50)\t%d writers p50\t%d writers p90\tentries/s\t\n", *writers, *writers)
	var base time.Duration
	for _, s := range setups {
		r, err := run(*dirFlag, s, *idle, *writers, *duration)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench/witness: error: %s: %v\n", s.name, err)
			os.Exit(1)
		}
		p50 := pct(r.idle, 50)
		if s.n == 0 {
			base = p50
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t\n", s.name, ms(p50), ms(pct(r.idle, 90)), ms(mean(r.idle)),
			fmt.Sprintf("%+.1f ms", float64((p50-base).Microseconds())/1000), ms(pct(r.loaded, 50)), ms(pct(r.loaded, 90)), r.rate)
	}
	tw.Flush()
}

type result struct {
	idle, loaded []time.Duration
	rate         float64
}

func run(parent string, s setup, idle, writers int, duration time.Duration) (*result, error) {
	dir, err := os.MkdirTemp(parent, "bench-witness-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The log's key exists before the log, so the witnesses can know it.
	_, logKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(dir, "log")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	if err := keyfile.Write(filepath.Join(logDir, "log-key.pem"), logKey); err != nil {
		return nil, err
	}
	const origin = "127.0.0.1"
	vkey, err := tlog.VerifierKey(origin, logKey.Public())
	if err != nil {
		return nil, err
	}
	v, err := tlog.ParseLogVerifierKey(vkey)
	if err != nil {
		return nil, err
	}
	var policy strings.Builder
	var names []string
	for i := range s.n {
		name := fmt.Sprintf("w%d.bench.example/witness", i)
		w, err := witness.New(witness.Config{Dir: filepath.Join(dir, fmt.Sprintf("w%d", i)), Name: name, Logs: []tlog.PolicyLog{{VKey: vkey, Origin: origin, Verifier: v}}})
		if err != nil {
			return nil, err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go w.Serve(ctx, l)
		fmt.Fprintf(&policy, "witness w%d %s http://%s\n", i, w.VerifierKey(), l.Addr())
		names = append(names, fmt.Sprintf("w%d", i))
	}
	cfg := logserver.Config{Dir: logDir, Origin: origin}
	if s.n > 0 {
		fmt.Fprintf(&policy, "group g %d %s\nquorum g\n", s.k, strings.Join(names, " "))
		if cfg.Witnesses, err = tessera.NewWitnessGroupFromPolicy([]byte(policy.String())); err != nil {
			return nil, err
		}
	}
	log, err := logserver.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer log.Close()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var seq atomic.Int64
	add := func() (time.Duration, error) {
		req, err := request(key, seq.Add(1))
		if err != nil {
			return 0, err
		}
		start := time.Now()
		if _, err := log.Add(ctx, req); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	r := &result{}
	for range idle {
		d, err := add()
		if err != nil {
			return nil, err
		}
		r.idle = append(r.idle, d)
		time.Sleep(150 * time.Millisecond) // past the checkpoint interval: each entry waits alone
	}
	if writers == 0 {
		return r, nil
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	end := time.Now().Add(duration)
	for range writers {
		wg.Go(func() {
			for time.Now().Before(end) {
				d, err := add()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				r.loaded = append(r.loaded, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	r.rate = float64(len(r.loaded)) / duration.Seconds()
	return r, nil
}

// request signs a distinct artifact as a hashedrekord v0.0.2 request.
func request(key *ecdsa.PrivateKey, i int64) (*rekorpb.HashedRekordRequestV002, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(fmt.Appendf(nil, "artifact %d", i))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &rekorpb.HashedRekordRequestV002{
		Digest: digest[:],
		Signature: &rekorpb.Signature{Content: sig, Verifier: &rekorpb.Verifier{
			KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			Verifier:   &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}},
		}},
	}, nil
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
