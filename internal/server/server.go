// Package server wires hallmark's services into one HTTP server on one
// port, on an embedded store in one data directory:
//
//	/v2/                          OCI registry (distribution + referrers API)
//	/api/v2/signingCert, trustBundle, configuration
//	                              certificate authority (Fulcio API v2)
//	/api/v2/log/entries, checkpoint, tile/
//	                              transparency log (Rekor v2 write API, C2SP tlog-tiles)
//	/ctlog/ct/v1/add-chain, add-pre-chain, get-roots; /ctlog/checkpoint, tile/, issuer/
//	                              certificate transparency log (C2SP static-ct-api)
//	/api/v1/timestamp             timestamp authority (RFC 3161)
//	/api/v1/trust/trusted_root.json, signing_config.json
//	                              trust distribution
//	/api/v1/signing-policy/       signing policy store (see signingpolicy.go)
//	/oidc/                        development OIDC issuer (only with DevOIDC)
//
// Config is the documented configuration schema of `hallmark serve`.
package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
	"golang.org/x/net/netutil"

	"hallmark.dev/internal/ca"
	"hallmark.dev/internal/ctlog"
	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/keyfile"
	"hallmark.dev/internal/logserver"
	"hallmark.dev/internal/oidc"
	"hallmark.dev/internal/pkcs11key"
	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/registry"
	"hallmark.dev/internal/sharedstore"
	"hallmark.dev/internal/trust"
	"hallmark.dev/internal/tsa"
	"hallmark.dev/oci/store"
)

