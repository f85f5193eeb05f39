package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/trust"
	"hallmark.dev/keys"
	"hallmark.dev/oci/store"
	"hallmark.dev/sign"
	"hallmark.dev/verify"
)

// ErrServerAndFiles means a server and signing config or trusted root
// files were both named: the services come from one place.
var ErrServerAndFiles = errors.New("a server and signing config or trusted root files are mutually exclusive")

// ErrPlainHTTP is returned (wrapped) for a server reached over plain HTTP
// off loopback without AllowHTTP.
var ErrPlainHTTP = errors.New("refusing plain HTTP")

// Signing is what to sign with, as a command names it: a key file or an
// identity token, and the services from files or a hallmark server.
type Signing struct {
	// KeyPath is an encrypted private key file (cosign format), decrypted
	// with the password Password returns; or
	KeyPath  string
	Password func() ([]byte, error)
	// IDToken is an OIDC identity token, or a file holding one.
	IDToken string
	// SigningConfigPath and TrustedRootPath are signing_config.json and
	// trusted_root.json files; or
	SigningConfigPath, TrustedRootPath string
	// Server is a hallmark server whose signing config and trusted root
	// are used, fetched with HTTPClient (nil: a client with a 30 s
	// timeout); plain HTTP off loopback needs AllowHTTP.
	Server     string
	HTTPClient *http.Client
	AllowHTTP  bool
	// RequireTlog, SkipTlogUnsafe and SkipTimestamp are passed to
	// sign.Config.
	RequireTlog, SkipTlogUnsafe, SkipTimestamp bool
}

// NewSigner reads the key, the token and the trust documents and builds
// the signer with sign.New, which refuses contradictions.
func NewSigner(ctx context.Context, s Signing) (*sign.Signer, error) {
	token, err := readToken(s.IDToken)
	if err != nil {
		return nil, err
	}
	cfg := sign.Config{IDToken: token, RequireTlog: s.RequireTlog, SkipTlogUnsafe: s.SkipTlogUnsafe, SkipTimestamp: s.SkipTimestamp}
	if s.KeyPath != "" && token != "" {
		return nil, sign.ErrKeyAndToken
	}
	if s.KeyPath != "" {
		if cfg.Key, err = readSigner(s.KeyPath, s.Password); err != nil {
			return nil, err
		}
	}
	if cfg.Key == nil && token == "" {
		return nil, sign.ErrNoSigner
	}
	scJSON, trJSON, err := trustDocuments(ctx, s)
	if err != nil {
		return nil, err
	}
	if scJSON != nil {
		if cfg.SigningConfig, err = root.NewSigningConfigFromJSON(scJSON); err != nil {
			return nil, fmt.Errorf("invalid signing config: %w", err)
		}
	}
	if trJSON != nil {
		tr, err := verify.ParseTrustedRoot(trJSON)
		if err != nil {
			return nil, err
		}
		cfg.TrustedRoot = tr
	}
	return sign.New(cfg)
}

// readToken returns the token: the value itself when it is a JWT, else
// the contents of the file it names.
func readToken(v string) (string, error) {
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

// DecryptError is returned for a key file that does not decrypt with the
// password given; it matches keys.ErrWrongPassword.
type DecryptError struct{ Path string }

func (e *DecryptError) Error() string {
	return "cannot decrypt " + e.Path + ": wrong password or corrupted key"
}

// Unwrap returns keys.ErrWrongPassword.
func (e *DecryptError) Unwrap() error { return keys.ErrWrongPassword }

// readSigner reads and decrypts a cosign key file.
func readSigner(path string, password func() ([]byte, error)) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	if password == nil {
		return nil, fmt.Errorf("load key %s: no password", path)
	}
	pw, err := password()
	if err != nil {
		return nil, err
	}
	s, err := keys.DecryptPrivateKey(data, pw)
	if errors.Is(err, keys.ErrWrongPassword) {
		return nil, &DecryptError{Path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return s, nil
}

// trustDocuments reads the signing config and trusted root from files, or
// from the server.
func trustDocuments(ctx context.Context, s Signing) (sc, tr []byte, err error) {
	if s.Server != "" && (s.SigningConfigPath != "" || s.TrustedRootPath != "") {
		return nil, nil, ErrServerAndFiles
	}
	if s.Server != "" {
		if err := CheckServerURL(s.Server, s.AllowHTTP); err != nil {
			return nil, nil, err
		}
		client := s.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 30 * time.Second}
		}
		tr, sc, err := trust.Fetch(ctx, client, s.Server)
		return sc, tr, err
	}
	if s.SigningConfigPath != "" {
		if sc, err = os.ReadFile(s.SigningConfigPath); err != nil {
			return nil, nil, fmt.Errorf("read signing config: %w", err)
		}
	}
	if s.TrustedRootPath != "" {
		if tr, err = os.ReadFile(s.TrustedRootPath); err != nil {
			return nil, nil, fmt.Errorf("read trusted root: %w", err)
		}
	}
	return sc, tr, nil
}

// CheckServerURL refuses a server reached over plain HTTP off loopback,
// unless allowHTTP ([ErrPlainHTTP]).
func CheckServerURL(server string, allowHTTP bool) error {
	if strings.HasPrefix(server, "http://") && !allowHTTP && !isLoopbackURL(server) {
		return fmt.Errorf("%w to %s", ErrPlainHTTP, server)
	}
	return nil
}

func isLoopbackURL(u string) bool {
	h := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	h = strings.SplitN(h, "/", 2)[0]
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return store.IsLoopback(strings.Trim(h, "[]"))
}
