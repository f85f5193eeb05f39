package tsa

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"sync"
	"time"
)

// Config configures a timestamp authority.
type Config struct {
	// Dir holds the TSA's state: its signing key (unless Signer is set),
	// the root CA's key (both PKCS #8 PEM, mode 0600) and the certificate
	// chain. They are created on first start and reused afterwards.
	// Required.
	Dir string

	// Signer, if set, is the TSA's signing key held elsewhere (a PKCS#11
	// token): an ECDSA key. On first start the root certifies it; later
	// starts require the chain's leaf to certify this very key. Nil means
	// an ECDSA P-256 key in Dir.
	Signer crypto.Signer

	// Now is the clock that sets genTime and the certificates' validity.
	// nil means time.Now.
	Now func() time.Time

	// Rand is the source of the serial numbers of tokens and certificates.
	// It is read under a lock, so it need not be safe for concurrent use.
	// nil means crypto/rand.Reader.
	Rand io.Reader

	// Logger receives the TSA's logs; nil discards them.
	Logger *slog.Logger
}

// TSA is an RFC 3161 timestamp authority. Its methods are safe for
// concurrent use.
type TSA struct {
	now    func() time.Time
	logger *slog.Logger

	randMu sync.Mutex
	rand   io.Reader

	signer crypto.Signer
	chain  []*x509.Certificate // leaf first, root last
	leaf   *x509.Certificate

	// Parts of every token, computed once.
	alg       signatureAlgorithm
	tsaName   []byte // TSTInfo's tsa field: [0] directoryName of the leaf's subject
	certs     []byte // SignedData's certificates field: [0] IMPLICIT, the chain
	sid       []byte // SignerInfo's IssuerAndSerialNumber
	essAttr   []byte // the signing-certificate-v2 attribute
	ctypeAttr []byte // the content-type attribute
	chainPEM  []byte
}

// New loads the TSA's key and certificate chain from cfg.Dir, creating
// them if the directory holds none, and returns the TSA. It fails if the
// stored chain is inconsistent or the leaf certificate is not valid now.
func New(cfg Config) (*TSA, error) {
	if cfg.Dir == "" {
		return nil, errors.New("tsa: no directory configured")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("tsa: directory %q: %w", cfg.Dir, err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	random := cfg.Rand
	if random == nil {
		random = rand.Reader
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	signer, chain, err := loadOrCreate(dir, cfg.Signer, now(), random, logger)
	if err != nil {
		return nil, err
	}
	return newTSA(signer, chain, now, random, logger)
}

// newTSA returns a TSA that signs with signer, whose public key is that of
// chain[0]. chain runs from the leaf to the root.
func newTSA(signer crypto.Signer, chain []*x509.Certificate, now func() time.Time, random io.Reader, logger *slog.Logger) (*TSA, error) {
	if err := checkChain(chain); err != nil {
		return nil, err
	}
	leaf := chain[0]
	if !publicKeysEqual(signer.Public(), leaf.PublicKey) {
		return nil, errors.New("tsa: signing key does not match the leaf certificate")
	}
	if t := now(); t.Before(leaf.NotBefore) || t.After(leaf.NotAfter) {
		return nil, fmt.Errorf("tsa: leaf certificate is valid from %s to %s, not at %s",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	alg, err := signatureAlgorithmFor(signer.Public())
	if err != nil {
		return nil, err
	}
	t := &TSA{
		now:    now,
		logger: logger,
		rand:   random,
		signer: signer,
		chain:  chain,
		leaf:   leaf,
		alg:    alg,
	}
	if err := t.precompute(); err != nil {
		return nil, err
	}
	return t, nil
}

// CertChain returns the TSA's certificate chain, leaf first and root last:
// the chain a trusted root lists for this TSA.
func (t *TSA) CertChain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), t.chain...)
}

// Timestamp answers the DER-encoded TimeStampReq req with a DER-encoded
// TimeStampResp. A request the TSA refuses (see the package documentation)
// gets a TimeStampResp with PKIStatus rejection and a nil error. The error
// is non-nil, and the response nil, only when the TSA cannot issue a token:
// the signer failed, or the clock is outside the leaf certificate's
// validity.
func (t *TSA) Timestamp(req []byte) ([]byte, error) {
	resp, _, err := t.answer(req)
	return resp, err
}

// answer is Timestamp that also returns the refusal, if any.
func (t *TSA) answer(der []byte) ([]byte, *refusal, error) {
	r, ref := parseRequest(der)
	if ref != nil {
		resp, err := refusalResponse(ref)
		return resp, ref, err
	}
	return t.grant(r)
}

// grant checks the parsed request r against what this TSA supports and
// issues a token, or answers with a refusal.
func (t *TSA) grant(r *request) ([]byte, *refusal, error) {
	if ref := r.check(); ref != nil {
		resp, err := refusalResponse(ref)
		return resp, ref, err
	}
	genTime := t.now().UTC().Truncate(time.Second)
	if genTime.Before(t.leaf.NotBefore) || genTime.After(t.leaf.NotAfter) {
		return nil, nil, fmt.Errorf("tsa: time %s is outside the leaf certificate's validity", genTime.Format(time.RFC3339))
	}
	serial, err := t.serial()
	if err != nil {
		return nil, nil, err
	}
	resp, err := t.token(r, serial, genTime)
	if err != nil {
		return nil, nil, err
	}
	return resp, nil, nil
}

// serial returns a fresh serial number for a token.
func (t *TSA) serial() (*big.Int, error) {
	t.randMu.Lock()
	defer t.randMu.Unlock()
	return randomSerial(t.rand)
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