// Config configures a server.
type Config struct {
	// Addr is the address to listen on, host:port. Default 127.0.0.1:5005.
	Addr string `yaml:"addr"`
	// DataDir holds all state, created (mode 0700) if missing: registry/,
	// ca/, log/, tsa/, oidc/ and trust/ (the published trusted root and
	// signing config, rewritten at each start). With Database and
	// ObjectStore set, it holds only the keys and settings (ca/, log/,
	// ctlog/, tsa/, oidc/ keys and certificates, trust/): the replicas of
	// a replica set run on copies of one data directory.
	DataDir string `yaml:"data"`
	// Database and ObjectStore, set together, make the server a replica
	// of a replica set: any number of servers with the same configuration
	// and copies of the same data directory serve one log, CT log,
	// registry and signing policy store, behind any HTTP load balancer.
	//
	// Database is a MySQL database (MySQL 8, Aurora MySQL, MariaDB 10.11),
	// mysql://USER:PASSWORD@HOST:PORT/DB[?tls=true]: hallmark's tables in
	// DB, the transparency log in DB_log and the CT log in DB_ctlog (each
	// created when missing, so USER needs CREATE on DB and DB_*). Give
	// the server max_allowed_packet=64M: a smaller value caps the log's
	// batches.
	Database string `yaml:"database"`
	// ObjectStore is an S3 bucket, created when missing:
	// s3://BUCKET[?endpoint=URL][&path-style=true][&region=REGION] (the
	// endpoint of an S3-compatible server; region us-east-1 by default).
	// The logs' tiles go under log/ and ctlog/, the registry under
	// registry/.
	ObjectStore string `yaml:"objectStore"`
	// ObjectStoreCredentials sign the requests to ObjectStore; `hallmark
	// serve` reads them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
	// never from the configuration file.
	ObjectStoreCredentials Credentials `yaml:"-"`
	// PublicURL is the base URL clients reach the server at, when it sits
	// behind a proxy; default http://<the address it listens on>. It is
	// written into the trusted root and signing config, the dev issuer's
	// tokens, and the log's checkpoint origin (its host).
	PublicURL string `yaml:"publicURL"`
	// DevOIDC runs the built-in OIDC issuer at <PublicURL>/oidc, which mints
	// tokens for any subject: for local use and tests only. It is refused
	// unless both Addr and PublicURL are on loopback (127.0.0.0/8, ::1 or
	// localhost), and beside Issuers.
	DevOIDC bool `yaml:"devOIDC"`
	// Issuers are the OIDC issuers whose tokens the CA accepts (GitHub
	// Actions, GitLab CI, Kubernetes, email providers). The dev issuer is
	// added when DevOIDC is set.
	Issuers []identity.Issuer `yaml:"issuers"`
	// WitnessPolicy is a C2SP tlog-policy file naming the witnesses (with
	// their URLs) and the quorum that must cosign each checkpoint of the
	// transparency log and of the CT log before it is published. Empty
	// publishes without witnesses.
	WitnessPolicy string `yaml:"witnessPolicy"`
	// SigningPolicy says who writes signing policies (see signingpolicy.go).
	SigningPolicy policystore.Config `yaml:"signingPolicy"`
	// CAKey, TSAKey and LogKey, if set, are PKCS#11 URIs (RFC 7512, see
	// internal/pkcs11key) of keys in a token that the certificate
	// authority's intermediate, the timestamp authority and the log's
	// checkpoints sign with, instead of keys in DataDir. A service takes
	// its key when it is created: the CA's and the TSA's roots (key files
	// in DataDir) certify the token keys on first start, and later starts
	// need the same keys, except the CA key after RotateCA. The TSA key is
	// ECDSA; the log key Ed25519 or ECDSA P-256. The trusted root carries
	// their public keys.
	CAKey  string `yaml:"caKey"`
	TSAKey string `yaml:"tsaKey"`
	LogKey string `yaml:"logKey"`
	// PKCS11 supplies what those URIs leave out: the module and the PIN.
	PKCS11 pkcs11key.Options `yaml:"-"`
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger `yaml:"-"`

	// Connection limits, which keep clients that hold connections open from
	// exhausting the server. Zero means the default.

	// ReadHeaderTimeout bounds the reading of a request's headers. Default
	// DefaultReadHeaderTimeout (30s).
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	// IdleTimeout closes a kept-alive connection that has waited this long
	// for its next request. Default DefaultIdleTimeout (2m).
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// MinDataRate, in bytes per second, is the slowest a request body may
	// arrive and a response may be taken, on average from the start of the
	// transfer, once DataRateGrace has passed; a slower one is cut and its
	// connection closed. There is no overall time limit: a blob upload that
	// keeps the rate completes however long it takes. Default
	// DefaultMinDataRate (1 KiB/s).
	MinDataRate int64 `yaml:"minDataRate"`
	// DataRateGrace is the time a transfer has before MinDataRate applies.
	// Default DefaultDataRateGrace (10s).
	DataRateGrace time.Duration `yaml:"dataRateGrace"`
	// MaxConnections bounds the connections served at once; further ones
	// wait, unaccepted, until one closes. Default DefaultMaxConnections
	// (512).
	MaxConnections int `yaml:"maxConnections"`
}

// DefaultAddr is where `hallmark serve` listens by default.
const DefaultAddr = "127.0.0.1:5005"

// Server is a running hallmark server.
type Server struct {
	cfg           Config
	shared        *sharedstore.Store // nil on the embedded store
	listener      net.Listener
	handler       http.Handler
	log           *logserver.Log
	ctlog         *ctlog.Log
	witnesses     tessera.WitnessGroup
	issuer        *oidc.Issuer
	trustedRoot   []byte
	signingConfig []byte
	// Keys in a token, nil unless configured; closed by Close.
	caKey, tsaKey, logKey crypto.Signer
	tokenKeys             []*pkcs11key.Signer

	mu   sync.Mutex
	http *http.Server // set by Serve
}

// ErrNoDataDir: a configuration without a data directory.
var ErrNoDataDir = errors.New("no data directory")

