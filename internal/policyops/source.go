package policyops

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"hallmark.dev/internal/policystore"
	"hallmark.dev/internal/setup"
	"hallmark.dev/internal/trust"
	"hallmark.dev/signpolicy"
	"hallmark.dev/verify"
)

// ErrNoWriter is returned by [NewSource] without a policy writer: every
// version must be checked against one.
var ErrNoWriter = errors.New("no policy writer given")

// SourceConfig names where a repository's policy is read from and who
// must have written it, as a command gives them.
type SourceConfig struct {
	// Server is the hallmark server that stores the policy; plain HTTP
	// off loopback needs AllowHTTP.
	Server    string
	AllowHTTP bool
	// WriterKeyPaths are PEM public key files of the policy writer, and
	// Writers its keyless identities, ISSUER=SUBJECT.
	WriterKeyPaths []string
	Writers        []string
	// TrustedRootPath pins the trusted root; empty means the one Server
	// publishes.
	TrustedRootPath string
	// StateDir is where the newest version seen of each repository is
	// remembered (in StateDir/signing-policy); empty remembers nothing.
	StateDir string
}

// NewStoreClient returns the client of a server's policy store, refusing
// plain HTTP off loopback unless allowHTTP (setup.ErrPlainHTTP).
func NewStoreClient(server string, allowHTTP bool) (*policystore.Client, error) {
	if err := setup.CheckServerURL(server, allowHTTP); err != nil {
		return nil, err
	}
	return &policystore.Client{BaseURL: server, HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
}

// NewSource reads the writer's keys and the trusted root and returns the
// source to read policies from.
func NewSource(ctx context.Context, c SourceConfig) (Source, error) {
	if len(c.WriterKeyPaths) == 0 && len(c.Writers) == 0 {
		return Source{}, ErrNoWriter
	}
	store, err := NewStoreClient(c.Server, c.AllowHTTP)
	if err != nil {
		return Source{}, err
	}
	var w signpolicy.Writer
	for _, path := range c.WriterKeyPaths {
		pub, err := setup.ReadPublicKey(path)
		if err != nil {
			return Source{}, err
		}
		w.Keys = append(w.Keys, crypto.PublicKey(pub))
	}
	for _, spec := range c.Writers {
		id, err := signpolicy.ParseIdentity(spec)
		if err != nil {
			return Source{}, fmt.Errorf("policy writer: %w", err)
		}
		w.Identities = append(w.Identities, id)
	}
	var tr verify.TrustedRoot
	if c.TrustedRootPath != "" {
		if tr, err = setup.ReadTrustedRoot(c.TrustedRootPath); err != nil {
			return Source{}, err
		}
	} else {
		data, _, err := trust.Fetch(ctx, &http.Client{Timeout: 30 * time.Second}, c.Server)
		if err != nil {
			return Source{}, err
		}
		if tr, err = verify.ParseTrustedRoot(data); err != nil {
			return Source{}, err
		}
	}
	src := Source{Store: store, Trust: signpolicy.Trust{Root: tr, Writer: w}}
	if c.StateDir != "" {
		src.Heads = DirHeads{Dir: filepath.Join(c.StateDir, "signing-policy")}
	}
	return src, nil
}
