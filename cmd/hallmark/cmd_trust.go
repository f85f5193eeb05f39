package main

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/oidc"
	"hallmark.dev/internal/server"
	"hallmark.dev/internal/trust"
)

func devTokenCmd(e *env) *cobra.Command {
	var serverURL, subject, audience string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "dev-token --server URL --subject S",
		Short: "Print an OIDC identity token from a server's development issuer (hallmark serve --dev-oidc)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serverURL == "" || subject == "" {
				return withHint(errors.New("--server and --subject are required"), "hallmark dev-token --server http://127.0.0.1:5005 --subject you@example.com")
			}
			tok, err := oidc.RequestToken(cmd.Context(), &http.Client{Timeout: 30 * time.Second},
				strings.TrimRight(serverURL, "/")+trust.OIDCPath,
				oidc.TokenRequest{Subject: subject, Audience: audience, TTL: int64(ttl / time.Second)})
			if err != nil {
				return err
			}
			e.printf("%s\n", tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&serverURL, "server", "", "hallmark server URL")
	cmd.Flags().StringVar(&subject, "subject", "", "the token's subject (an email address becomes a verified email claim)")
	cmd.Flags().StringVar(&audience, "audience", "sigstore", "the token's audience")
	cmd.Flags().DurationVar(&ttl, "ttl", 10*time.Minute, "the token's lifetime")
	return cmd
}

func trustCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "trust", Short: "Trust material of a hallmark server"}
	var dataDir, outDir string
	export := &cobra.Command{
		Use:   "export --data DIR --out DIR",
		Short: "Write trusted_root.json, signing_config.json and the logs' verifier keys (log.vkey, ctlog.vkey) from a server's data directory, offline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" || outDir == "" {
				return withHint(errors.New("--data and --out are required"), "hallmark trust export --data ./hallmark-data --out ./trust")
			}
			tr, sc, err := server.ExportTrust(dataDir, outDir)
			if err != nil {
				return err
			}
			e.printf("Wrote %s and %s\n", tr, sc)
			vkeys, err := server.ExportVerifierKeys(dataDir, outDir)
			for _, p := range vkeys {
				e.printf("Wrote %s\n", p)
			}
			return err
		},
	}
	export.Flags().StringVar(&dataDir, "data", "", "the server's data directory")
	export.Flags().StringVar(&outDir, "out", "", "where to write the files")
	var rotateData string
	rotate := &cobra.Command{
		Use:   "rotate-ca --data DIR",
		Short: "Retire the CA's intermediate (offline: stop the server first); the next start certifies a new one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rotateData == "" {
				return withHint(errors.New("--data is required"), "hallmark trust rotate-ca --data ./hallmark-data")
			}
			retired, err := server.RotateCA(rotateData, time.Now())
			if err != nil {
				return err
			}
			e.printf("Retired the intermediate to %s; its key file, if any, is deleted (a key in a token stays there: restart with --ca-key naming a new one to change the key too).\nRestart hallmark serve: it certifies a new intermediate and publishes a trusted root that keeps the retired one, valid until now.\n", retired)
			return nil
		},
	}
	rotate.Flags().StringVar(&rotateData, "data", "", "the server's data directory")
	cmd.AddCommand(export, rotate)
	return cmd
}
