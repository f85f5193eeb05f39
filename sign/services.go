package sign

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Services are the Sigstore services a signature involves, selected from a
// signing_config.json (https://github.com/sigstore/protobuf-specs,
// SigningConfig v0.2): a Fulcio-compatible CA for keyless signing, Rekor
// logs, and RFC 3161 timestamp authorities.
type Services struct {
	// Config is the parsed signing config.
	Config *root.SigningConfig
	// TrustedRoot, if set, is used to verify each bundle right after it is
	// made, so that a misbehaving service is caught before anything is
	// stored.
	TrustedRoot root.TrustedMaterial
	// IDToken is the OIDC identity token exchanged for a certificate;
	// empty for key signatures.
	IDToken string
	// Key is the signing key's public key for key signatures, so that the
	// check of each new bundle against TrustedRoot trusts it.
	Key crypto.PublicKey
	// Timeout bounds each request; zero means 30 s.
	Timeout time.Duration
	// Transport, if set, carries the CA and TSA requests.
	Transport http.RoundTripper
	// Log and Timestamp say whether to use the config's logs and TSAs.
	Log, Timestamp bool
}

// ErrNoCA is returned for keyless signing with a config that names no CA.
var ErrNoCA = errors.New("sign: keyless signing needs a certificate authority, and the signing config names none")

// Options selects the services valid at now and returns the bundle options.
func (s Services) Options(now time.Time) (Options, error) {
	if s.Config == nil {
		return Options{}, errors.New("sign: no signing config")
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	var bo sgsign.BundleOptions
	if s.IDToken != "" && !s.Log && !s.Timestamp {
		return Options{}, errors.New("sign: a keyless signature needs a transparency log entry or a signed timestamp: without either, nobody can tell it was made while the short-lived certificate was valid")
	}
	if s.IDToken != "" {
		ca, err := root.SelectService(s.Config.FulcioCertificateAuthorityURLs(), sgsign.FulcioAPIVersions, now)
		if err != nil {
			return Options{}, fmt.Errorf("%w: %v", ErrNoCA, err)
		}
		bo.CertificateProvider = sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: ca.URL, Timeout: timeout, Transport: s.Transport})
		bo.CertificateProviderOptions = &sgsign.CertificateProviderOptions{IDToken: s.IDToken}
	}
	if s.Log {
		logs, err := root.SelectServices(s.Config.RekorLogURLs(), s.Config.RekorLogURLsConfig(), sgsign.RekorAPIVersions, now)
		if err != nil {
			return Options{}, fmt.Errorf("sign: signing config: transparency log: %w", err)
		}
		for _, l := range logs {
			bo.TransparencyLogs = append(bo.TransparencyLogs, sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: l.URL, Timeout: timeout, Version: l.MajorAPIVersion}))
		}
	}
	if s.Timestamp {
		tsas, err := root.SelectServices(s.Config.TimestampAuthorityURLs(), s.Config.TimestampAuthorityURLsConfig(), sgsign.TimestampAuthorityAPIVersions, now)
		if err != nil {
			return Options{}, fmt.Errorf("sign: signing config: timestamp authority: %w", err)
		}
		for _, t := range tsas {
			bo.TimestampAuthorities = append(bo.TimestampAuthorities, sgsign.NewTimestampAuthority(&sgsign.TimestampAuthorityOptions{URL: t.URL, Timeout: timeout, Transport: s.Transport}))
		}
	}
	bo.TrustedRoot = s.TrustedRoot
	if s.TrustedRoot != nil && s.Key != nil && s.IDToken == "" {
		v, err := signature.LoadDefaultVerifier(s.Key, options.WithED25519ph())
		if err != nil {
			return Options{}, fmt.Errorf("sign: %w", err)
		}
		key := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
		})
		bo.TrustedRoot = root.TrustedMaterialCollection{key, s.TrustedRoot}
	}
	return Options{BundleOptions: bo}, nil
}

// TimestampOnlyOptions returns the options for a signature with a signed
// timestamp and no log entry (for content too large for a log), from the
// same services.
func (s Services) TimestampOnlyOptions(now time.Time) (Options, error) {
	s.Log, s.Timestamp = false, true
	return s.Options(now)
}
