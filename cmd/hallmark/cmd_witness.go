package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/witness"
	"hallmark.dev/tlog"
)

func witnessCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "witness", Short: "Witness transparency logs: cosign their checkpoints only while they grow consistently (C2SP tlog-witness)"}
	var dataDir, addr, name, logPolicy string
	var verbose bool
	serve := &cobra.Command{
		Use:   "serve --data DIR --addr HOST:PORT --name NAME --log-policy FILE",
		Short: "Serve a witness (add-checkpoint); its verifier key is written to DIR/witness.vkey",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" || name == "" || logPolicy == "" {
				return withHint(errors.New("--data, --name and --log-policy are required"),
					"hallmark witness serve --data ./witness --name witness.example/w1 --log-policy logs.txt (log lines: hallmark trust export writes log.vkey and ctlog.vkey)")
			}
			data, err := os.ReadFile(logPolicy)
			if err != nil {
				return fmt.Errorf("read log policy: %w", err)
			}
			p, err := tlog.ParseLogPolicy(data)
			if err != nil {
				return fmt.Errorf("%s: %w", logPolicy, err)
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			w, err := witness.New(witness.Config{Dir: dataDir, Name: name, Logs: p.Logs, Logger: slog.New(slog.NewTextHandler(e.err, &slog.HandlerOptions{Level: level}))})
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", addr, err)
			}
			e.info("witness %s serving at http://%s for %d logs; verifier key %s", name, l.Addr(), len(p.Logs), w.VerifierKey())
			return w.Serve(cmd.Context(), l)
		},
	}
	serve.Flags().StringVar(&dataDir, "data", "", "the witness's key and state (created if missing)")
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:7380", "listen address")
	serve.Flags().StringVar(&name, "name", "", "the witness's name in its cosignatures, a schema-less URL (witness.example/w1)")
	serve.Flags().StringVar(&logPolicy, "log-policy", "", "a C2SP tlog-policy file whose log lines are the logs to witness")
	serve.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every request")
	cmd.AddCommand(serve)
	return cmd
}
