// Package trust describes a hallmark server to clients in the formats
// Sigstore clients read: trusted_root.json (what to trust: the CA chain,
// the transparency log's key, the timestamp authority's chain, each with
// its validity) and signing_config.json v0.2 (where the services are).
// https://github.com/sigstore/protobuf-specs (trustroot/v1).
//
// Key rotation keeps a retired key or chain in the trusted root with a
// closed validFor range, so signatures made before the rotation still
// verify and signatures claiming a later time do not.
package trust

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrust "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Media types written.
const (
	TrustedRootMediaType   = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
	SigningConfigMediaType = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
)

// Paths under the server's base URL.
const (
	TimestampPath     = "/api/v1/timestamp"
	OIDCPath          = "/oidc"
	TrustedRootPath   = "/api/v1/trust/trusted_root.json"
	SigningConfigPath = "/api/v1/trust/signing_config.json"
)

// Period is a validity range; a zero End means still in use.
type Period struct {
	Start, End time.Time
}

// Chain is a certificate chain (leaf or intermediate first, root last)
// valid over a period.
type Chain struct {
	Certificates []*x509.Certificate
	Valid        Period
}

// LogKey is a transparency log key valid over a period.
type LogKey struct {
	PublicKey crypto.PublicKey
	// LogID is the log's id as clients expect it in bundles (logId.keyId).
	LogID []byte
	Valid Period
}

// Services describes one hallmark server.
type Services struct {
	// BaseURL is the URL clients reach the server at (its --addr, or
	// --public-url behind a proxy), without a trailing slash.
	BaseURL string
	// Operator names who runs it, as a scheme-less URI (default: the
	// base URL's host).
	Operator string
	// CA lists the certificate authority's chains, the current one last.
	CA []Chain
	// Log lists the transparency log's keys, the current one last.
	Log []LogKey
	// TSA lists the timestamp authority's chains, the current one last.
	TSA []Chain
	// CTLogs lists the certificate transparency log's keys, the current
	// one last; their base URL is CTLogURL.
	CTLogs []LogKey
	// CTLogURL is the CT log's submission prefix.
	CTLogURL string
	// OIDC is true when the server runs its development OIDC issuer.
	OIDC bool
}

func (s Services) operator() string {
	if s.Operator != "" {
		return s.Operator
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s.BaseURL, "https://"), "http://")
	return strings.SplitN(h, "/", 2)[0]
}

func timeRange(p Period) *protocommon.TimeRange {
	tr := &protocommon.TimeRange{Start: timestamppb.New(p.Start)}
	if !p.End.IsZero() {
		tr.End = timestamppb.New(p.End)
	}
	return tr
}

func chain(c Chain, uri string) (*prototrust.CertificateAuthority, error) {
	if len(c.Certificates) == 0 {
		return nil, errors.New("trust: empty certificate chain")
	}
	root := c.Certificates[len(c.Certificates)-1]
	pc := &protocommon.X509CertificateChain{}
	for _, cert := range c.Certificates {
		pc.Certificates = append(pc.Certificates, &protocommon.X509Certificate{RawBytes: cert.Raw})
	}
	dn := &protocommon.DistinguishedName{CommonName: root.Subject.CommonName}
	if len(root.Subject.Organization) > 0 {
		dn.Organization = root.Subject.Organization[0]
	}
	return &prototrust.CertificateAuthority{Subject: dn, Uri: uri, CertChain: pc, ValidFor: timeRange(c.Valid)}, nil
}

