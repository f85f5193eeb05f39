// Command scaleout measures hallmark's transparency log on a replica set's
// storage (tessera's AWS driver on MariaDB and an S3 server) against bare
// tessera on the same servers, and both on the POSIX default, in one run:
// append throughput with K concurrent writers for a fixed time, the latency
// of an append (from the call until a published checkpoint covers the
// entry: the integration latency), and where the CPU went.
//
//	go run ./bench/scaleout [-duration 10s] [-writers 256,2048] [-idle 10] [-dir $TMPDIR]
//
// It starts its own mariadbd (Debian's mariadb-server) and versitygw (on
// PATH or in $(go env GOPATH)/bin; scripts/install-peers builds it) on
// loopback, in a temporary directory. Systems, each on a fresh database
// schema and bucket prefix (or directory):
//
//   - tessera POSIX: tessera's POSIX appender called in-process;
//   - hallmark POSIX: hallmark's log (the embedded default) through HTTP;
//   - tessera AWS ×N: N tessera AWS appenders in this process, writers
//     spread over them (no antispam: bare tessera);
//   - hallmark AWS ×N: N hallmark logs on the shared storage, each behind
//     its own HTTP listener, writers spread over them round-robin, as a
//     load balancer would (with tessera's MySQL antispam, as hallmark
//     runs).
//
// The N appenders or replicas run in this process: they share the machine's
// CPUs with the clients, the database and the S3 server, as separate
// processes would on one machine. Pushback (503, tessera.ErrPushback) is
// retried after 100 ms and counted; the latency of an append includes its
// retries. Requests are signed before the clock starts.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"

	"hallmark.dev/bench/internal/entries"
	"hallmark.dev/internal/logserver"
	"hallmark.dev/internal/quietlog"
	"hallmark.dev/internal/sharedstore"
	"hallmark.dev/internal/testkit"
	"hallmark.dev/tlog"
)

// maxRate bounds the entries per second a run can log, to size the pool of
// signed requests.
const maxRate = 6000

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each measurement runs")
	writersFlag := flag.String("writers", "256,2048", "comma-separated numbers of concurrent writers")
	replicasFlag := flag.String("replicas", "1,3", "comma-separated numbers of appenders / replicas on the shared storage")
	idle := flag.Int("idle", 10, "entries to log one at a time on an idle log, for the latency of a lone entry (0: skip)")
	dirFlag := flag.String("dir", os.TempDir(), "directory for the servers' data and the POSIX logs")
	only := flag.String("only", "", "run only the systems whose name contains this (\"AWS\", \"hallmark AWS\")")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	quietlog.Klog()
	raiseFileLimit()

	loadStart := loadavg()
	writers, err := ints(*writersFlag)
	if err != nil {
		fatal(err)
	}
	replicas, err := ints(*replicasFlag)
	if err != nil {
		fatal(err)
	}
	root, err := os.MkdirTemp(*dirFlag, "hallmark-bench-scaleout-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(root)
	b, err := start(root)
	if err != nil {
		fatal(err)
	}
	defer b.stop()

	fmt.Printf("hallmark log vs bare tessera, POSIX and AWS driver (MariaDB %s + versitygw %s), %v per run, %d CPUs, GOMAXPROCS %d\n",
		b.mariadbVersion, b.versitygwVersion, *duration, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("batch max %d / %v; checkpoint interval %v (POSIX), %v (AWS: its minimum, and its integration tick)\n\n",
		logserver.DefaultBatchMaxSize, logserver.DefaultBatchMaxAge, logserver.DefaultCheckpointInterval, logserver.DefaultSharedCheckpointInterval)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "writers\tsystem\tentries\tentries/s\tp50\tp99\tpushback\tcpu self\tcpu db\tcpu s3\tcpu all\t")
	for _, k := range writers {
		perRun := int(duration.Seconds()*maxRate) + 1000
		fmt.Fprintf(os.Stderr, "%d writers: signing %d requests...\n", k, perRun)
		reqs, bodies, err := entries.Make(perRun)
		if err != nil {
			fatal(err)
		}
		run := load{writers: k, duration: *duration}
		var rows []result
		add := func(name string, f func() (result, error)) *result {
			if !strings.Contains(name, *only) {
				return nil
			}
			fmt.Fprintf(os.Stderr, "%d writers: %s...\n", k, name)
			r, err := b.measure(name, f)
			if err != nil {
				fatal(fmt.Errorf("%s, %d writers: %w", name, k, err))
			}
			rows = append(rows, r)
			return &r
		}
		type pair struct {
			name       string
			ours, bare *result
		}
		tp := add("tessera POSIX", func() (result, error) { return b.runTesseraPOSIX(run, bodies) })
		hp := add("hallmark POSIX", func() (result, error) { return b.runHallmarkPOSIX(run, reqs) })
		ratios := []pair{{"hallmark/tessera POSIX", hp, tp}}
		for _, n := range replicas {
			ta := add(fmt.Sprintf("tessera AWS ×%d", n), func() (result, error) { return b.runTesseraAWS(n, run, bodies) })
			ha := add(fmt.Sprintf("hallmark AWS ×%d", n), func() (result, error) { return b.runHallmarkAWS(n, run, reqs) })
			ratios = append(ratios, pair{fmt.Sprintf("hallmark/tessera AWS ×%d", n), ha, ta})
		}
		for _, r := range rows {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t\n", k, r.name, r.count, r.rate(), ms(r.p(50)), ms(r.p(99)), r.pushback, r.cpu.self, r.cpu.db, r.cpu.s3, r.cpu.all)
		}
		for _, q := range ratios {
			if q.ours == nil || q.bare == nil {
				continue
			}
			fmt.Fprintf(tw, "\t%s\t\t%.2fx\t%.2fx\t%.2fx\t\t\t\t\t\t\n", q.name, q.ours.rate()/q.bare.rate(), ratio(q.ours.p(50), q.bare.p(50)), ratio(q.ours.p(99), q.bare.p(99)))
		}
	}
	tw.Flush()
	fmt.Println("\nentries/s: higher is better; p50/p99: call until covered by a published checkpoint, lower is better;")
	fmt.Println("cpu: cores used on average during the run by this process (clients and logs), mariadbd, versitygw,")
	fmt.Printf("and every process of the machine (of %d); load average %s at start, %s at end.\n", runtime.NumCPU(), loadStart, loadavg())

	if *idle > 0 {
		run := load{writers: 1, duration: time.Hour, pause: 250 * time.Millisecond}
		reqs, bodies, err := entries.Make(*idle)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("\n%d entries one at a time, %v apart (an idle log):\n", *idle, run.pause)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "system\tp50\tp99\tmax\t")
		for _, f := range []func() (result, error){
			func() (result, error) { return b.runTesseraPOSIX(run, bodies) },
			func() (result, error) { return b.runHallmarkPOSIX(run, reqs) },
			func() (result, error) { return b.runTesseraAWS(1, run, bodies) },
			func() (result, error) { return b.runHallmarkAWS(1, run, reqs) },
		} {
			r, err := f()
			if err != nil {
				fatal(fmt.Errorf("%s, idle: %w", r.name, err))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.name, ms(r.p(50)), ms(r.p(99)), ms(r.p(100)))
		}
		tw.Flush()
	}
}

