package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"slices"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
)

// RFC 6962 3.1 and 3.3 extensions.
var (
	// oidPoison marks a precertificate; its value is ASN.1 NULL.
	oidPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	// oidSCTList holds the SCTs embedded in a certificate.
	oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// asn1Null is the DER encoding of ASN.1 NULL.
var asn1Null = []byte{0x05, 0x00}

// embedSCT signs a precertificate of tmpl, logs it and adds the SCT list
// extension with the log's SCT to tmpl. The poison extension and the SCT
// list are each the last extension of their certificate, so the two
// TBSCertificates are equal once each is removed (RFC 6962 3.2).
func (c *CA) embedSCT(ctx context.Context, tmpl *x509.Certificate, pub crypto.PublicKey) error {
	pre := *tmpl
	pre.ExtraExtensions = append(slices.Clone(tmpl.ExtraExtensions), pkix.Extension{Id: oidPoison, Critical: true, Value: asn1Null})
	der, err := x509.CreateCertificate(rand.Reader, &pre, c.intermediate, pub, c.signer)
	if err != nil {
		return fmt.Errorf("signing precertificate: %w", err)
	}
	precert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parsing precertificate: %w", err)
	}
	sct, err := c.ctlog.AddPreChain(ctx, []*x509.Certificate{precert, c.intermediate, c.root})
	if err != nil {
		return fmt.Errorf("certificate transparency log: %w", err)
	}
	ext, err := sctListExtension(sct)
	if err != nil {
		return err
	}
	tmpl.ExtraExtensions = append(slices.Clone(tmpl.ExtraExtensions), ext)
	return nil
}

// sctListExtension encodes sct as the SCT list extension: an OCTET STRING
// holding the TLS-encoded SignedCertificateTimestampList.
func sctListExtension(sct *ct.SignedCertificateTimestamp) (pkix.Extension, error) {
	raw, err := cttls.Marshal(*sct)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding sct: %w", err)
	}
	list, err := cttls.Marshal(ctx509.SignedCertificateTimestampList{SCTList: []ctx509.SerializedSCT{{Val: raw}}})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding sct list: %w", err)
	}
	v, err := asn1.Marshal(list)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding sct list: %w", err)
	}
	return pkix.Extension{Id: oidSCTList, Value: v}, nil
}
