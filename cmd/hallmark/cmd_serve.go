package main

import (
	"errors"
	"log/slog"
	"net"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/server"
	"hallmark.dev/oci/store"
)

func serveCmd(e *env) *cobra.Command {
	var cfg server.Config
	var verbose bool
	cmd := &cobra.Command{
		Use:   "serve --data DIR [--addr HOST:PORT]",
		Short: "Serve the embedded OCI registry (and, later, the trust services) from one process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DataDir == "" {
				return withHint(errors.New("no data directory"), "pass --data DIR (created if missing)")
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = slog.New(slog.NewTextHandler(e.err, &slog.HandlerOptions{Level: level}))
			s, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			l, err := s.Listen()
			if err != nil {
				return err
			}
			if host, _, err := net.SplitHostPort(l.Addr().String()); err == nil && !store.IsLoopback(host) {
				e.warn("listening on %s, off loopback: the registry has no authentication and no TLS; anyone who reaches it can push, re-tag and delete", l.Addr())
			}
			e.info("serving the registry at http://%s/v2/ (data in %s)", l.Addr(), cfg.DataDir)
			return s.Serve(cmd.Context(), l)
		},
	}
	cmd.Flags().StringVar(&cfg.Addr, "addr", server.DefaultAddr, "listen address")
	cmd.Flags().StringVar(&cfg.DataDir, "data", "", "data directory")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log requests")
	return cmd
}