// TrustedRoot returns trusted_root.json for the services.
func TrustedRoot(s Services) ([]byte, error) {
	if s.BaseURL == "" {
		return nil, errors.New("trust: no base URL")
	}
	tr := &prototrust.TrustedRoot{MediaType: TrustedRootMediaType}
	for _, c := range s.CA {
		ca, err := chain(c, s.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("trust: CA: %w", err)
		}
		tr.CertificateAuthorities = append(tr.CertificateAuthorities, ca)
	}
	for _, c := range s.TSA {
		ta, err := chain(c, s.BaseURL+TimestampPath)
		if err != nil {
			return nil, fmt.Errorf("trust: TSA: %w", err)
		}
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, ta)
	}
	for _, k := range s.Log {
		der, err := x509.MarshalPKIXPublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("trust: log key: %w", err)
		}
		details, err := signature.GetDefaultPublicKeyDetails(k.PublicKey, options.WithED25519ph())
		if err != nil {
			return nil, fmt.Errorf("trust: log key: %w", err)
		}
		if details == protocommon.PublicKeyDetails_PKIX_ED25519_PH {
			// Logs sign checkpoints with pure Ed25519.
			details = protocommon.PublicKeyDetails_PKIX_ED25519
		}
		tr.Tlogs = append(tr.Tlogs, &prototrust.TransparencyLogInstance{
			BaseUrl:       s.BaseURL,
			HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
			PublicKey:     &protocommon.PublicKey{RawBytes: der, KeyDetails: details, ValidFor: timeRange(k.Valid)},
			LogId:         &protocommon.LogId{KeyId: k.LogID},
		})
	}
	for _, k := range s.CTLogs {
		ctl, err := ctLog(k, s.CTLogURL)
		if err != nil {
			return nil, err
		}
		tr.Ctlogs = append(tr.Ctlogs, ctl)
	}
	return indent(tr)
}

// ctLog is a ctlogs[] entry: an ECDSA P-256 key whose log ID is SHA-256 of
// its DER encoding (RFC 6962 3.2).
func ctLog(k LogKey, baseURL string) (*prototrust.TransparencyLogInstance, error) {
	if baseURL == "" {
		return nil, errors.New("trust: CT log without a URL")
	}
	der, err := x509.MarshalPKIXPublicKey(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("trust: CT log key: %w", err)
	}
	details, err := signature.GetDefaultPublicKeyDetails(k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("trust: CT log key: %w", err)
	}
	if sum := sha256.Sum256(der); !bytes.Equal(k.LogID, sum[:]) {
		return nil, errors.New("trust: CT log ID is not SHA-256 of its public key")
	}
	return &prototrust.TransparencyLogInstance{
		BaseUrl:       baseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey:     &protocommon.PublicKey{RawBytes: der, KeyDetails: details, ValidFor: timeRange(k.Valid)},
		LogId:         &protocommon.LogId{KeyId: k.LogID},
	}, nil
}

// SigningConfig returns signing_config.json (v0.2) for the services: the
// CA, the log (Rekor v2 API) and the TSA at the base URL, and the OIDC
// issuer when it runs.
func SigningConfig(s Services) ([]byte, error) {
	if s.BaseURL == "" {
		return nil, errors.New("trust: no base URL")
	}
	op := s.operator()
	svc := func(url string, version uint32, start time.Time) *prototrust.Service {
		return &prototrust.Service{Url: url, MajorApiVersion: version, ValidFor: &protocommon.TimeRange{Start: timestamppb.New(start)}, Operator: op}
	}
	sc := &prototrust.SigningConfig{
		MediaType:       SigningConfigMediaType,
		RekorTlogConfig: &prototrust.ServiceConfiguration{Selector: prototrust.ServiceSelector_ANY},
		TsaConfig:       &prototrust.ServiceConfiguration{Selector: prototrust.ServiceSelector_ANY},
	}
	if n := len(s.CA); n > 0 {
		sc.CaUrls = append(sc.CaUrls, svc(s.BaseURL, 1, s.CA[n-1].Valid.Start))
	}
	if n := len(s.Log); n > 0 {
		sc.RekorTlogUrls = append(sc.RekorTlogUrls, svc(s.BaseURL, 2, s.Log[n-1].Valid.Start))
	}
	if n := len(s.TSA); n > 0 {
		sc.TsaUrls = append(sc.TsaUrls, svc(s.BaseURL+TimestampPath, 1, s.TSA[n-1].Valid.Start))
	}
	if s.OIDC && len(s.CA) > 0 {
		sc.OidcUrls = append(sc.OidcUrls, svc(s.BaseURL+OIDCPath, 1, s.CA[len(s.CA)-1].Valid.Start))
	}
	return indent(sc)
}

// indent encodes a message as stable, indented JSON (protojson's own
// multi-line output varies its spacing on purpose).
func indent(m proto.Message) ([]byte, error) {
	compact, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
