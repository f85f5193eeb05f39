package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"hallmark.dev/internal/keyfile"
)

// The files of Config.Dir.
const (
	rootKeyFile = "root-key.pem"
	leafKeyFile = "leaf-key.pem"
	chainFile   = "chain.pem"
)

// Validity of the certificates New creates.
const (
	rootValidity = 20 * 365 * 24 * time.Hour
	leafValidity = 10 * 365 * 24 * time.Hour
)

// oidExtKeyUsage and oidTimeStamping are the extended key usage extension
// (RFC 5280 §4.2.1.12) and its id-kp-timeStamping purpose.
var (
	oidExtKeyUsage  = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// loadOrCreate returns the leaf's signer and the chain, leaf first, stored
// in dir, creating them first if dir has no chain. A signer given (a key
// held elsewhere) is certified on creation and must match the leaf after.
func loadOrCreate(dir string, given crypto.Signer, now time.Time, random io.Reader, logger *slog.Logger) (crypto.Signer, []*x509.Certificate, error) {
	if given != nil {
		// Refused before anything is created for it.
		if _, err := signatureAlgorithmFor(given.Public()); err != nil {
			return nil, nil, err
		}
	}
	chainPEM, err := os.ReadFile(filepath.Join(dir, chainFile))
	if errors.Is(err, fs.ErrNotExist) {
		signer, chain, err := create(dir, given, now, random)
		if err != nil {
			return nil, nil, err
		}
		key := "file"
		if given != nil {
			key = "given"
		}
		logger.Info("tsa: created the certificate chain", "dir", dir, "key", key,
			"root", chain[len(chain)-1].Subject.String(), "leaf", chain[0].Subject.String())
		return signer, chain, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: reading the certificate chain: %w", err)
	}
	chain, err := parseChain(chainPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: %s: %w", chainFile, err)
	}
	if given != nil {
		if len(chain) == 0 || !publicKeysEqual(given.Public(), chain[0].PublicKey) {
			return nil, nil, fmt.Errorf("tsa: the signing key given is not the one %s certifies (a timestamp authority keeps its key: start on a new directory to change it)", filepath.Join(dir, chainFile))
		}
		return given, chain, nil
	}
	// The TSA only warns about a signing key that others may read.
	warn := func(path string, perm fs.FileMode) {
		logger.Warn("tsa: signing key is accessible to other users", "path", path, "mode", perm.String())
	}
	signer, err := keyfile.Read(filepath.Join(dir, leafKeyFile), keyfile.AllowExposed(warn))
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: reading the signing key: %w", err)
	}
	logger.Debug("tsa: loaded signing key and certificate chain", "dir", dir)
	return signer, chain, nil
}