// bench holds the servers of a run.
type bench struct {
	root             string
	db               *testkit.MariaDB
	s3               *testkit.S3Server
	mariadbVersion   string
	versitygwVersion string
	runs             atomic.Int64
}

func start(root string) (*bench, error) {
	if _, err := exec.LookPath("versitygw"); err != nil {
		if gopath, gerr := exec.Command("go", "env", "GOPATH").Output(); gerr == nil {
			os.Setenv("PATH", os.Getenv("PATH")+string(os.PathListSeparator)+filepath.Join(strings.TrimSpace(string(gopath)), "bin"))
		}
	}
	os.Setenv("PATH", os.Getenv("PATH")+string(os.PathListSeparator)+"/usr/sbin")
	if err := testkit.LookTools(append(testkit.MariaDBTools, testkit.S3Tools...)...); err != nil {
		return nil, fmt.Errorf("%w (scripts/install-peers installs MariaDB and builds versitygw)", err)
	}
	b := &bench{root: root}
	var err error
	addr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	// A redo log large enough not to force a checkpoint every few batches.
	if b.db, err = testkit.StartMariaDBIn(filepath.Join(root, "mariadb"), addr(), "--innodb-log-file-size=256M"); err != nil {
		return nil, err
	}
	if b.s3, err = testkit.StartS3In(filepath.Join(root, "s3"), addr()); err != nil {
		b.db.Stop()
		return nil, err
	}
	b.mariadbVersion = version("mariadbd", "--version", 2)
	b.versitygwVersion = moduleVersion("versitygw", "github.com/versity/versitygw")
	return b, nil
}

func (b *bench) stop() {
	b.s3.Stop()
	b.db.Stop()
}

// moduleVersion is the version of module that the Go program prog on PATH
// was built from (go version -m), "unknown" if that cannot be read.
func moduleVersion(prog, module string) string {
	path, err := exec.LookPath(prog)
	if err != nil {
		return "unknown"
	}
	out, err := exec.Command("go", "version", "-m", path).Output()
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" && f[1] == module {
			return f[2]
		}
	}
	return "unknown"
}

