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
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the hallmark runs (of the last writer count) to this file")
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
	root, err := os.MkdirTemp(*dirFlag, "hallmark-bench-tlog-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(root)
	// Enough distinct requests for the fastest plausible run; each run logs
	// entries no other run has.
	perRun := int(duration.Seconds()*maxRate) + 1000
	cfg := logserver.Config{Origin: "127.0.0.1"}.WithDefaults()
	fmt.Printf("hallmark log vs bare tessera POSIX: %v per run, GOMAXPROCS %d, %s on %s\n",
		*duration, runtime.GOMAXPROCS(0), runtime.GOOS+"/"+runtime.GOARCH, *dirFlag)
	fmt.Printf("batch max %d / %v, checkpoint interval %v, poll %v, Ed25519 checkpoint key\n\n",
		cfg.BatchMaxSize, cfg.BatchMaxAge, cfg.CheckpointInterval, cfg.PollInterval)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "writers\tsystem\tentries\tentries/s\tp50\tp99\tmax\t")
	for _, k := range writers {
		run := load{writers: k, duration: *duration}
		fmt.Fprintf(os.Stderr, "%d writers: signing %d requests...\n", k, perRun)
		reqs, bodies, err := entries.Make(perRun)
		if err != nil {
			fatal(err)
		}
		fmt.Fprintf(os.Stderr, "%d writers: tessera, then hallmark...\n", k)
		bare, err := runTessera(filepath.Join(root, fmt.Sprintf("tessera-%d", k)), cfg, run, bodies)
		if err != nil {
			fatal(fmt.Errorf("tessera, %d writers: %w", k, err))
		}
		stop := startProfile(*cpuProfile)
		ours, err := runHallmark(filepath.Join(root, fmt.Sprintf("hallmark-%d", k)), cfg, run, reqs)
		if err != nil {
			fatal(fmt.Errorf("hallmark, %d writers: %w", k, err))
		}
		direct, err := runHallmarkDirect(filepath.Join(root, fmt.Sprintf("hallmark-add-%d", k)), cfg, run, reqs)
		if err != nil {
			fatal(fmt.Errorf("hallmark Add, %d writers: %w", k, err))
		}
		stop()
		for _, r := range []result{bare, direct, ours} {
			name := r.name
			if r.exhausted {
				name += fmt.Sprintf(" (all in %.1fs)", r.elapsed.Seconds())
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%s\t%s\t%s\t\n", k, name, r.count, r.rate(), ms(r.p(50)), ms(r.p(99)), ms(r.p(100)))
		}
		fmt.Fprintf(tw, "\thallmark/tessera\t\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t\n",
			ours.rate()/bare.rate(), ratio(ours.p(50), bare.p(50)), ratio(ours.p(99), bare.p(99)), ratio(ours.p(100), bare.p(100)))
	}
	tw.Flush()
	fmt.Println("\nentries/s: higher is better; latencies (call until covered by a published checkpoint): lower is better.")

	if *idle > 0 {
		// One entry at a time on an otherwise idle log: no batch to fill, no
		// recent checkpoint to wait out.
		run := load{writers: 1, duration: time.Hour, pause: 250 * time.Millisecond}
		reqs, bodies, err := entries.Make(*idle)
		if err != nil {
			fatal(err)
		}
		bare, err := runTessera(filepath.Join(root, "tessera-idle"), cfg, run, bodies)
		if err != nil {
			fatal(fmt.Errorf("tessera, idle: %w", err))
		}
		ours, err := runHallmark(filepath.Join(root, "hallmark-idle"), cfg, run, reqs)
		if err != nil {
			fatal(fmt.Errorf("hallmark, idle: %w", err))
		}
		fmt.Printf("\n%d entries one at a time, %v apart (an idle log):\n", *idle, run.pause)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "system\tp50\tp99\tmax\t")
		for _, r := range []result{bare, ours} {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.name, ms(r.p(50)), ms(r.p(99)), ms(r.p(100)))
		}
		fmt.Fprintf(tw, "hallmark/tessera\t%.2fx\t%.2fx\t%.2fx\t\n", ratio(ours.p(50), bare.p(50)), ratio(ours.p(99), bare.p(99)), ratio(ours.p(100), bare.p(100)))
		tw.Flush()
	}
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
		resp, err := client.Post(url, "application/json", bytes.NewReader(reqs[i]))
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
	})
	srv.Close()
	if cerr := l.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return r, err
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
