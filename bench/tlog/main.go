// Command tlog measures hallmark's transparency log against bare tessera on
// the same disk, in the same run: append throughput with K concurrent
// writers for a fixed time, and the latency of one append, from the call
// until a published checkpoint covers the entry; then the latency of lone
// entries on an idle log.
//
//	go run ./bench/tlog [-duration 10s] [-writers 1,16,128,512] [-idle 20] [-dir $TMPDIR]
//
// Three systems log the same entry bytes with the same batching, checkpoint
// interval, pushback and kind of checkpoint key (Ed25519):
//
//   - tessera: tessera's POSIX appender called directly, waited on with a
//     PublicationAwaiter polling as often as hallmark's. No HTTP, no
//     validation, no antispam, no proof.
//   - hallmark Add: logserver.Log.Add in-process: validation (the entry's
//     ECDSA signature), canonicalisation, dedup, the same wait, then an
//     inclusion proof built and checked.
//   - hallmark: the same through HTTP, a POST of the CreateEntryRequest JSON
//     to /api/v2/log/entries over loopback; the client shares the CPUs.
//
// Requests are signed before the clock starts, so client-side signing is
// not measured. The ratio row compares hallmark over HTTP with tessera.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"google.golang.org/protobuf/encoding/protojson"
	"k8s.io/klog/v2"

	"hallmark.dev/bench/internal/entries"
	"hallmark.dev/internal/logserver"
	"hallmark.dev/tlog"
)

// maxRate bounds the entries per second a run can log, to size the pool of
// signed requests.
const maxRate = 6000

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each measurement runs")
	writersFlag := flag.String("writers", "1,16,128,512", "comma-separated numbers of concurrent writers")
	dirFlag := flag.String("dir", os.TempDir(), "directory on the disk to measure; logs are created below it and removed")
	idle := flag.Int("idle", 20, "entries to log one at a time on an idle log, for the latency of a lone entry (0: skip)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the last hallmark run over HTTP (of the last writer count) to this file")
	rekorTiles := flag.String("rekor-tiles", "", "rekor-tiles' POSIX server binary (rekor-server-posix serve); empty: leave Rekor v2 out")
	rounds := flag.Int("rounds", 1, "runs of each system per writer count, in a rotating order; figures are medians, ranges in brackets")
	flag.Parse()

	// Tessera logs through klog to stderr; keep the table readable.
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	if err := klogFlags.Set("logtostderr", "false"); err != nil {
		fatal(err)
	}
	klog.SetOutput(io.Discard)

	var writers []int
	for _, s := range strings.Split(*writersFlag, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 {
			fatal(fmt.Errorf("invalid writer count %q", s))
		}
		writers = append(writers, k)
	}
	if *rounds < 1 {
		fatal(errors.New("-rounds must be at least 1"))
	}
	root, err := os.MkdirTemp(*dirFlag, "hallmark-bench-tlog-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(root)
	// Enough distinct requests for the fastest plausible run; each run logs
	// entries no other run has.
	perRun := int(duration.Seconds()*maxRate) + 1000
	cfg := logserver.Config{Origin: "127.0.0.1"}.WithDefaults()
	fmt.Printf("hallmark log vs bare tessera POSIX")
	if *rekorTiles != "" {
		fmt.Printf(" vs rekor-tiles POSIX")
	}
	fmt.Printf(": %v per run, %d round(s), GOMAXPROCS %d, %s on %s\n",
		*duration, *rounds, runtime.GOMAXPROCS(0), runtime.GOOS+"/"+runtime.GOARCH, *dirFlag)
	fmt.Printf("batch max %d / %v, checkpoint interval %v, poll %v, Ed25519 checkpoint key (all systems)\n\n",
		cfg.BatchMaxSize, cfg.BatchMaxAge, cfg.CheckpointInterval, cfg.PollInterval)

	type system struct {
		name string
		run  func(dir string, run load, reqs, bodies [][]byte) (result, error)
	}
	systems := []system{
		{"tessera", func(dir string, run load, _, bodies [][]byte) (result, error) {
			return runTessera(dir, cfg, run, bodies)
		}},
		{"hallmark Add", func(dir string, run load, reqs, _ [][]byte) (result, error) {
			return runHallmarkDirect(dir, cfg, run, reqs)
		}},
		{"hallmark", func(dir string, run load, reqs, _ [][]byte) (result, error) {
			return runHallmark(dir, cfg, run, reqs)
		}},
	}
	if *rekorTiles != "" {
		systems = append(systems, system{"rekor-tiles", func(dir string, run load, reqs, _ [][]byte) (result, error) {
			return runRekorTiles(*rekorTiles, dir, cfg, run, reqs)
		}})
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "writers\tsystem\tentries\tentries/s\trange\tp50\tp99\tp99 range\t")
	for wi, k := range writers {
		run := load{writers: k, duration: *duration}
		byName := map[string][]result{}
		for r := range *rounds {
			fmt.Fprintf(os.Stderr, "%d writers, round %d: signing %d requests...\n", k, r+1, perRun)
			reqs, bodies, err := entries.Make(perRun)
			if err != nil {
				fatal(err)
			}
			for i := range systems {
				sys := systems[(i+r)%len(systems)]
				fmt.Fprintf(os.Stderr, "%d writers, round %d: %s\n", k, r+1, sys.name)
				stop := func() {}
				if sys.name == "hallmark" && wi == len(writers)-1 && r == *rounds-1 {
					stop = startProfile(*cpuProfile)
				}
				res, err := sys.run(filepath.Join(root, fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(sys.name, " ", "-"), k, r)), run, reqs, bodies)
				stop()
				if err != nil {
					fatal(fmt.Errorf("%s, %d writers: %w", sys.name, k, err))
				}
				byName[sys.name] = append(byName[sys.name], res)
			}
		}
		for _, sys := range systems {
			rs := byName[sys.name]
			name := sys.name
			if slices.ContainsFunc(rs, func(r result) bool { return r.exhausted }) {
				name += " (ran out of entries)"
			}
			rates := each(rs, func(r result) float64 { return r.rate() })
			p50s := each(rs, func(r result) float64 { return float64(r.p(50)) })
			p99s := each(rs, func(r result) float64 { return float64(r.p(99)) })
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", k, name, rs[0].count, median(rates), spread(rates, "%.0f"),
				ms(time.Duration(median(p50s))), ms(time.Duration(median(p99s))), spreadMS(p99s))
		}
		for _, peer := range []string{"tessera", "rekor-tiles"} {
			if len(byName[peer]) == 0 {
				continue
			}
			var rate, p99 []float64
			for r := range *rounds {
				ours, theirs := byName["hallmark"][r], byName[peer][r]
				rate = append(rate, ours.rate()/theirs.rate())
				p99 = append(p99, ratio(ours.p(99), theirs.p(99)))
			}
			fmt.Fprintf(tw, "\thallmark/%s\t\t%.2fx\t%s\t\t%.2fx\t%s\t\n", peer, median(rate), spread(rate, "%.2f"), median(p99), spread(p99, "%.2f"))
		}
	}
	tw.Flush()
	fmt.Println("\nentries/s: higher is better; latencies (call until covered by a published checkpoint): lower is better.")
	fmt.Println("Ratio rows: the median of the per-round ratios of hallmark (over HTTP) to the peer, the range in brackets.")

	if *idle > 0 {
		// One entry at a time on an otherwise idle log: no batch to fill, no
		// recent checkpoint to wait out.
		run := load{writers: 1, duration: time.Hour, pause: 250 * time.Millisecond}
		reqs, bodies, err := entries.Make(*idle)
		if err != nil {
			fatal(err)
		}
		var idleResults []result
		for _, sys := range systems {
			if sys.name == "hallmark Add" {
				continue
			}
			r, err := sys.run(filepath.Join(root, "idle-"+sys.name), run, reqs, bodies)
			if err != nil {
				fatal(fmt.Errorf("%s, idle: %w", sys.name, err))
			}
			idleResults = append(idleResults, r)
		}
		fmt.Printf("\n%d entries one at a time, %v apart (an idle log):\n", *idle, run.pause)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "system\tp50\tp99\tmax\t")
		for _, r := range idleResults {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.name, ms(r.p(50)), ms(r.p(99)), ms(r.p(100)))
		}
		tw.Flush()
	}
}

