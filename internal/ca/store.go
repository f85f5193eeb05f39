package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"hallmark.dev/internal/keyfile"
)

// File names in Config.Dir.
const (
	rootCertFile  = "root.pem"
	rootKeyFile   = "root-key.pem"
	interCertFile = "intermediate.pem"
	interKeyFile  = "intermediate-key.pem"
)

// Names of the CA certificates' subjects.
var (
	rootName  = pkix.Name{Organization: []string{"hallmark"}, CommonName: "hallmark root CA"}
	interName = pkix.Name{Organization: []string{"hallmark"}, CommonName: "hallmark intermediate CA"}
)

// material is the CA's loaded state.
type material struct {
	root, intermediate *x509.Certificate
	signer             crypto.Signer
}

// loadOrCreate reads the CA from dir, creating what is missing: the root
// (only when there is no intermediate either) and the intermediate.
// Inconsistent states (an intermediate without its root, a key that does
// not match its certificate) are errors, never silently replaced.
func loadOrCreate(dir string, signer crypto.Signer, now time.Time) (*material, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: directory: %w", err)
	}
	path := func(name string) string { return filepath.Join(dir, name) }

	inter, err := readCert(path(interCertFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	root, err := readCert(path(rootCertFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if inter != nil {
		if root == nil {
			return nil, fmt.Errorf("ca: %s exists but %s does not", path(interCertFile), path(rootCertFile))
		}
		if err := inter.CheckSignatureFrom(root); err != nil {
			return nil, fmt.Errorf("ca: %s is not signed by %s: %w", path(interCertFile), path(rootCertFile), err)
		}
		if signer == nil {
			if signer, err = readKey(path(interKeyFile)); err != nil {
				return nil, err
			}
		}
		if err := matches(inter, signer); err != nil {
			return nil, fmt.Errorf("ca: intermediate key: %w", err)
		}
		return &material{root: root, intermediate: inter, signer: signer}, nil
	}

	// No intermediate: certify one with the root, creating the root first
	// if there is none.
	var rootKey crypto.Signer
	if root == nil {
		if _, err := os.Stat(path(rootKeyFile)); err == nil {
			return nil, fmt.Errorf("ca: %s exists but %s does not", path(rootKeyFile), path(rootCertFile))
		}
		if rootKey, err = newKey(); err != nil {
			return nil, fmt.Errorf("ca: generating key: %w", err)
		}
		if err := keyfile.Write(path(rootKeyFile), rootKey); err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		if root, err = createRoot(rootKey, now); err != nil {
			return nil, err
		}
		if err := keyfile.WriteFileExclusive(path(rootCertFile), pemCert(root), 0o644); err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
	} else {
		if rootKey, err = readKey(path(rootKeyFile)); err != nil {
			return nil, fmt.Errorf("%w (the root key is needed to certify a new intermediate)", err)
		}
		if err := matches(root, rootKey); err != nil {
			return nil, fmt.Errorf("ca: root key: %w", err)
		}
	}
	if signer == nil {
		if signer, err = keyfile.LoadOrCreate(path(interKeyFile), newKey); err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
	}
	if inter, err = createIntermediate(root, rootKey, signer.Public(), now); err != nil {
		return nil, err
	}
	if err := keyfile.WriteFileExclusive(path(interCertFile), pemCert(inter), 0o644); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return &material{root: root, intermediate: inter, signer: signer}, nil
}

func createRoot(key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               rootName,
		NotBefore:             now,
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("ca: creating root certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func createIntermediate(root *x509.Certificate, rootKey crypto.Signer, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(intermediateValidity)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	if !now.Before(notAfter) || now.Before(root.NotBefore) {
		return nil, fmt.Errorf("ca: root certificate is not valid now (%s to %s)", root.NotBefore.UTC(), root.NotAfter.UTC())
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               interName,
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, pub, rootKey)
	if err != nil {
		return nil, fmt.Errorf("ca: creating intermediate certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// matches checks that key is the private half of cert's public key.
func matches(cert *x509.Certificate, key crypto.Signer) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("key does not match the certificate of %q", cert.Subject.CommonName)
	}
	return nil
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("ca: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("ca: %s: want exactly one CERTIFICATE PEM block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", path, err)
	}
	return cert, nil
}

// readKey reads a CA key file, refusing one that others may read.
func readKey(path string) (crypto.Signer, error) {
	k, err := keyfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return k, nil
}

// newKey generates a CA key: ECDSA P-384.
func newKey() (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
