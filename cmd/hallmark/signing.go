package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/spf13/cobra"

	"hallmark.dev/internal/trust"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
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
	// services are the services selected by signerAndOptions, nil when
	// there is no signing config.
	services *sign.Services
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

// signerAndOptions returns the keypair and the bundle options.
func (e *env) signerAndOptions(ctx context.Context, f *signingFlags, allowHTTP bool) (sgsign.Keypair, sign.Options, error) {
	token, err := e.idToken(f.identityToken)
	if err != nil {
		return nil, sign.Options{}, err
	}
	if f.key != "" && token != "" {
		return nil, sign.Options{}, errors.New("--key and --identity-token are mutually exclusive")
	}
	var kp sgsign.Keypair
	switch {
	case f.key != "":
		s, err := e.loadSigner(f.key)
		if err != nil {
			return nil, sign.Options{}, err
		}
		if kp, err = sign.NewKeySigner(s); err != nil {
			return nil, sign.Options{}, err
		}
	case token != "":
		if kp, err = sgsign.NewEphemeralKeypair(nil); err != nil {
			return nil, sign.Options{}, err
		}
	default:
		return nil, sign.Options{}, withHint(errors.New("no signing key or identity token"),
			"pass --key cosign.key (make one with hallmark generate-key-pair), or --identity-token with --server or --signing-config")
	}
	scJSON, trJSON, err := e.trustDocuments(ctx, f, allowHTTP)
	if err != nil {
		return nil, sign.Options{}, err
	}
	if scJSON == nil {
		if token != "" {
			return nil, sign.Options{}, withHint(errors.New("keyless signing needs a certificate authority"),
				"pass --server URL (a hallmark server) or --signing-config signing_config.json")
		}
		if (f.cmd.Flags().Changed("tlog-upload") || f.cmd.Flags().Changed("tlog")) && f.tlogUpload {
			return nil, sign.Options{}, withHint(errors.New("no transparency log configured"),
				"pass --server URL or --signing-config signing_config.json")
		}
		return kp, sign.Options{}, nil
	}
	sc, err := root.NewSigningConfigFromJSON(scJSON)
	if err != nil {
		return nil, sign.Options{}, fmt.Errorf("invalid signing config: %w", err)
	}
	services := sign.Services{Config: sc, IDToken: token, Log: f.tlogUpload, Timestamp: f.timestamp}
	if token == "" {
		services.Key = kp.GetPublicKey()
	}
	if trJSON != nil {
		tr, err := verify.ParseTrustedRoot(trJSON)
		if err != nil {
			return nil, sign.Options{}, err
		}
		services.TrustedRoot = tr
	}
	opts, err := services.Options(time.Now())
	if err != nil {
		return nil, sign.Options{}, err
	}
	f.services = &services
	return kp, opts, nil
}

// trustDocuments reads the signing config and trusted root from files, or
// from the --server.
func (e *env) trustDocuments(ctx context.Context, f *signingFlags, allowHTTP bool) (sc, tr []byte, err error) {
	if f.server != "" && (f.signingConfig != "" || f.trustedRoot != "") {
		return nil, nil, errors.New("--server and --signing-config/--trusted-root are mutually exclusive")
	}
	if f.server != "" {
		if strings.HasPrefix(f.server, "http://") && !allowHTTP && !isLoopbackURL(f.server) {
			return nil, nil, withHint(fmt.Errorf("refusing plain HTTP to %s", f.server), "use https, or pass --allow-http-registry")
		}
		tr, sc, err := trust.Fetch(ctx, &http.Client{Timeout: 30 * time.Second}, f.server)
		return sc, tr, err
	}
	if f.signingConfig != "" {
		if sc, err = os.ReadFile(f.signingConfig); err != nil {
			return nil, nil, fmt.Errorf("read signing config: %w", err)
		}
	}
	if f.trustedRoot != "" {
		if tr, err = os.ReadFile(f.trustedRoot); err != nil {
			return nil, nil, fmt.Errorf("read trusted root: %w", err)
		}
	}
	return sc, tr, nil
}

// idToken returns the identity token: the flag's value, or the contents of
// the file it names, else SIGSTORE_ID_TOKEN.
func (e *env) idToken(flag string) (string, error) {
	v := flag
	if v == "" {
		v, _ = e.lookupEnv("SIGSTORE_ID_TOKEN")
	}
	if v == "" {
		return "", nil
	}
	if strings.Count(v, ".") == 2 && !strings.ContainsAny(v, "/ \n") {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("identity token: not a JWT and not a readable file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func isLoopbackURL(u string) bool {
	h := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	h = strings.SplitN(h, "/", 2)[0]
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return store.IsLoopback(strings.Trim(h, "[]"))
}
