package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/server"
)

func adminCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer a hallmark server's storage",
	}
	cmd.AddCommand(migrateCmd(e))
	return cmd
}

func migrateCmd(e *env) *cobra.Command {
	var from, to, output string
	cmd := &cobra.Command{
		Use:   "migrate --from DIR --to CONFIG",
		Short: "Copy a server's data directory (stopped) to the database and object store of a replica set",
		Long: `Copy the embedded store of a data directory (its server stopped) to the
database and object store that a replica set configuration file names:
the transparency log and the CT log (their trees rebuilt and checked against
the root of their signed checkpoints), the registry (every blob checked
against its digest after the copy), the referrer records, the signing
policies and approvals, and the replica set's identity. The keys stay in
the data directory: start the replicas on copies of it, with the same
configuration. The object store's credentials are read from
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; HALLMARK_DATABASE and
HALLMARK_OBJECT_STORE override the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return withHint(errors.New("migrate needs --from and --to"), "hallmark admin migrate --from DATA-DIR --to replicas.yaml (a file naming database and objectStore)")
			}
			data, err := os.ReadFile(to)
			if err != nil {
				return err
			}
			file, err := server.ParseConfig(data)
			if err != nil {
				return fmt.Errorf("%s: %w", to, err)
			}
			cfg := server.ConfigFromEnv(e.lookupEnv).Or(file)
			rep, err := server.Migrate(cmd.Context(), from, cfg)
			if err != nil {
				return serverError(err)
			}
			if output == "json" {
				return e.json(rep)
			}
			for _, l := range []struct {
				name string
				log  *server.MigratedLog
			}{{"transparency log", rep.Log}, {"CT log", rep.CTLog}} {
				if l.log != nil {
					e.printf("%s: %d entries, root %s (matches the signed checkpoint)\n", l.name, l.log.Size, l.log.Root)
				}
			}
			if rep.CTLog != nil {
				e.printf("CT log issuers: %d\n", rep.Issuers)
			}
			e.printf("registry: %d files (%d bytes), %d blobs checked against their digests, %d referrer records\n", rep.Registry.Files, rep.Registry.Bytes, rep.Registry.Blobs, rep.Registry.Referrers)
			e.printf("signing policies: %d repositories, %d versions, %d approvals\n", rep.SigningPolicy.Repositories, rep.SigningPolicy.Versions, rep.SigningPolicy.Approvals)
			e.info("migrated %s; start the replicas on copies of it with --config %s", from, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the data directory of a stopped hallmark serve")
	cmd.Flags().StringVar(&to, "to", "", "a configuration file naming the replica set's database and objectStore")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	return cmd
}
