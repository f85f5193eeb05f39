// Package server wires hallmark's services into one HTTP server on one
// port: today the OCI registry (the embedded default); the trust services
// (certificate authority, transparency log, timestamp authority, trust root
// distribution) join it under their own paths.
//
// Config is the documented configuration schema of `hallmark serve`.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"hallmark.dev/internal/registry"
)

// Config configures a server.
type Config struct {
	// Addr is the address to listen on, host:port. Default 127.0.0.1:5005.
	Addr string `yaml:"addr"`
	// DataDir holds all state: the registry's blobs and manifests under
	// registry/. It is created (mode 0700) if missing.
	DataDir string `yaml:"data"`
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger `yaml:"-"`
}

// DefaultAddr is where `hallmark serve` listens by default.
const DefaultAddr = "127.0.0.1:5005"

// Server is a running hallmark server.
type Server struct {
	cfg     Config
	handler http.Handler
}

// New builds the server's services on cfg.DataDir.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: no data directory")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	reg, err := registry.New(ctx, registry.Config{Dir: filepath.Join(cfg.DataDir, "registry"), Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("server: registry: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	return &Server{cfg: cfg, handler: mux}, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the configured address.
func (s *Server) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	return l, nil
}

// Serve serves on l until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(shutdownCtx); err != nil {
			return err
		}
		return nil
	}
}
