package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	ct "github.com/google/certificate-transparency-go"
	"github.com/transparency-dev/tessera"

	"hallmark.dev/internal/ca"
	"hallmark.dev/internal/ctlog"
	"hallmark.dev/internal/keyfile"
	"hallmark.dev/tlog"
)

// CTLogPath is where the certificate transparency log is served: its
// submission and monitoring prefix under the public URL.
const CTLogPath = "/ctlog"

// buildCTLog opens the certificate transparency log in DataDir/ctlog,
// accepting chains to the CA's root, and serves it under CTLogPath.
func (s *Server) buildCTLog(ctx context.Context, mux *http.ServeMux, caChain []*x509.Certificate) error {
	origin, err := ctlog.OriginFromURL(s.cfg.PublicURL + CTLogPath)
	if err != nil {
		return fmt.Errorf("server: ct log: %w", err)
	}
	var storage ctlog.Storage
	if s.shared != nil {
		storage = s.shared.Log("ctlog")
	}
	s.ctlog, err = ctlog.New(ctx, ctlog.Config{
		Dir:       s.dir("ctlog"),
		Storage:   storage,
		Origin:    origin,
		Roots:     caChain[len(caChain)-1:],
		Logger:    s.cfg.Logger,
		Witnesses: s.witnesses,
	})
	if err != nil {
		return fmt.Errorf("server: ct log: %w", err)
	}
	mux.Handle(CTLogPath+"/", http.StripPrefix(CTLogPath, s.ctlog.Handler()))
	return nil
}

// Verifier key files written beside the trust documents: the checkpoint
// keys of the logs in vkey form, for witnesses' log lists and clients'
// witness policies.
const (
	LogVKeyFile   = "log.vkey"
	CTLogVKeyFile = "ctlog.vkey"
)

// witnessGroup reads the witness policy at path: every witness of its
// quorum needs a URL, since the logs send it their checkpoints.
func witnessGroup(path string) (tessera.WitnessGroup, error) {
	if path == "" {
		return tessera.WitnessGroup{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return tessera.WitnessGroup{}, fmt.Errorf("server: witness policy: %w", err)
	}
	p, err := tlog.ParsePolicy(data)
	if err != nil {
		return tessera.WitnessGroup{}, fmt.Errorf("server: witness policy %s: %w", path, err)
	}
	if !p.RequiresCosignatures() {
		return tessera.WitnessGroup{}, fmt.Errorf("server: witness policy %s: its quorum is none; leave the policy out to publish without witnesses", path)
	}
	for _, w := range p.Witnesses {
		if w.URL == "" {
			return tessera.WitnessGroup{}, fmt.Errorf("server: witness policy %s: witness %s has no URL: the logs must reach it (witness NAME VKEY URL)", path, w.Name)
		}
	}
	wg, err := tessera.NewWitnessGroupFromPolicy(data)
	if err != nil {
		return tessera.WitnessGroup{}, fmt.Errorf("server: witness policy %s: %w", path, err)
	}
	return wg, nil
}

// writeVerifierKeys writes the logs' verifier keys to dir. A transparency
// log with an ECDSA key has no vkey form; its file is removed.
func (s *Server) writeVerifierKeys(dir string) error {
	keys := map[string]string{}
	if vkey, err := tlog.VerifierKey(s.log.Origin(), s.log.PublicKey()); err == nil {
		keys[LogVKeyFile] = vkey
	}
	if s.ctlog != nil {
		keys[CTLogVKeyFile] = s.ctlog.VerifierKey()
	}
	for _, name := range []string{LogVKeyFile, CTLogVKeyFile} {
		path := filepath.Join(dir, name)
		vkey, ok := keys[name]
		if !ok {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("server: %w", err)
			}
			continue
		}
		if err := keyfile.WriteFileAtomic(path, []byte(vkey+"\n"), 0o644); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	}
	return nil
}

// lateCTLog hands the CA the CT log that is opened after it: the log
// accepts the CA's root, which the CA creates on first start. No request
// reaches the CA before both exist.
type lateCTLog struct{ l **ctlog.Log }

var _ ca.CTLog = lateCTLog{}

func (f lateCTLog) AddPreChain(ctx context.Context, chain []*x509.Certificate) (*ct.SignedCertificateTimestamp, error) {
	return (*f.l).AddPreChain(ctx, chain)
}

// ExportVerifierKeys copies the logs' verifier keys a server wrote to its
// data directory at its last start (log.vkey, and ctlog.vkey when the CA
// runs) into outDir, offline, and returns the paths written.
func ExportVerifierKeys(dataDir, outDir string) ([]string, error) {
	var written []string
	for _, name := range []string{LogVKeyFile, CTLogVKeyFile} {
		data, err := os.ReadFile(filepath.Join(dataDir, "trust", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return written, err
		}
		if _, err := tlog.ParseLogVerifierKey(string(bytes.TrimSpace(data))); err != nil {
			return written, fmt.Errorf("%s: %w", name, err)
		}
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return written, err
		}
		path := filepath.Join(outDir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}
