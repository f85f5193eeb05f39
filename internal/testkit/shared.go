package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The peers of the replica-set tests: MariaDB from Debian (mariadb-server)
// and versitygw, an S3 server that scripts/install-peers builds.
var (
	MariaDBTools = []string{"mariadbd", "mariadb-install-db"}
	S3Tools      = []string{"versitygw"}
)

// Credentials the test servers accept.
const (
	TestDBUser      = "hallmark"
	TestDBPassword  = "hallmark-test-password"
	TestS3AccessKey = "hallmarktestaccess"
	TestS3SecretKey = "hallmark-test-secret-key"
)

// A Peer is a server process a test started on a loopback port, which
// it can kill and start again on the same port and data.
type Peer struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	dir  string
	args func(addr, dir string) (string, []string)
	log  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func (p *Peer) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	name, args := p.args(p.Addr, p.dir)
	cmd := exec.Command(name, args...)
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test process, however that ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p.cmd = cmd
	go cmd.Wait() // reap; Kill sees the process gone
	return nil
}

// Kill kills the server with SIGKILL and waits for its port to close.
func (p *Peer) Kill(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("killing %s: %v", cmd.Path, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", p.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s still listens on %s after SIGKILL", cmd.Path, p.Addr)
}

// Restart starts the server again on its port and data, after Kill.
func (p *Peer) Restart(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if err := waitListening(p.Addr, 60*time.Second); err != nil {
		t.Fatalf("%v (log: %s)", err, p.log)
	}
}

// Pid is the server's process ID, 0 when it is not running.
func (p *Peer) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop kills the server, outside a test (see Kill).
func (p *Peer) Stop() { p.Kill(nopTB{}) }

// Log returns what the server printed.
func (p *Peer) Log() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MariaDB is a mariadbd started for tests, with a user TestDBUser who may
// create databases.
type MariaDB struct{ *Peer }

// StartMariaDB starts a mariadbd of the test's own on a loopback port, in
// a temporary directory, stopped at the end of the test. It skips the test
// when MariaDB is not installed, or fails it under
// HALLMARK_REQUIRE_PEERS=1. extra are more server options
// ("--innodb-log-file-size=64M").
func StartMariaDB(t testing.TB, extra ...string) *MariaDB {
	t.Helper()
	RequireTools(t, MariaDBTools...)
	m, err := startMariaDB(t.TempDir(), FreeAddr(t), extra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Kill(t) })
	return m
}

// The process-wide servers of SharedDatabase and SharedBucket.
var (
	sharedDBOnce sync.Once
	sharedDB     *MariaDB
	sharedDBErr  error
	sharedS3Once sync.Once
	sharedS3     *S3Server
	sharedS3Err  error
)

// SharedDatabase returns the URL of a new, empty database on a mariadbd
// that the test process starts once and shares between its tests (it
// dies with the process). Databases are named after the test; they and
// their logs' schemas are dropped at the end of the test.
func SharedDatabase(t testing.TB) string {
	t.Helper()
	RequireTools(t, MariaDBTools...)
	m := sharedMariaDB(t)
	name := "t" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		db, err := sql.Open("mysql", m.dsn(""))
		if err != nil {
			return
		}
		defer db.Close()
		for _, s := range []string{name, name + "_log", name + "_ctlog"} {
			db.Exec("DROP DATABASE IF EXISTS `" + s + "`")
		}
	})
	return m.URL(name)
}

func sharedMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	sharedDBOnce.Do(func() {
		dir, err := sharedDir("hallmark-test-mariadb-")
		if err != nil {
			sharedDBErr = err
			return
		}
		addr, err := freeAddr()
		if err != nil {
			sharedDBErr = err
			return
		}
		sharedDB, sharedDBErr = startMariaDB(dir, addr, nil)
	})
	if sharedDBErr != nil {
		t.Fatalf("shared mariadbd: %v", sharedDBErr)
	}
	return sharedDB
}

