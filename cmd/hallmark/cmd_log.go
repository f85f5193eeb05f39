package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/logclient"
	"hallmark.dev/internal/ops"
	"hallmark.dev/tlog"
	"hallmark.dev/verify"
)

// logFlags name a log: its server URL and the trusted root holding its key.
type logFlags struct {
	server      string
	trustedRoot string
}

func (f *logFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", "the log's base URL (a hallmark server URL)")
	cmd.Flags().StringVar(&f.trustedRoot, "trusted-root", "", "trusted_root.json holding the log's key")
}

// client returns a log client for the trusted root's log at --server.
func (f *logFlags) client() (*logclient.Client, error) {
	if f.server == "" || f.trustedRoot == "" {
		return nil, withHint(errors.New("--server and --trusted-root are required"), "every proof is checked against the log key in the trusted root")
	}
	data, err := os.ReadFile(f.trustedRoot)
	if err != nil {
		return nil, fmt.Errorf("read trusted root: %w", err)
	}
	tr, err := verify.ParseTrustedRoot(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.trustedRoot, err)
	}
	want := strings.TrimRight(f.server, "/")
	for _, l := range tr.RekorLogs() {
		if strings.TrimRight(l.BaseURL, "/") == want {
			return logclient.New(l.BaseURL, l.PublicKey, &http.Client{Timeout: 30 * time.Second})
		}
	}
	return nil, fmt.Errorf("the trusted root lists no log at %s", want)
}

func logCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "log", Short: "Read the transparency log and verify its proofs, client-side"}

	var (
		cf            logFlags
		witnessPolicy string
	)
	checkpoint := &cobra.Command{
		Use:   "checkpoint --server URL --trusted-root FILE [--witness-policy FILE]",
		Short: "Fetch and verify the log's latest signed checkpoint (and its witness cosignatures)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			policy, err := readWitnessPolicyFlag(witnessPolicy)
			if err != nil {
				return err
			}
			cp, raw, err := c.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			var witnesses []string
			if policy != nil {
				if witnesses, err = policy.CheckQuorum(raw); err != nil {
					return fmt.Errorf("checkpoint of %s at size %d: %w", cp.Origin, cp.Size, err)
				}
			}
			e.printf("Verified checkpoint of %s: size %d, root %s\n", cp.Origin, cp.Size, hex.EncodeToString(cp.Hash))
			if policy != nil {
				e.printf("Witnessed by %s (quorum met)\n", strings.Join(witnesses, ", "))
			}
			e.printf("\n%s", multiline(raw))
			return nil
		},
	}
	cf.bind(checkpoint)
	checkpoint.Flags().StringVar(&witnessPolicy, "witness-policy", "", "a C2SP tlog-policy file: the checkpoint must carry cosignatures from its quorum of witnesses")

	var (
		inf     logFlags
		index   uint64
		leafHex string
		bundle  string
	)
	inclusion := &cobra.Command{
		Use:   "inclusion --server URL --trusted-root FILE (--bundle B | --index N [--leaf-hash HEX])",
		Short: "Prove that an entry is in the log, against the latest verified checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := inf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cp, _, err := c.Checkpoint(ctx)
			if err != nil {
				return err
			}
			var leaf []byte
			fromLog := false
			switch {
			case bundle != "":
				b, err := ops.ReadBundleFile(bundle)
				if err != nil {
					return err
				}
				parsed, err := verify.ParseBundle(b)
				if err != nil {
					return fmt.Errorf("%s: %w", bundle, err)
				}
				entries := parsed.GetVerificationMaterial().GetTlogEntries()
				if len(entries) == 0 {
					return fmt.Errorf("%s has no transparency log entry", bundle)
				}
				index = uint64(entries[0].GetLogIndex())
				leaf = tlog.LeafHash(entries[0].GetCanonicalizedBody())
			case cmd.Flags().Changed("index") && leafHex != "":
				if leaf, err = hex.DecodeString(leafHex); err != nil || len(leaf) != tlog.HashSize {
					return fmt.Errorf("--leaf-hash: want %d bytes of hex", tlog.HashSize)
				}
			case cmd.Flags().Changed("index"):
				if leaf, err = c.LeafHash(ctx, index, cp.Size); err != nil {
					return err
				}
				fromLog = true
			default:
				return withHint(errors.New("name the entry"), "pass --bundle B, or --index N")
			}
			proof, err := c.ProveInclusion(ctx, cp, index, leaf)
			if err != nil {
				return fmt.Errorf("entry %d is not proven in the tree of size %d: %w", index, cp.Size, err)
			}
			e.printf("Verified inclusion of entry %d (leaf %s) in the tree of size %d, root %s (%d proof hashes)\n",
				index, hex.EncodeToString(leaf), cp.Size, hex.EncodeToString(cp.Hash), len(proof))
			if fromLog {
				e.warn("the leaf hash was read from the log itself: this proves the log's tiles match its checkpoint; pass --leaf-hash or --bundle to prove a given entry")
			}
			return nil
		},
	}
	inf.bind(inclusion)
	inclusion.Flags().Uint64Var(&index, "index", 0, "the entry's log index")
	inclusion.Flags().StringVar(&leafHex, "leaf-hash", "", "the entry's RFC 6962 leaf hash (hex); default: read from the log")
	inclusion.Flags().StringVar(&bundle, "bundle", "", "a Sigstore bundle whose log entry to prove")

	var (
		cof     logFlags
		oldSize uint64
		oldRoot string
	)
	consistency := &cobra.Command{
		Use:   "consistency --server URL --trusted-root FILE --old-size N --old-root HEX|BASE64",
		Short: "Prove that the log only grew since an older checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cof.client()
			if err != nil {
				return err
			}
			root, err := decodeHash(oldRoot)
			if err != nil {
				return fmt.Errorf("--old-root: %w", err)
			}
			cp, _, err := c.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			proof, err := c.ProveConsistency(cmd.Context(), tlog.Checkpoint{Size: oldSize, Hash: root}, cp)
			if err != nil {
				return fmt.Errorf("the tree of size %d is not consistent with the tree of size %d: %w", oldSize, cp.Size, err)
			}
			e.printf("Verified consistency from size %d to size %d, root %s (%d proof hashes)\n", oldSize, cp.Size, hex.EncodeToString(cp.Hash), len(proof))
			return nil
		},
	}
	cof.bind(consistency)
	consistency.Flags().Uint64Var(&oldSize, "old-size", 0, "the older tree size")
	consistency.Flags().StringVar(&oldRoot, "old-root", "", "the older root hash")

	cmd.AddCommand(checkpoint, inclusion, consistency)
	return cmd
}

func decodeHash(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == tlog.HashSize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == tlog.HashSize {
		return b, nil
	}
	return nil, fmt.Errorf("want a %d-byte hash in hex or base64", tlog.HashSize)
}