// each maps the results to numbers.
func each(rs []result, f func(result) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// median is the median of xs (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread is "[min–max]" of xs, or "" for one value.
func spread(xs []float64, format string) string {
	if len(xs) < 2 {
		return ""
	}
	return "[" + fmt.Sprintf(format, slices.Min(xs)) + "–" + fmt.Sprintf(format, slices.Max(xs)) + "]"
}

// spreadMS is spread of durations in nanoseconds, in milliseconds.
func spreadMS(xs []float64) string {
	if len(xs) < 2 {
		return ""
	}
	return "[" + ms(time.Duration(slices.Min(xs))) + "–" + ms(time.Duration(slices.Max(xs))) + "]"
}

// startProfile starts a CPU profile into path, if not empty, and returns
// the function that stops it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fatal(err)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

type result struct {
	name      string
	count     int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	exhausted bool            // stopped early, out of prepared entries
}

func (r result) rate() float64 { return float64(r.count) / r.elapsed.Seconds() }

// p returns the q-th percentile latency (q in [0, 100]).
func (r result) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q / 100 * float64(len(r.latencies)-1))
	return r.latencies[i]
}

// A load is how a run drives a log: writers each call op in a loop, with
// pause before each call, until duration has passed.
type load struct {
	writers  int
	duration time.Duration
	pause    time.Duration
}

