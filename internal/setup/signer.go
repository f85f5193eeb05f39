package setup

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/pkcs11key"
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
	// with the password Password returns, or the PKCS#11 URI of a key in a
	// token (pkcs11:…), opened with PKCS11 for what the URI leaves out; or
	KeyPath  string
	Password func() ([]byte, error)
	PKCS11   pkcs11key.Options
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
//
// A key in a token is closed by the signer's Close.
func NewSigner(ctx context.Context, s Signing) (_ *sign.Signer, err error) {
	token, err := readToken(s.IDToken)
	if err != nil {
		return nil, err
	}
	cfg := sign.Config{IDToken: token, RequireTlog: s.RequireTlog, SkipTlogUnsafe: s.SkipTlogUnsafe, SkipTimestamp: s.SkipTimestamp}
	if s.KeyPath != "" && token != "" {
		return nil, sign.ErrKeyAndToken
	}
	if s.KeyPath != "" {
		if cfg.Key, err = OpenKey(s.KeyPath, s.Password, s.PKCS11); err != nil {
			return nil, err
		}
		// The signer owns the key once built; until then, this does.
		defer func() {
			if err != nil {
				closeKey(cfg.Key)
			}
		}()
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
		var tr verify.TrustedRoot
		if tr, err = verify.ParseTrustedRoot(trJSON); err != nil {
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

// OpenKey opens the private key ref names: a key in a PKCS#11 token if ref
// is a PKCS#11 URI (see pkcs11key.Open; p11 supplies what the URI leaves
// out), else a cosign key file, decrypted with the password password
// returns. A key in a token implements io.Closer; the caller closes it.
func OpenKey(ref string, password func() ([]byte, error), p11 pkcs11key.Options) (crypto.Signer, error) {
	if pkcs11key.IsURI(ref) {
		return pkcs11key.Open(ref, p11)
	}
	return readSigner(ref, password)
}

// closeKey closes a key that holds resources (a key in a token).
func closeKey(k crypto.Signer) {
	if c, ok := k.(io.Closer); ok {
		c.Close()
	}
}

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