// version runs prog with arg and returns the field-th word of its output
// (-1: the last one).
func version(prog, arg string, field int) string {
	out, err := exec.Command(prog, arg).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
	if field < 0 {
		field = len(f) - 1
	}
	if field >= len(f) {
		return "unknown"
	}
	return f[field]
}

// shared opens a fresh database and bucket for one run.
func (b *bench) shared() (*sharedstore.Store, error) {
	n := b.runs.Add(1)
	return sharedstore.Open(context.Background(), sharedstore.Config{
		Database:        b.db.URL(fmt.Sprintf("bench%d", n)),
		ObjectStore:     b.s3.URL(fmt.Sprintf("bench%d", n)),
		AccessKeyID:     testkit.TestS3AccessKey,
		SecretAccessKey: testkit.TestS3SecretKey,
	})
}

func (b *bench) dir(name string) string {
	return filepath.Join(b.root, fmt.Sprintf("%s-%d", name, b.runs.Add(1)))
}

// measure runs f and records the CPU time this process, mariadbd and
// versitygw used during it.
func (b *bench) measure(name string, f func() (result, error)) (result, error) {
	pids := []int{os.Getpid(), b.db.Pid(), b.s3.Pid()}
	before, busyBefore := cpuTimes(pids), machineBusy()
	t0 := time.Now()
	r, err := f()
	r.name = name
	el := time.Since(t0).Seconds()
	after, busyAfter := cpuTimes(pids), machineBusy()
	r.cpu = cpuUse{self: (after[0] - before[0]) / el, db: (after[1] - before[1]) / el, s3: (after[2] - before[2]) / el, all: (busyAfter - busyBefore) / el}
	return r, err
}

type cpuUse struct{ self, db, s3, all float64 }

// cpuTimes returns the user+system CPU seconds of each process
// (/proc/PID/stat, fields 14 and 15, in clock ticks of 1/100 s).
func cpuTimes(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (u + k) / 100
	}
	return out
}

// appendOptions are bare tessera's options, hallmark's knobs: an Ed25519
// checkpoint key for the origin 127.0.0.1.
func appendOptions(batch uint, interval time.Duration) (*tessera.AppendOptions, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := tlog.NewNoteSigner("127.0.0.1", key)
	if err != nil {
		return nil, err
	}
	return tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(batch, logserver.DefaultBatchMaxAge).
		WithCheckpointInterval(interval).
		WithPushback(logserver.DefaultPushbackMaxOutstanding), nil
}

func (b *bench) runTesseraPOSIX(run load, bodies [][]byte) (result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := posix.New(ctx, posix.Config{Path: b.dir("tessera-posix")})
	if err != nil {
		return result{name: "tessera POSIX"}, err
	}
	opts, err := appendOptions(logserver.DefaultBatchMaxSize, logserver.DefaultCheckpointInterval)
	if err != nil {
		return result{name: "tessera POSIX"}, err
	}
	a, shutdown, reader, err := tessera.NewAppender(ctx, d, opts)
	if err != nil {
		return result{name: "tessera POSIX"}, err
	}
	aw := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, logserver.DefaultPollInterval)
	r, err := drive("tessera POSIX", run, len(bodies), func(i, _ int) (bool, error) {
		_, _, err := aw.Await(ctx, a.Add(ctx, tessera.NewEntry(bodies[i])))
		return errors.Is(err, tessera.ErrPushback), err
	})
	if serr := shutdown(ctx); err == nil && serr != nil {
		err = serr
	}
	return r, err
}

func (b *bench) runTesseraAWS(n int, run load, bodies [][]byte) (result, error) {
	name := fmt.Sprintf("tessera AWS ×%d", n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := b.shared()
	if err != nil {
		return result{name: name}, err
	}
	defer st.Close()
	opts, err := appendOptions(logserver.DefaultBatchMaxSize, logserver.DefaultSharedCheckpointInterval)
	if err != nil {
		return result{name: name}, err
	}
	type writer struct {
		add tessera.AddFn
		aw  *tessera.PublicationAwaiter
	}
	var ws []writer
	var shutdowns []func(context.Context) error
	for range n {
		d, err := st.Log("log").Driver(ctx, nil)
		if err != nil {
			return result{name: name}, err
		}
		a, shutdown, reader, err := tessera.NewAppender(ctx, d, opts)
		if err != nil {
			return result{name: name}, err
		}
		shutdowns = append(shutdowns, shutdown)
		ws = append(ws, writer{a.Add, tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, logserver.DefaultSharedPollInterval)})
	}
	r, err := drive(name, run, len(bodies), func(i, w int) (bool, error) {
		wr := ws[w%n]
		_, _, err := wr.aw.Await(ctx, wr.add(ctx, tessera.NewEntry(bodies[i])))
		return errors.Is(err, tessera.ErrPushback), err
	})
	for _, s := range shutdowns {
		if serr := s(ctx); err == nil && serr != nil {
			err = serr
		}
	}
	return r, err
}