// create makes a root CA and a TSA leaf certificate signed by it, and
// stores both keys (the leaf's unless it is given: a key held elsewhere)
// and the chain in dir. The chain goes last, so that a directory with a
// chain has everything.
func create(dir string, leafKey crypto.Signer, now time.Time, random io.Reader) (crypto.Signer, []*x509.Certificate, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("tsa: creating the directory: %w", err)
	}
	rootKey, err := ecdsa.GenerateKey(elliptic.P384(), random)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: generating the root key: %w", err)
	}
	type keyFile struct {
		name string
		key  crypto.Signer
	}
	keyFiles := []keyFile{{rootKeyFile, rootKey}}
	if leafKey == nil {
		if leafKey, err = ecdsa.GenerateKey(elliptic.P256(), random); err != nil {
			return nil, nil, fmt.Errorf("tsa: generating the signing key: %w", err)
		}
		keyFiles = append(keyFiles, keyFile{leafKeyFile, leafKey})
	}
	notBefore := now.UTC().Truncate(time.Second)

	rootSerial, err := randomSerial(random)
	if err != nil {
		return nil, nil, err
	}
	rootTemplate := &x509.Certificate{
		SerialNumber:          rootSerial,
		Subject:               pkix.Name{Organization: []string{"hallmark"}, CommonName: "hallmark timestamping root"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	rootDER, err := x509.CreateCertificate(random, rootTemplate, rootTemplate, rootKey.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: creating the root certificate: %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: parsing the new root certificate: %w", err)
	}

	leafSerial, err := randomSerial(random)
	if err != nil {
		return nil, nil, err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: encoding the extended key usage: %w", err)
	}
	leafPub, err := x509.MarshalPKIXPublicKey(leafKey.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: encoding the signing key: %w", err)
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: leafSerial,
		Subject:      pkix.Name{Organization: []string{"hallmark"}, CommonName: "hallmark timestamp authority"},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		SubjectKeyId: subjectKeyID(leafPub),
		// RFC 3161 §2.3: exactly one extended key usage, id-kp-timeStamping,
		// critical. crypto/x509 would mark it non-critical, so it goes in
		// as an extra extension.
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	leafDER, err := x509.CreateCertificate(random, leafTemplate, root, leafKey.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: creating the leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, nil, fmt.Errorf("tsa: parsing the new leaf certificate: %w", err)
	}
	chain := []*x509.Certificate{leaf, root}

	for _, f := range keyFiles {
		data, err := keyfile.Marshal(f.key)
		if err != nil {
			return nil, nil, fmt.Errorf("tsa: encoding %s: %w", f.name, err)
		}
		// Replacing, not keyfile.Write: keys without a chain are what a
		// creation that did not finish left.
		if err := keyfile.WriteFileAtomic(filepath.Join(dir, f.name), data, 0o600); err != nil {
			return nil, nil, fmt.Errorf("tsa: %w", err)
		}
	}
	var chainPEM []byte
	for _, c := range chain {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := keyfile.WriteFileAtomic(filepath.Join(dir, chainFile), chainPEM, 0o644); err != nil {
		return nil, nil, fmt.Errorf("tsa: %w", err)
	}
	return leafKey, chain, nil
}

// randomSerial returns a positive 128-bit certificate serial number.
func randomSerial(random io.Reader) (*big.Int, error) {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return nil, fmt.Errorf("tsa: reading a serial number: %w", err)
	}
	b[0] &= 0x7f // keep it at most 16 bytes in DER
	b[0] |= 0x40 // and never zero
	return new(big.Int).SetBytes(b[:]), nil
}

// subjectKeyID is the key identifier of RFC 7093 §2 method 1: the leftmost
// 160 bits of the SHA-256 hash of the subjectPublicKey.
func subjectKeyID(spki []byte) []byte {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil // crypto/x509 then leaves the extension out
	}
	sum := sha256.Sum256(info.PublicKey.RightAlign())
	return sum[:20]
}

// parseChain parses a PEM certificate chain, leaf first.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	if len(bytes.TrimSpace(data)) > 0 {
		return nil, errors.New("trailing data after the last certificate")
	}
	return chain, nil
}

// checkChain checks that chain, leaf first, is signed link by link up to a
// self-signed root, that every certificate but the leaf is a CA, and that
// the leaf is a TSA certificate as RFC 3161 §2.3 defines it.
func checkChain(chain []*x509.Certificate) error {
	if len(chain) < 2 {
		return fmt.Errorf("tsa: certificate chain has %d certificates, want a leaf and a root at least", len(chain))
	}
	for i, c := range chain[1:] {
		if !c.IsCA || !c.BasicConstraintsValid {
			return fmt.Errorf("tsa: certificate %d of the chain (%s) is not a CA", i+1, c.Subject)
		}
		if err := chain[i].CheckSignatureFrom(c); err != nil {
			return fmt.Errorf("tsa: certificate %d of the chain (%s) is not signed by the next: %w", i, chain[i].Subject, err)
		}
	}
	root := chain[len(chain)-1]
	if err := root.CheckSignatureFrom(root); err != nil {
		return fmt.Errorf("tsa: root certificate (%s) is not self-signed: %w", root.Subject, err)
	}
	leaf := chain[0]
	if leaf.IsCA {
		return fmt.Errorf("tsa: leaf certificate (%s) is a CA", leaf.Subject)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(leaf.UnknownExtKeyUsage) != 0 {
		return fmt.Errorf("tsa: leaf certificate (%s) must have the single extended key usage timeStamping", leaf.Subject)
	}
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(oidExtKeyUsage) && !ext.Critical {
			return fmt.Errorf("tsa: leaf certificate (%s) must mark its extended key usage critical", leaf.Subject)
		}
	}
	return nil
}
