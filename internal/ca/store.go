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
		if rootKey, err = createKey(path(rootKeyFile)); err != nil {
			return nil, err
		}
		if root, err = createRoot(rootKey, now); err != nil {
			return nil, err
		}
		if err := writeExclusive(path(rootCertFile), pemCert(root), 0o644); err != nil {
			return nil, err
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
		signer, err = readKey(path(interKeyFile))
		if errors.Is(err, fs.ErrNotExist) {
			signer, err = createKey(path(interKeyFile))
		}
		if err != nil {
			return nil, err
		}
	}
	if inter, err = createIntermediate(root, rootKey, signer.Public(), now); err != nil {
		return nil, err
	}
	if err := writeExclusive(path(interCertFile), pemCert(inter), 0o644); err != nil {
		return nil, err
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

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("ca: %s: no PKCS#8 PRIVATE KEY PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ca: %s: key of type %T cannot sign", path, k)
	}
	return s, nil
}

// createKey generates an ECDSA P-384 key and writes it to path.
func createKey(path string) (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generating key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding key: %w", err)
	}
	if err := writeExclusive(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// writeExclusive writes data to path atomically and never over an
// existing file: a temporary file is written, synced and hard-linked into
// place.
func writeExclusive(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("ca: writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("ca: writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("ca: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ca: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ca: writing %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("ca: writing %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