func (b *bench) runHallmarkPOSIX(run load, reqs [][]byte) (result, error) {
	l, err := logserver.New(context.Background(), logserver.Config{Dir: b.dir("hallmark-posix"), Origin: "127.0.0.1"})
	if err != nil {
		return result{name: "hallmark POSIX"}, err
	}
	r, err := serveAndDrive("hallmark POSIX", []*logserver.Log{l}, run, reqs)
	if cerr := l.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return r, err
}

func (b *bench) runHallmarkAWS(n int, run load, reqs [][]byte) (result, error) {
	name := fmt.Sprintf("hallmark AWS ×%d", n)
	st, err := b.shared()
	if err != nil {
		return result{name: name}, err
	}
	defer st.Close()
	// The first replica makes the key; the others run on copies of its
	// directory.
	first := b.dir("hallmark-aws")
	var logs []*logserver.Log
	defer func() {
		for _, l := range logs {
			l.Close()
		}
	}()
	for i := range n {
		dir := first
		if i > 0 {
			dir = b.dir("hallmark-aws")
			if out, err := exec.Command("cp", "-a", first, dir).CombinedOutput(); err != nil {
				return result{name: name}, fmt.Errorf("copying the log directory: %v: %s", err, out)
			}
		}
		l, err := logserver.New(context.Background(), logserver.Config{Dir: dir, Origin: "127.0.0.1", Storage: st.Log("log")})
		if err != nil {
			return result{name: name}, err
		}
		logs = append(logs, l)
	}
	return serveAndDrive(name, logs, run, reqs)
}

// serveAndDrive serves each log on a loopback listener and drives the
// load over HTTP, each writer's requests to the logs in turn.
func serveAndDrive(name string, logs []*logserver.Log, run load, reqs [][]byte) (result, error) {
	var urls []string
	for _, l := range logs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return result{name: name}, err
		}
		srv := &http.Server{Handler: l.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		urls = append(urls, "http://"+ln.Addr().String()+logserver.PathEntries)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: run.writers, MaxConnsPerHost: run.writers}}
	var next atomic.Uint64
	return drive(name, run, len(reqs), func(i, _ int) (bool, error) {
		url := urls[next.Add(1)%uint64(len(urls))]
		resp, err := client.Post(url, "application/json", bytes.NewReader(reqs[i]))
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err
		}
		switch resp.StatusCode {
		case http.StatusCreated:
			return false, nil
		case http.StatusServiceUnavailable:
			return true, fmt.Errorf("status 503: %s", body)
		}
		return false, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	})
}

type result struct {
	name      string
	count     int
	pushback  int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	cpu       cpuUse
}

func (r result) rate() float64 { return float64(r.count) / r.elapsed.Seconds() }

// p returns the q-th percentile latency (q in [0, 100]).
func (r result) p(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[int(q/100*float64(len(r.latencies)-1))]
}

// A load is how a run drives a log: writers each call op in a loop, with
// pause before each call, until duration has passed.
type load struct {
	writers  int
	duration time.Duration
	pause    time.Duration
}

// drive runs the load's writers calling op(item, writer) on successive
// items until its duration has passed or the items run out. An op that
// reports pushback is retried after 100 ms; its latency includes the
// retries.
func drive(name string, run load, items int, op func(i, w int) (pushback bool, err error)) (result, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var firstErr error
	var pushbacks atomic.Int64
	start := time.Now()
	deadline := start.Add(run.duration)
	var wg sync.WaitGroup
	for w := range run.writers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				time.Sleep(run.pause)
				i := int(next.Add(1) - 1)
				if i >= items {
					break
				}
				t0 := time.Now()
				var err error
				for {
					var pb bool
					if pb, err = op(i, w); !pb {
						break
					}
					pushbacks.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
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
	if firstErr != nil {
		return result{name: name}, firstErr
	}
	slices.Sort(lats)
	return result{name: name, count: len(lats), pushback: int(pushbacks.Load()), elapsed: time.Since(start), latencies: lats}, nil
}

// machineBusy returns the CPU seconds every CPU of the machine spent busy
// (/proc/stat: all but idle and iowait, in ticks of 1/100 s).
func machineBusy() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
	var busy float64
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is in user
			busy += n
		}
	}
	return busy / 100
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// raiseFileLimit raises the open files limit to its maximum: thousands of
// writers hold a connection each, on both ends.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return nil, fmt.Errorf("invalid count %q", f)
		}
		out = append(out, k)
	}
	return out, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "bench/scaleout: error: %v\n", err)
	os.Exit(1)
}
