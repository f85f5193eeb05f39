package tsa

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"time"
)

// NewWithSigner returns a TSA that signs with signer under chain, leaf
// first, as a TSA whose key lives in an HSM or KMS would.
func NewWithSigner(signer crypto.Signer, chain []*x509.Certificate, now func() time.Time) (*TSA, error) {
	return newTSA(signer, chain, now, rand.Reader, slog.New(slog.DiscardHandler))
}