// drive runs the load's writers calling op on successive work items until
// its duration has passed or the items run out, and collects the latencies.
func drive(name string, run load, items int, op func(i int) error) (result, error) {
	k, d := run.writers, run.duration
	var next atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var firstErr error
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				time.Sleep(run.pause)
				i := int(next.Add(1) - 1)
				if i >= items {
					break
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					break
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	slices.Sort(lats)
	// A run that used up its prepared entries stopped early; its rate is
	// over the time it took.
	return result{name: name, count: len(lats), elapsed: elapsed, latencies: lats, exhausted: int(next.Load()) >= items}, nil
}

func runTessera(dir string, cfg logserver.Config, run load, bodies [][]byte) (result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return result{}, err
	}
	signer, err := tlog.NewNoteSigner(cfg.Origin, key)
	if err != nil {
		return result{}, err
	}
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return result{}, err
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(cfg.BatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithPushback(cfg.PushbackMaxOutstanding))
	if err != nil {
		return result{}, err
	}
	awaiter := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, cfg.PollInterval)
	r, err := drive("tessera", run, len(bodies), func(i int) error {
		_, _, err := awaiter.Await(ctx, appender.Add(ctx, tessera.NewEntry(bodies[i])))
		return err
	})
	if serr := shutdown(ctx); err == nil && serr != nil {
		err = serr
	}
	return r, err
}

func runHallmark(dir string, cfg logserver.Config, run load, reqs [][]byte) (result, error) {
	cfg.Dir = dir
	l, err := logserver.New(context.Background(), cfg)
	if err != nil {
		return result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: l.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String() + logserver.PathEntries
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: run.writers, MaxConnsPerHost: run.writers}}
	r, err := drive("hallmark", run, len(reqs), func(i int) error {
		return post(client, url, reqs[i])
	})
	srv.Close()
	if cerr := l.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return r, err
}

// runRekorTiles starts rekor-tiles' POSIX server (bin) on loopback with a
// fresh storage directory under dir and an Ed25519 checkpoint key, with the
// same batching and checkpoint interval as the others, and POSTs the same
// CreateEntryRequest JSON as to hallmark. Its replies wait for a checkpoint
// that covers the entry, as hallmark's do. Its antispam is the default
// (in memory).
func runRekorTiles(bin, dir string, cfg logserver.Config, run load, reqs [][]byte) (result, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return result{}, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return result{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return result{}, err
	}
	keyPath := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return result{}, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(bin, "serve",
		"--hostname=127.0.0.1",
		"--storage-dir="+filepath.Join(dir, "storage"),
		"--signer-filepath="+keyPath,
		"--http-address=127.0.0.1", "--http-port="+strconv.Itoa(ports[0]),
		"--grpc-address=127.0.0.1", "--grpc-port="+strconv.Itoa(ports[1]),
		"--http-metrics-port="+strconv.Itoa(ports[2]),
		"--checkpoint-interval="+cfg.CheckpointInterval.String(),
		"--batch-max-age="+cfg.BatchMaxAge.String(),
		"--batch-max-size="+strconv.Itoa(int(cfg.BatchMaxSize)),
		"--pushback-max-outstanding="+strconv.Itoa(int(cfg.PushbackMaxOutstanding)),
		"--log-level=warn")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return result{}, err
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
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			return errors.New("rekor-tiles did not stop in 30s")
		}
	}
	base := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	if err := waitHealthy(base+"/healthz", exited); err != nil {
		stop()
		return result{}, fmt.Errorf("%w: %s", err, stderr.Bytes())
	}
	url := base + "/api/v2/log/entries"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: run.writers, MaxConnsPerHost: run.writers}}
	r, err := drive("rekor-tiles", run, len(reqs), func(i int) error {
		return post(client, url, reqs[i])
	})
	if serr := stop(); err == nil && serr != nil {
		err = serr
	}
	return r, err
}

// waitHealthy polls url until it answers 200, for up to 30 s, or until
// the server exits.
func waitHealthy(url string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("rekor-tiles exited: %v", err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("rekor-tiles not healthy after 30s")
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// post sends one CreateEntryRequest and wants 201 Created.
func post(client *http.Client, url string, req []byte) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(req))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return nil
}

// runHallmarkDirect calls Log.Add in-process: hallmark without HTTP.
func runHallmarkDirect(dir string, cfg logserver.Config, run load, reqs [][]byte) (result, error) {
	cfg.Dir = dir
	l, err := logserver.New(context.Background(), cfg)
	if err != nil {
		return result{}, err
	}
	parsed := make([]*rekorpb.CreateEntryRequest, len(reqs))
	for i, b := range reqs {
		parsed[i] = &rekorpb.CreateEntryRequest{}
		if err := protojson.Unmarshal(b, parsed[i]); err != nil {
			return result{}, err
		}
	}
	r, err := drive("hallmark Add", run, len(reqs), func(i int) error {
		_, err := l.Add(context.Background(), parsed[i])
		return err
	})
	if cerr := l.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return r, err
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench/tlog: error: %v\n", err)
	os.Exit(1)
}