// sharedDir makes the directory of a server shared by the test process,
// marked with the process's ID, after removing those of test processes
// that have exited (their servers died with them).
func sharedDir(prefix string) (string, error) {
	old, err := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	if err != nil {
		return "", err
	}
	for _, d := range old {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// URL returns the database URL of database name on m, for TestDBUser.
func (m *MariaDB) URL(name string) string {
	return fmt.Sprintf("mysql://%s:%s@%s/%s", TestDBUser, TestDBPassword, m.Addr, name)
}

func (m *MariaDB) dsn(name string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = TestDBUser, TestDBPassword, "tcp", m.Addr, name
	return c.FormatDSN()
}

// mariaDBTemplate is a data directory made by mariadb-install-db once per
// machine and MariaDB version, copied for each server: installing takes
// seconds, copying a few milliseconds.
func mariaDBTemplate() (string, error) {
	out, err := exec.Command("mariadbd", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("mariadbd --version: %w", err)
	}
	version := strings.Fields(string(out))
	tag := "unknown"
	if len(version) >= 3 {
		tag = strings.NewReplacer("/", "_", ".", "_").Replace(version[2])
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("hallmark-mariadb-template-%d-%s", os.Getuid(), tag))
	if _, err := os.Stat(filepath.Join(dir, "mysql")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "hallmark-mariadb-install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "data")
	args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-log-file-size=8M"}
	if os.Getuid() == 0 {
		args = append(args, "--user=root")
	}
	if out, err := exec.Command("mariadb-install-db", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	if err := os.Rename(data, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "mysql")); serr == nil {
			return dir, nil // another test process made it first
		}
		return "", err
	}
	return dir, nil
}

// StartMariaDBIn starts a mariadbd in dir on addr outside a test (for
// benchmarks); Stop stops it.
func StartMariaDBIn(dir, addr string, extra ...string) (*MariaDB, error) {
	return startMariaDB(dir, addr, extra)
}

func startMariaDB(dir, addr string, extra []string) (*MariaDB, error) {
	tmpl, err := mariaDBTemplate()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.Command("cp", "-a", tmpl, data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copying the mariadb template: %v\n%s", err, out)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p := &Peer{Addr: addr, dir: dir, log: filepath.Join(dir, "mariadbd.log")}
	p.args = func(_, dir string) (string, []string) {
		args := []string{"--no-defaults",
			"--datadir=" + filepath.Join(dir, "data"),
			"--socket=" + filepath.Join(dir, "mariadbd.sock"),
			"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
			"--bind-address=" + host, "--port=" + port,
			"--skip-name-resolve", "--skip-log-bin",
			// A full batch of large log entries is one statement.
			"--max-allowed-packet=64M",
			"--max-connections=2000",
			"--innodb-buffer-pool-size=128M",
		}
		if os.Getuid() == 0 {
			args = append(args, "--user=root")
		}
		return "mariadbd", append(args, extra...)
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	if err := waitListening(addr, 60*time.Second); err != nil {
		p.Kill(nopTB{})
		return nil, fmt.Errorf("%v: %s", err, p.Log())
	}
	m := &MariaDB{p}
	if err := m.createUser(); err != nil {
		p.Kill(nopTB{})
		return nil, err
	}
	return m, nil
}

// createUser creates TestDBUser, with a password, over TCP as root (who
// has none in a fresh install).
func (m *MariaDB) createUser() error {
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr = "root", "tcp", m.Addr
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS '" + TestDBUser + "'@'127.0.0.1' IDENTIFIED BY '" + TestDBPassword + "'",
		"GRANT ALL PRIVILEGES ON *.* TO '" + TestDBUser + "'@'127.0.0.1'",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mariadb: %s: %w", q, err)
		}
	}
	return nil
}

// S3Server is a versitygw serving a temporary directory as S3.
type S3Server struct{ *Peer }

// StartS3 starts versitygw (S3 over its posix backend) for the test on a
// loopback port, with its buckets in a temporary directory, stopped at
// the end of the test. It skips the test when versitygw is not installed
// (scripts/install-peers builds it), or fails it under
// HALLMARK_REQUIRE_PEERS=1.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	RequireTools(t, S3Tools...)
	s, err := startS3(t.TempDir(), FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill(t) })
	return s
}

// SharedBucket returns the URL of a new bucket on a versitygw that the
// test process starts once and shares between its tests.
func SharedBucket(t testing.TB) string {
	t.Helper()
	RequireTools(t, S3Tools...)
	sharedS3Once.Do(func() {
		dir, err := sharedDir("hallmark-test-s3-")
		if err != nil {
			sharedS3Err = err
			return
		}
		addr, err := freeAddr()
		if err != nil {
			sharedS3Err = err
			return
		}
		sharedS3, sharedS3Err = startS3(dir, addr)
	})
	if sharedS3Err != nil {
		t.Fatalf("shared versitygw: %v", sharedS3Err)
	}
	return sharedS3.URL("t" + strings.ToLower(rand.Text()[:12]))
}

// StartS3In starts versitygw in dir on addr outside a test (for
// benchmarks); Stop stops it.
func StartS3In(dir, addr string) (*S3Server, error) { return startS3(dir, addr) }

func startS3(dir, addr string) (*S3Server, error) {
	root := filepath.Join(dir, "buckets")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	p := &Peer{Addr: addr, dir: dir, log: filepath.Join(dir, "versitygw.log")}
	p.args = func(addr, dir string) (string, []string) {
		return "versitygw", []string{"--access", TestS3AccessKey, "--secret", TestS3SecretKey, "--port", addr, "--quiet", "posix", filepath.Join(dir, "buckets")}
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	if err := waitListening(addr, 30*time.Second); err != nil {
		p.Kill(nopTB{})
		return nil, fmt.Errorf("%v: %s", err, p.Log())
	}
	return &S3Server{p}, nil
}

// URL returns the object store URL of bucket on s.
func (s *S3Server) URL(bucket string) string {
	return fmt.Sprintf("s3://%s?endpoint=http://%s&path-style=true&region=us-east-1", bucket, s.Addr)
}

// Endpoint is the server's base URL.
func (s *S3Server) Endpoint() string { return "http://" + s.Addr }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// nopTB is a testing.TB for the helpers' own clean-up outside a test.
type nopTB struct{ testing.TB }

func (nopTB) Helper()                      {}
func (nopTB) Fatalf(string, ...any)        {}
func (nopTB) Fatal(...any)                 {}
func (nopTB) Logf(format string, a ...any) {}