// New listens on cfg.Addr and builds the services on cfg.DataDir. Serve
// serves them; Close releases them if Serve is never called.
//
// A configuration New refuses (a development issuer off loopback or beside
// real issuers, a public URL that is not one) is refused before anything
// is written to cfg.DataDir, so a corrected start on it finds it as it was.
func New(ctx context.Context, cfg Config) (s *Server, err error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("server: %w", ErrNoDataDir)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	cfg = withLimitDefaults(cfg)
	srv := &Server{cfg: cfg}
	if err := srv.openKeys(); err != nil {
		srv.Close()
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Addr, err)
	}
	srv.listener = l
	if cfg.DevOIDC {
		// The dev issuer mints tokens for anyone who asks: a CA that trusts
		// it issues certificates for any email. Keep it to a machine of its
		// own.
		if host, _, err := net.SplitHostPort(l.Addr().String()); err != nil || !store.IsLoopback(host) {
			srv.Close()
			return nil, fmt.Errorf("server: the development OIDC issuer mints tokens for anyone; it only runs on a loopback address, not %s", l.Addr())
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		srv.Close()
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	s = srv
	defer func() {
		if err != nil {
			srv.Close() // s is nil by now: return nil, err
		}
	}()
	if s.cfg.PublicURL == "" {
		s.cfg.PublicURL = "http://" + l.Addr().String()
	}
	s.cfg.PublicURL = strings.TrimRight(s.cfg.PublicURL, "/")
	if err := s.build(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// checkConfig refuses, before anything is listened on or written, a
// configuration that cannot serve safely.
func checkConfig(cfg Config) error {
	if err := checkLimits(cfg); err != nil {
		return err
	}
	if err := checkReplicaConfig(cfg); err != nil {
		return err
	}
	var public *url.URL
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("server: public URL %q: want an http or https URL with a host and no user info, query or fragment", cfg.PublicURL)
		}
		public = u
	}
	for _, k := range []struct{ name, uri string }{{"CA key", cfg.CAKey}, {"TSA key", cfg.TSAKey}, {"log key", cfg.LogKey}} {
		if k.uri == "" {
			continue
		}
		if _, err := pkcs11key.ParseURI(k.uri); err != nil {
			return fmt.Errorf("server: %s: %w", k.name, err)
		}
	}
	if cfg.CAKey != "" && !cfg.DevOIDC && len(cfg.Issuers) == 0 {
		return errors.New("server: a CA key is configured but no OIDC issuer, so the certificate authority would not run")
	}
	if !cfg.DevOIDC {
		return nil
	}
	if len(cfg.Issuers) > 0 {
		return errors.New("server: the development OIDC issuer cannot run beside real OIDC issuers: it would let anyone get certificates from the same CA")
	}
	// Whatever the listen address, a public URL off loopback means a
	// proxy brings other machines to the issuer.
	if public != nil && !store.IsLoopback(public.Hostname()) {
		return fmt.Errorf("server: the development OIDC issuer mints tokens for anyone; it only runs on loopback, and the public URL %q is not on loopback", cfg.PublicURL)
	}
	return nil
}

func (s *Server) dir(name string) string { return filepath.Join(s.cfg.DataDir, name) }

// openKeys opens the keys in a token the configuration names, before
// anything is written: a wrong PIN or a missing key leaves DataDir as it
// was.
func (s *Server) openKeys() error {
	for _, k := range []struct {
		name, uri string
		key       *crypto.Signer
	}{{"CA key", s.cfg.CAKey, &s.caKey}, {"TSA key", s.cfg.TSAKey, &s.tsaKey}, {"log key", s.cfg.LogKey, &s.logKey}} {
		if k.uri == "" {
			continue
		}
		signer, err := pkcs11key.Open(k.uri, s.cfg.PKCS11)
		if err != nil {
			return fmt.Errorf("server: %s: %w", k.name, err)
		}
		s.tokenKeys = append(s.tokenKeys, signer)
		*k.key = signer
	}
	return nil
}

func (s *Server) build(ctx context.Context) error {
	cfg := s.cfg
	mux := http.NewServeMux()
	s.handler = mux
	if err := s.openShared(ctx); err != nil {
		return err
	}

	regCfg, err := s.registryConfig(ctx, registry.Config{Dir: s.dir("registry"), Logger: cfg.Logger})
	if err != nil {
		return err
	}
	reg, err := registry.New(ctx, regCfg)
	if err != nil {
		return fmt.Errorf("server: registry: %w", err)
	}
	mux.Handle("/v2/", reg)

	t, err := tsa.New(tsa.Config{Dir: s.dir("tsa"), Logger: cfg.Logger, Signer: s.tsaKey})
	if err != nil {
		return fmt.Errorf("server: timestamp authority: %w", err)
	}
	mux.Handle(trust.TimestampPath, t.Handler())
	mux.Handle(trust.TimestampPath+"/", t.Handler())

	origin, err := logserver.OriginFromURL(cfg.PublicURL)
	if err != nil {
		return fmt.Errorf("server: transparency log: %w", err)
	}
	if s.witnesses, err = witnessGroup(cfg.WitnessPolicy); err != nil {
		return err
	}
	s.log, err = logserver.New(ctx, s.logConfig(logserver.Config{Dir: s.dir("log"), Origin: origin, Logger: cfg.Logger, Witnesses: s.witnesses, Signer: s.logKey}))
	if err != nil {
		return fmt.Errorf("server: transparency log: %w", err)
	}
	logHandler := s.log.Handler()
	mux.Handle(logserver.PathEntries, logHandler)
	mux.Handle(logserver.PathCheckpoint, logHandler)
	mux.Handle(logserver.PathTiles, logHandler)

	issuers := append([]identity.Issuer(nil), cfg.Issuers...)
	if cfg.DevOIDC {
		// New has checked that the issuer is on loopback, alone.
		s.issuer, err = oidc.NewIssuer(oidc.IssuerConfig{Dir: s.dir("oidc"), URL: cfg.PublicURL + trust.OIDCPath})
		if err != nil {
			return fmt.Errorf("server: dev OIDC issuer: %w", err)
		}
		mux.Handle(trust.OIDCPath+"/", s.issuer.Handler())
		issuers = append(issuers, identity.Issuer{URL: s.issuer.URL(), Type: identity.TypeEmail})
	}
	var authority *ca.CA
	if len(issuers) > 0 {
		// Discovery and keys of issuers served by this very process are
		// fetched in-process, so that the server need not reach itself
		// through a proxy.
		client := &http.Client{Timeout: 30 * time.Second, Transport: &inProcess{prefix: cfg.PublicURL + "/", handler: mux, next: http.DefaultTransport}}
		idv, err := identity.NewVerifier(ctx, issuers, identity.WithHTTPClient(client))
		if err != nil {
			return fmt.Errorf("server: identity: %w", err)
		}
		authority, err = ca.New(ca.Config{Dir: s.dir("ca"), Identity: idv, Logger: cfg.Logger, CTLog: lateCTLog{&s.ctlog}, Signer: s.caKey})
		if err != nil {
			return fmt.Errorf("server: certificate authority: %w", err)
		}
		if err := s.buildCTLog(ctx, mux, authority.Chain()); err != nil {
			return err
		}
		h := authority.Handler()
		for _, p := range []string{"/api/v2/signingCert", "/api/v2/trustBundle", "/api/v2/configuration"} {
			mux.Handle(p, h)
		}
	} else {
		cfg.Logger.Info("no OIDC issuers configured: the certificate authority is off (pass --dev-oidc or configure issuers)")
	}

	services := trust.Services{BaseURL: cfg.PublicURL, OIDC: cfg.DevOIDC}
	tsaChain := t.CertChain()
	start := tsaChain[len(tsaChain)-1].NotBefore
	services.TSA = []trust.Chain{{Certificates: tsaChain, Valid: trust.Period{Start: tsaChain[0].NotBefore}}}
	if authority != nil {
		chain := authority.Chain()
		retired, err := retiredCAChains(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("server: certificate authority: %w", err)
		}
		current := trust.Period{Start: chain[0].NotBefore}
		if n := len(retired); n > 0 && current.Start.Before(retired[n-1].Valid.End) {
			// Timestamps have one-second precision: start the new chain
			// at the second of the retirement.
			current.Start = retired[n-1].Valid.End.Truncate(time.Second)
		}
		services.CA = append(retired, trust.Chain{Certificates: chain, Valid: current})
		if root := chain[len(chain)-1].NotBefore; root.Before(start) {
			start = root
		}
	}
	var caChain []*x509.Certificate
	if authority != nil {
		caChain = authority.Chain()
	}
	if err := s.claimIdentity(ctx, tsaChain, caChain); err != nil {
		return err
	}
	services.Log = []trust.LogKey{{PublicKey: s.log.PublicKey(), LogID: s.log.LogID(), Valid: trust.Period{Start: start}}}
	if s.ctlog != nil {
		services.CTLogs = []trust.LogKey{{PublicKey: s.ctlog.PublicKey(), LogID: s.ctlog.LogID(), Valid: trust.Period{Start: start}}}
		services.CTLogURL = cfg.PublicURL + CTLogPath
	}
	if s.trustedRoot, err = trust.TrustedRoot(services); err != nil {
		return err
	}
	if s.signingConfig, err = trust.SigningConfig(services); err != nil {
		return err
	}
	if err := s.writeTrust(); err != nil {
		return err
	}
	if err := s.mountSigningPolicy(ctx, mux); err != nil {
		return err
	}
	serve := func(body []byte, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		}
	}
	mux.Handle("GET "+trust.TrustedRootPath, serve(s.trustedRoot, "application/json"))
	mux.Handle("GET "+trust.SigningConfigPath, serve(s.signingConfig, "application/json"))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	return nil
}

