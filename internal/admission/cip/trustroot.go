package cip

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrust "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	"hallmark.dev/tlog"
)

// TrustedRootMediaType is the media type of the trusted roots made here.
const TrustedRootMediaType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"

// ErrTUFUnsupported is returned for a TrustRoot given as a TUF remote or
// repository: the webhook reads trusted material only as keys and
// certificates (sigstoreKeys), or from the trusted roots it is started
// with.
var ErrTUFUnsupported = errors.New("TrustRoot: TUF remotes and repositories are not read; give the keys and certificates as spec.sigstoreKeys (hallmark admission trustroot writes them from a trusted_root.json)")

// TrustedRootJSON returns the TrustRoot as a Sigstore trusted_root.json
// (https://github.com/sigstore/protobuf-specs, TrustedRoot), as
// policy-controller builds it: every authority and log valid from the
// epoch on. A transparency log's ID is the SHA-256 of its public key
// (Rekor v1); an Ed25519 log is listed a second time with its Rekor v2 ID,
// derived from the log's origin, the host of its base URL.
func (tr *TrustRoot) TrustedRootJSON() ([]byte, error) {
	k := tr.Spec.SigstoreKeys
	if k == nil {
		return nil, ErrTUFUnsupported
	}
	out := &prototrust.TrustedRoot{MediaType: TrustedRootMediaType}
	for i, ca := range k.CertificateAuthorities {
		pc, err := convertCA(ca)
		if err != nil {
			return nil, fmt.Errorf("TrustRoot %s: certificateAuthorities[%d]: %w", tr.Name, i, err)
		}
		out.CertificateAuthorities = append(out.CertificateAuthorities, pc)
	}
	for i, ca := range k.TimeStampAuthorities {
		pc, err := convertCA(ca)
		if err != nil {
			return nil, fmt.Errorf("TrustRoot %s: timestampAuthorities[%d]: %w", tr.Name, i, err)
		}
		out.TimestampAuthorities = append(out.TimestampAuthorities, pc)
	}
	for i, l := range k.TLogs {
		pl, err := convertLog(l, true)
		if err != nil {
			return nil, fmt.Errorf("TrustRoot %s: tLogs[%d]: %w", tr.Name, i, err)
		}
		out.Tlogs = append(out.Tlogs, pl...)
	}
	for i, l := range k.CTLogs {
		pl, err := convertLog(l, false)
		if err != nil {
			return nil, fmt.Errorf("TrustRoot %s: ctLogs[%d]: %w", tr.Name, i, err)
		}
		out.Ctlogs = append(out.Ctlogs, pl...)
	}
	return protojson.Marshal(out)
}

var epoch = &protocommon.TimeRange{Start: timestamppb.New(time.Unix(0, 0))}

func convertCA(ca CertificateAuthority) (*prototrust.CertificateAuthority, error) {
	certs, err := parseCertificates(ca.CertChain)
	if err != nil {
		return nil, fmt.Errorf("certChain: %w", err)
	}
	chain := &protocommon.X509CertificateChain{}
	for _, c := range certs {
		chain.Certificates = append(chain.Certificates, &protocommon.X509Certificate{RawBytes: c.Raw})
	}
	return &prototrust.CertificateAuthority{
		Subject:   &protocommon.DistinguishedName{Organization: ca.Subject.Organization, CommonName: ca.Subject.CommonName},
		Uri:       ca.URI.String(),
		CertChain: chain,
		ValidFor:  epoch,
	}, nil
}

func convertLog(l TransparencyLogInstance, rekorV2 bool) ([]*prototrust.TransparencyLogInstance, error) {
	b, _ := pem.Decode(l.PublicKey)
	if b == nil {
		return nil, errors.New("publicKey is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("publicKey: %w", err)
	}
	details, err := keyDetails(pub)
	if err != nil {
		return nil, fmt.Errorf("publicKey: %w", err)
	}
	var h protocommon.HashAlgorithm
	switch l.HashAlgorithm {
	case "sha-256", "sha256":
		h = protocommon.HashAlgorithm_SHA2_256
	case "sha-384", "sha384":
		h = protocommon.HashAlgorithm_SHA2_384
	case "sha-512", "sha512":
		h = protocommon.HashAlgorithm_SHA2_512
	default:
		return nil, fmt.Errorf("hashAlgorithm %q: want sha-256, sha-384 or sha-512", l.HashAlgorithm)
	}
	v1ID := sha256.Sum256(b.Bytes)
	ids := [][]byte{v1ID[:]}
	if _, ok := pub.(ed25519.PublicKey); ok && rekorV2 {
		u, err := url.Parse(l.BaseURL.String())
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("baseURL %q has no host to name the log", l.BaseURL.String())
		}
		id, err := tlog.LogID(u.Hostname(), pub)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	var out []*prototrust.TransparencyLogInstance
	for _, id := range ids {
		out = append(out, &prototrust.TransparencyLogInstance{
			BaseUrl:       l.BaseURL.String(),
			HashAlgorithm: h,
			PublicKey:     &protocommon.PublicKey{RawBytes: b.Bytes, KeyDetails: details, ValidFor: epoch},
			LogId:         &protocommon.LogId{KeyId: id},
		})
	}
	return out, nil
}

func keyDetails(pub crypto.PublicKey) (protocommon.PublicKeyDetails, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, nil
		case elliptic.P384():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, nil
		case elliptic.P521():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, nil
		}
	case *rsa.PublicKey:
		switch k.Size() * 8 {
		case 2048:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, nil
		case 3072:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, nil
		case 4096:
			return protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256, nil
		}
	case ed25519.PublicKey:
		return protocommon.PublicKeyDetails_PKIX_ED25519, nil
	}
	return 0, fmt.Errorf("unsupported key %T", pub)
}

