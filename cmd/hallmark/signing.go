package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"hallmark.dev/internal/pkcs11key"
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
	fl.StringVar(&f.key, "key", "", "private key: an encrypted key file (cosign format), or a key in a token as a PKCS#11 URI (pkcs11:token=T;object=O?module-path=M)")
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
		PKCS11:   e.pkcs11Options(),
		IDToken:  token, SigningConfigPath: f.signingConfig, TrustedRootPath: f.trustedRoot,
		Server: f.server, AllowHTTP: allowHTTP,
		RequireTlog: tlogSet && f.tlogUpload, SkipTlogUnsafe: !f.tlogUpload, SkipTimestamp: !f.timestamp,
	})
	if err != nil {
		return nil, signingError(err, f)
	}
	e.onExit(s.Close)
	return s, nil
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
	return keyError(err)
}

// keyError says what to do about a key in a token that could not be
// used.
func keyError(err error) error {
	const list = "hallmark pkcs11 list-tokens --module-path M, and list-keys, show what a module holds"
	switch {
	case errors.Is(err, pkcs11key.ErrNotBuiltIn):
		return withHint(err, "PKCS#11 needs a hallmark built with cgo: CGO_ENABLED=1 go install hallmark.dev/cmd/hallmark (with a C compiler such as gcc installed)")
	case errors.Is(err, pkcs11key.ErrNoModule):
		return withHint(err, "add ?module-path=/path/to/module.so to the URI (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so), or set COSIGN_PKCS11_MODULE_PATH")
	case errors.Is(err, pkcs11key.ErrModule):
		return withHint(err, "module-path must name the token's PKCS#11 module, a shared library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)")
	case errors.Is(err, pkcs11key.ErrNoPIN):
		return withHint(err, "add &pin-source=FILE (or pin-value=) to the URI, or set COSIGN_PKCS11_PIN")
	case errors.Is(err, pkcs11key.ErrWrongPIN):
		return withHint(err, "the PIN comes from the URI (pin-value, pin-source), else HALLMARK_PKCS11_PIN or COSIGN_PKCS11_PIN")
	case errors.Is(err, pkcs11key.ErrNoToken), errors.Is(err, pkcs11key.ErrNoKey), errors.Is(err, pkcs11key.ErrAmbiguous):
		return withHint(err, list)
	}
	return err
}
