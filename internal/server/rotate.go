package server

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"hallmark.dev/internal/trust"
	"hallmark.dev/verify"
)

// Files of the CA's state that rotation touches (see internal/ca).
const (
	caIntermediateCert = "intermediate.pem"
	caIntermediateKey  = "intermediate-key.pem"
	caRootCert         = "root.pem"
	caRetiredDir       = "retired"
)

// RotateCA retires the certificate authority's intermediate in a server's
// data directory, offline (stop the server first, or restart it after):
// the intermediate's certificate is kept under ca/retired/, named by its
// retirement time, and its key file is deleted, so that the next start
// certifies a new intermediate with the root: for a new key, or for
// Config.CAKey, a key in a token, which stays in the token. The trusted root then lists the retired
// chain with a validFor range ending at the retirement, so signatures made
// before it still verify, and the new chain from the retirement on.
func RotateCA(dataDir string, now time.Time) (retired string, err error) {
	dir := filepath.Join(dataDir, "ca")
	cert := filepath.Join(dir, caIntermediateCert)
	if _, err := os.Stat(cert); err != nil {
		return "", fmt.Errorf("rotate: no intermediate in %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, caRetiredDir), 0o700); err != nil {
		return "", fmt.Errorf("rotate: %w", err)
	}
	retired = filepath.Join(dir, caRetiredDir, fmt.Sprintf("intermediate-%d.pem", now.UTC().UnixNano()))
	if err := os.Rename(cert, retired); err != nil {
		return "", fmt.Errorf("rotate: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, caIntermediateKey)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return retired, fmt.Errorf("rotate: delete the retired key: %w", err)
	}
	return retired, nil
}

// retiredCAChains reads the retired intermediates (oldest first) as chains
// with the root, each valid from its NotBefore to its retirement.
func retiredCAChains(dataDir string) ([]trust.Chain, error) {
	dir := filepath.Join(dataDir, "ca")
	root, err := readPEMCert(filepath.Join(dir, caRootCert))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dir, caRetiredDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var chains []trust.Chain
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "intermediate-") || !strings.HasSuffix(name, ".pem") {
			continue
		}
		ns, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, "intermediate-"), ".pem"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("retired intermediate %s: the name must carry its retirement time", name)
		}
		c, err := readPEMCert(filepath.Join(dir, caRetiredDir, name))
		if err != nil {
			return nil, err
		}
		if err := c.CheckSignatureFrom(root); err != nil {
			return nil, fmt.Errorf("retired intermediate %s is not signed by the root: %w", name, err)
		}
		chains = append(chains, trust.Chain{
			Certificates: []*x509.Certificate{c, root},
			Valid:        trust.Period{Start: c.NotBefore, End: time.Unix(0, ns).UTC()},
		})
	}
	sort.Slice(chains, func(i, j int) bool { return chains[i].Valid.End.Before(chains[j].Valid.End) })
	return chains, nil
}

func readPEMCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(b.Bytes)
}

// ErrNoTrustDocuments means a data directory holds no published trust
// documents: the server has never started on it.
var ErrNoTrustDocuments = errors.New("no trust documents: start hallmark serve on this data directory once; it writes them for its --addr or --public-url")

// ExportTrust copies the trusted root and signing config a server wrote to
// its data directory at its last start into outDir, offline, checking that
// the trusted root parses. It returns the paths written.
func ExportTrust(dataDir, outDir string) (trustedRoot, signingConfig string, err error) {
	src := filepath.Join(dataDir, "trust")
	tr, err := os.ReadFile(filepath.Join(src, TrustedRootFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("%s: %w", src, ErrNoTrustDocuments)
	}
	if err != nil {
		return "", "", err
	}
	if _, err := verify.ParseTrustedRoot(tr); err != nil {
		return "", "", fmt.Errorf("%s: %w", filepath.Join(src, TrustedRootFile), err)
	}
	sc, err := os.ReadFile(filepath.Join(src, SigningConfigFile))
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", "", err
	}
	trustedRoot, signingConfig = filepath.Join(outDir, TrustedRootFile), filepath.Join(outDir, SigningConfigFile)
	if err := os.WriteFile(trustedRoot, tr, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(signingConfig, sc, 0o644); err != nil {
		return "", "", err
	}
	return trustedRoot, signingConfig, nil
}
