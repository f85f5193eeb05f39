package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/setup"
	"hallmark.dev/keys"
	"hallmark.dev/sign"
)

// signingFlags select the signer (a key, or an identity token for keyless
// signing) and the services (a signing config, or a hallmark server).
type signingFlags struct {
	key           string
	identityToken string
	signingConfig string
	trustedRoot   string
	server        string
	tlogUpload    bool
	timestamp     bool
	cmd           *cobra.Command
}

func (f *signingFlags) bind(cmd *cobra.Command) {
	f.cmd = cmd
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "encrypted private key file (cosign format)")
	fl.StringVar(&f.identityToken, "identity-token", "", "OIDC identity token, or a file holding one, for keyless signing (also SIGSTORE_ID_TOKEN)")
	fl.StringVar(&f.signingConfig, "signing-config", "", "signing_config.json: the CA, log and timestamp authority to use")
	fl.StringVar(&f.trustedRoot, "trusted-root", "", "trusted_root.json: checks each new signature against it before it is stored")
	fl.StringVar(&f.server, "server", "", "a hallmark server URL: use the signing config and trusted root it publishes")
	fl.BoolVar(&f.tlogUpload, "tlog-upload", true, "record the signature in the signing config's transparency log")
	fl.BoolVar(&f.tlogUpload, "tlog", true, "same as --tlog-upload: --tlog=false --timestamp makes a timestamp-only signature for content too large for the log")
	fl.BoolVar(&f.timestamp, "timestamp", true, "get an RFC 3161 timestamp from the signing config's timestamp authority")
}

// signer builds the signer the flags name.
func (e *env) signer(ctx context.Context, f *signingFlags, allowHTTP bool) (*sign.Signer, error) {
	token := f.identityToken
	if token == "" {
		token, _ = e.lookupEnv("SIGSTORE_ID_TOKEN")
	}
	tlogSet := f.cmd.Flags().Changed("tlog-upload") || f.cmd.Flags().Changed("tlog")
	s, err := setup.NewSigner(ctx, setup.Signing{
		KeyPath:  f.key,
		Password: func() ([]byte, error) { return e.password("Enter password for private key "+f.key, false) },
		IDToken:  token, SigningConfigPath: f.signingConfig, TrustedRootPath: f.trustedRoot,
		Server: f.server, AllowHTTP: allowHTTP,
		RequireTlog: tlogSet && f.tlogUpload, SkipTlogUnsafe: !f.tlogUpload, SkipTimestamp: !f.timestamp,
	})
	return s, signingError(err, f)
}

// signingError names the flags behind a refusal and says what to do.
func signingError(err error, f *signingFlags) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sign.ErrKeyAndToken):
		return errors.New("--key and --identity-token are mutually exclusive")
	case errors.Is(err, sign.ErrNoSigner):
		return withHint(err, "pass --key cosign.key (make one with hallmark generate-key-pair), or --identity-token with --server or --signing-config")
	case errors.Is(err, sign.ErrKeylessNoConfig):
		return withHint(err, "pass --server URL (a hallmark server) or --signing-config signing_config.json")
	case errors.Is(err, sign.ErrNoTlogConfigured):
		return withHint(err, "pass --server URL or --signing-config signing_config.json")
	case errors.Is(err, setup.ErrServerAndFiles):
		return errors.New("--server and --signing-config/--trusted-root are mutually exclusive")
	case errors.Is(err, setup.ErrPlainHTTP):
		return withHint(err, "use https, or pass --allow-http-registry")
	case errors.Is(err, keys.ErrWrongPassword):
		return withHint(err, "the password comes from HALLMARK_PASSWORD, else COSIGN_PASSWORD")
	}
	return err
}