// TrustFiles are the names of the published documents in DataDir/trust.
const (
	TrustedRootFile   = "trusted_root.json"
	SigningConfigFile = "signing_config.json"
)

// writeTrust writes the published documents to DataDir/trust, for
// `hallmark trust export` to take offline.
func (s *Server) writeTrust() error {
	dir := s.dir("trust")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	for name, body := range map[string][]byte{TrustedRootFile: s.trustedRoot, SigningConfigFile: s.signingConfig} {
		if err := keyfile.WriteFileAtomic(filepath.Join(dir, name), body, 0o644); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	return s.writeVerifierKeys(dir)
}

// URL is the server's public base URL.
func (s *Server) URL() string { return s.cfg.PublicURL }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// TrustedRoot and SigningConfig are the published documents.
func (s *Server) TrustedRoot() []byte   { return bytes.Clone(s.trustedRoot) }
func (s *Server) SigningConfig() []byte { return bytes.Clone(s.signingConfig) }

// DevIssuer is the development OIDC issuer, nil unless Config.DevOIDC.
func (s *Server) DevIssuer() *oidc.Issuer { return s.issuer }

// Serve serves until ctx is done, then shuts down gracefully and closes
// the services. It enforces the connection limits of Config.
func (s *Server) Serve(ctx context.Context) error {
	defer s.Close()
	p := pace{rate: s.cfg.MinDataRate, grace: s.cfg.DataRateGrace}
	hs := &http.Server{
		Handler:           p.paced(s.handler, s.cfg.Logger),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	s.http = hs
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(netutil.LimitListener(s.listener, s.cfg.MaxConnections)) }()
	select {
	case err := <-errc:
		if errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
			return nil // closed by Close
		}
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(shutdownCtx)
	}
}

// Close stops serving at once (open connections included) and releases the
// listener and the log.
func (s *Server) Close() error {
	var errs []error
	s.mu.Lock()
	hs := s.http
	s.mu.Unlock()
	if hs != nil {
		if err := hs.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.listener != nil {
		if err := s.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.log != nil {
		errs = append(errs, s.log.Close())
	}
	if s.ctlog != nil {
		errs = append(errs, s.ctlog.Close())
	}
	if s.shared != nil {
		errs = append(errs, s.shared.Close())
	}
	for _, k := range s.tokenKeys {
		errs = append(errs, k.Close())
	}
	return errors.Join(errs...)
}

// inProcess answers requests for URLs under prefix from handler, without
// the network; other requests go to next.
type inProcess struct {
	prefix  string
	handler http.Handler
	next    http.RoundTripper
}

func (t *inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.URL.String(), t.prefix) {
		return t.next.RoundTrip(req)
	}
	rec := httptest.NewRecorder()
	in := req.Clone(req.Context())
	if u, err := url.Parse(req.URL.String()); err == nil {
		in.URL = u
		in.RequestURI = u.RequestURI()
	}
	t.handler.ServeHTTP(rec, in)
	return rec.Result(), nil
}
