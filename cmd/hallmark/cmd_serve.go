package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/server"
	"hallmark.dev/oci/store"
)

func serveCmd(e *env) *cobra.Command {
	var (
		cfg        server.Config
		verbose    bool
		issuers    []string
		configFile string
	)
	cmd := &cobra.Command{
		Use:   "serve --data DIR [--addr HOST:PORT] [--public-url URL] [--dev-oidc] [--oidc-issuer TYPE=URL]... [--witness-policy FILE] [--ca-key|--tsa-key|--log-key PKCS11-URI] [--database mysql://… --object-store s3://…] [--config FILE]",
		Short: "Serve the private trust stack (CA, log, timestamp authority, trust root) and the registry from one process",
		Long: `Serve the private trust stack (CA, log, timestamp authority, trust root) and the registry from one process.

By default everything is kept in the data directory. With --database and
--object-store, everything but the keys and settings is kept in a MySQL
database and an S3 bucket (both created when missing): any number of
replicas started on copies of one data directory, with the same
--public-url, serve the same log, registry and CA behind a load balancer.
The object store's credentials are read from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY.

--config FILE reads the same settings from a YAML file (the keys of
internal/server.Config). The environment variables HALLMARK_ADDR,
HALLMARK_DATA, HALLMARK_PUBLIC_URL, HALLMARK_DATABASE and
HALLMARK_OBJECT_STORE set the settings of the same name. Flags take
precedence over the environment, which takes precedence over the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, spec := range issuers {
				iss, err := parseIssuer(spec)
				if err != nil {
					return err
				}
				cfg.Issuers = append(cfg.Issuers, iss)
			}
			var file server.Config
			if configFile != "" {
				data, err := os.ReadFile(configFile)
				if err != nil {
					return err
				}
				if file, err = server.ParseConfig(data); err != nil {
					return withHint(fmt.Errorf("%s: %w", configFile, err), "the keys are those of internal/server.Config's yaml tags, for example data, publicURL, database, objectStore")
				}
			}
			cfg = cfg.Or(server.ConfigFromEnv(e.lookupEnv)).Or(file)
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = slog.New(slog.NewTextHandler(e.err, &slog.HandlerOptions{Level: level}))
			cfg.PKCS11 = e.pkcs11Options()
			s, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return serverError(keyError(err))
			}
			if host, _, err := net.SplitHostPort(s.Addr().String()); err == nil && !store.IsLoopback(host) {
				e.warn("listening on %s, off loopback: the registry has no authentication and no TLS; anyone who reaches it can push, re-tag and delete", s.Addr())
			}
			e.info("serving at %s (registry %s/v2/, trust root %s/api/v1/trust/trusted_root.json; data in %s)", s.URL(), s.URL(), s.URL(), cfg.DataDir)
			if cfg.Database != "" {
				e.info("replica set storage: %s", s.SharedStorage())
			}
			if cfg.DevOIDC {
				e.warn("the development OIDC issuer at %s/oidc mints tokens for anyone: for local use only", s.URL())
			}
			return s.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&cfg.Addr, "addr", "", "listen address (default "+server.DefaultAddr+")")
	cmd.Flags().StringVar(&cfg.DataDir, "data", "", "data directory")
	cmd.Flags().StringVar(&cfg.PublicURL, "public-url", "", "base URL clients use, when behind a proxy (default http://ADDR)")
	cmd.Flags().BoolVar(&cfg.DevOIDC, "dev-oidc", false, "run the built-in OIDC issuer (local use only: it mints tokens for anyone)")
	cmd.Flags().StringArrayVar(&issuers, "oidc-issuer", nil, "trust an OIDC issuer: TYPE=URL, TYPE one of email, github-workflow, gitlab-pipeline, kubernetes, uri (repeatable)")
	cmd.Flags().StringVar(&cfg.CAKey, "ca-key", "", "the CA's issuing key in a token, a PKCS#11 URI (certified by the CA's root on first start and after rotate-ca)")
	cmd.Flags().StringVar(&cfg.TSAKey, "tsa-key", "", "the timestamp authority's key in a token (ECDSA), a PKCS#11 URI, taken when its directory is created")
	cmd.Flags().StringVar(&cfg.LogKey, "log-key", "", "the log's checkpoint key in a token (Ed25519 or ECDSA P-256), a PKCS#11 URI, taken when the log is created")
	cmd.Flags().StringVar(&cfg.WitnessPolicy, "witness-policy", "", "a C2SP tlog-policy file: publish each checkpoint of the log and the CT log only once its quorum of witnesses (with URLs) cosigned it")
	cmd.Flags().StringVar(&cfg.Database, "database", "", "keep the shared state of a replica set in this MySQL database: mysql://USER:PASSWORD@HOST:PORT/DB (with --object-store)")
	cmd.Flags().StringVar(&cfg.ObjectStore, "object-store", "", "keep the logs' tiles and the registry of a replica set in this S3 bucket: s3://BUCKET?endpoint=URL&path-style=true&region=REGION (with --database)")
	cmd.Flags().StringVar(&configFile, "config", "", "read the settings from this YAML file (flags and HALLMARK_* variables take precedence)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log requests")
	bindPolicyWriterFlags(cmd, &cfg.SigningPolicy)
	return cmd
}

func parseIssuer(spec string) (identity.Issuer, error) {
	typ, u, ok := strings.Cut(spec, "=")
	if !ok || typ == "" || u == "" {
		return identity.Issuer{}, withHint(errors.New("--oidc-issuer "+spec+": want TYPE=URL"), "for example --oidc-issuer github-workflow=https://token.actions.githubusercontent.com")
	}
	return identity.Issuer{Type: typ, URL: u}, nil
}

// serverError adds to a configuration that cannot run what to pass.
func serverError(err error) error {
	switch {
	case errors.Is(err, server.ErrNoDataDir):
		return withHint(err, "pass --data DIR (created if missing)")
	case errors.Is(err, server.ErrHalfReplicaSet):
		return withHint(err, "pass --database mysql://USER:PASSWORD@HOST:PORT/DB and --object-store 's3://BUCKET?endpoint=URL&path-style=true&region=REGION', or neither")
	case errors.Is(err, server.ErrNoObjectStoreCredentials):
		return withHint(err, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case errors.Is(err, server.ErrNoReplicaSet):
		return withHint(err, "a replica set configuration has database: mysql://… and objectStore: s3://…")
	case errors.Is(err, server.ErrDestinationServed):
		return withHint(err, "migrate into a new database and bucket; a replica set that has served keeps its own state")
	case errors.Is(err, server.ErrServing):
		return withHint(err, "stop hallmark serve on its data directory first: the copy must see every entry it acknowledged")
	}
	return err
}