// TrustRootYAML writes a TrustRoot named name holding a trusted_root.json
// as sigstoreKeys, as YAML for kubectl apply.
func TrustRootYAML(name string, trustedRoot []byte) ([]byte, error) {
	k, err := SigstoreKeysFromTrustedRoot(trustedRoot)
	if err != nil {
		return nil, err
	}
	tr := TrustRoot{Spec: TrustRootSpec{SigstoreKeys: k}}
	tr.APIVersion, tr.Kind, tr.Name = Group+"/v1alpha1", KindTrustRoot, name
	if err := tr.Validate(); err != nil {
		return nil, err
	}
	j, err := json.Marshal(struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Spec       TrustRootSpec     `json:"spec"`
	}{tr.APIVersion, tr.Kind, map[string]string{"name": name}, tr.Spec})
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}

// SigstoreKeysFromTrustedRoot writes a trusted_root.json as a TrustRoot's
// sigstoreKeys, for a private Sigstore stack such as hallmark's own. Only
// what sigstoreKeys can say is kept: validity periods and log IDs are not
// (they are derived again when the TrustRoot is read).
func SigstoreKeysFromTrustedRoot(trustedRoot []byte) (*SigstoreKeys, error) {
	var tr prototrust.TrustedRoot
	if err := protojson.Unmarshal(trustedRoot, &tr); err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	k := &SigstoreKeys{}
	conv := func(in []*prototrust.CertificateAuthority) ([]CertificateAuthority, error) {
		var out []CertificateAuthority
		for _, ca := range in {
			var chain bytes.Buffer
			for _, c := range ca.GetCertChain().GetCertificates() {
				if err := pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: c.GetRawBytes()}); err != nil {
					return nil, err
				}
			}
			u, err := url.Parse(ca.GetUri())
			if err != nil {
				return nil, fmt.Errorf("authority uri %q: %w", ca.GetUri(), err)
			}
			out = append(out, CertificateAuthority{
				Subject:   DistinguishedName{Organization: ca.GetSubject().GetOrganization(), CommonName: ca.GetSubject().GetCommonName()},
				URI:       URL{*u},
				CertChain: chain.Bytes(),
			})
		}
		return out, nil
	}
	var err error
	if k.CertificateAuthorities, err = conv(tr.GetCertificateAuthorities()); err != nil {
		return nil, err
	}
	if k.TimeStampAuthorities, err = conv(tr.GetTimestampAuthorities()); err != nil {
		return nil, err
	}
	logs := func(in []*prototrust.TransparencyLogInstance) ([]TransparencyLogInstance, error) {
		var out []TransparencyLogInstance
		seen := map[string]bool{}
		for _, l := range in {
			der := l.GetPublicKey().GetRawBytes()
			key := l.GetBaseUrl() + "\x00" + string(der)
			if seen[key] {
				continue
			}
			seen[key] = true
			u, err := url.Parse(l.GetBaseUrl())
			if err != nil {
				return nil, fmt.Errorf("log base url %q: %w", l.GetBaseUrl(), err)
			}
			h := "sha-256"
			switch l.GetHashAlgorithm() {
			case protocommon.HashAlgorithm_SHA2_384:
				h = "sha-384"
			case protocommon.HashAlgorithm_SHA2_512:
				h = "sha-512"
			}
			out = append(out, TransparencyLogInstance{
				BaseURL:       URL{*u},
				HashAlgorithm: h,
				PublicKey:     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			})
		}
		return out, nil
	}
	if k.TLogs, err = logs(tr.GetTlogs()); err != nil {
		return nil, err
	}
	if k.CTLogs, err = logs(tr.GetCtlogs()); err != nil {
		return nil, err
	}
	return k, nil
}
