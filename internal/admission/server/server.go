// Package server runs the admission webhook: one HTTPS server with the
// validating and mutating webhooks (admission.k8s.io/v1), the webhook that
// validates ClusterImagePolicy and TrustRoot resources, and /healthz,
// /readyz and /metrics. Its [Config] is the documented configuration of
// `hallmark admission serve`.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"hallmark.dev/internal/admission"
	"hallmark.dev/internal/admission/kube"
)

// Config is the webhook's configuration.
type Config struct {
	// Addr is the address to listen on (HOST:PORT).
	Addr string
	// TLSCert and TLSKey are the PEM files of the serving certificate,
	// read again when they change (a rotated certificate is picked up
	// without a restart).
	TLSCert, TLSKey string
	// Kube reaches the API server: from a kubeconfig, or the Pod's
	// service account in the cluster.
	Kube *rest.Config
	// Namespace is the webhook's own namespace: its Secrets and
	// ConfigMaps hold the keys and policies that ClusterImagePolicies
	// name, and nothing created in it is checked.
	Namespace string
	// TrustedRoots are trusted_root.json contents: the trust of keyless
	// authorities and logs that name no TrustRoot (the public Sigstore
	// instance's, or a private stack's).
	TrustedRoots [][]byte
	// NoMatch is the answer for images no policy matches: deny (the
	// default), warn or allow.
	NoMatch admission.NoMatch
	// RegistryTimeout bounds each registry request (default 5s); the
	// webhook's own timeout, set by the API server, bounds the whole
	// decision.
	RegistryTimeout time.Duration
	// AllowHTTP permits plain HTTP to registries that are not on
	// loopback.
	AllowHTTP bool
	// CacheSize and CacheTTL bound the verdict cache (defaults 10000
	// entries, 10 minutes).
	CacheSize int
	CacheTTL  time.Duration
	// TagCacheSize and TagCacheTTL bound the mutating webhook's tag cache
	// (defaults 10000 entries, 30 seconds): the digest a tag was resolved
	// to, per (credentials, reference), is reused for TagCacheTTL, so a
	// moved tag is seen within it. A negative TagCacheTTL resolves every
	// tag at every admission.
	TagCacheSize int
	TagCacheTTL  time.Duration
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// Ready, if set, is called with the listening address once the
	// policies are read and the server accepts connections.
	Ready func(addr string)
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Kube == nil {
		return errors.New("admission: no API server to read policies from")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	certs, err := newCertReloader(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg.Kube)
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg.Kube)
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	metrics := admission.NewMetrics()
	var src *kube.Source
	creds := &lateCredentials{}
	engine, err := admission.NewEngine(admission.EngineConfig{
		NoMatch:         cfg.NoMatch,
		Namespace:       cfg.Namespace,
		Credentials:     creds,
		RegistryTimeout: cfg.RegistryTimeout,
		AllowHTTP:       cfg.AllowHTTP,
		CacheSize:       cfg.CacheSize,
		CacheTTL:        cfg.CacheTTL,
		TagCacheSize:    cfg.TagCacheSize,
		TagCacheTTL:     cfg.TagCacheTTL,
		Logger:          cfg.Logger,
		Metrics:         metrics,
	})
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err = kube.Start(ctx, kube.Config{
		Client: client, Dynamic: dyn, Namespace: cfg.Namespace, DefaultTrust: cfg.TrustedRoots,
		Engine: engine, Resync: 10 * time.Minute, Logger: cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	creds.set(src)

	mux := http.NewServeMux()
	mux.Handle("/", engine.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !src.Ready() {
			http.Error(w, "policies not read yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", metrics.Handler())

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("admission: %w", err)
	}
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{GetCertificate: certs.get, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	cfg.Logger.Info("admission webhook serving", "addr", ln.Addr().String(), "namespace", cfg.Namespace, "policies", engine.Policies().Len())
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("admission: %w", err)
	case <-ctx.Done():
	}
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	return srv.Shutdown(shutdown)
}

// lateCredentials lets the engine be built before the source that reads
// credentials.
type lateCredentials struct {
	mu  sync.RWMutex
	src admission.Credentials
}

func (l *lateCredentials) set(c admission.Credentials) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.src = c
}

func (l *lateCredentials) Keychain(ctx context.Context, namespace, serviceAccount string, pullSecrets []string) (authn.Keychain, error) {
	l.mu.RLock()
	src := l.src
	l.mu.RUnlock()
	if src == nil {
		return nil, errors.New("pull credentials not read yet")
	}
	return src.Keychain(ctx, namespace, serviceAccount, pullSecrets)
}

// certReloader serves the certificate files, read again when they change.
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	certMod, keyMod   time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("admission: a TLS certificate and key are required: the API server calls webhooks over HTTPS only")
	}
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.get(nil); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, cerr := os.Stat(r.certFile)
	ks, kerr := os.Stat(r.keyFile)
	if cerr == nil && kerr == nil && r.cert != nil && cs.ModTime().Equal(r.certMod) && ks.ModTime().Equal(r.keyMod) {
		return r.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			// Keep serving the last good certificate while a rotation
			// is half written.
			return r.cert, nil
		}
		return nil, fmt.Errorf("admission: TLS certificate: %w", err)
	}
	r.cert = &pair
	if cerr == nil && kerr == nil {
		r.certMod, r.keyMod = cs.ModTime(), ks.ModTime()
	}
	return r.cert, nil
}
