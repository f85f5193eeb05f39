package trust_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/internal/trust"
)

func selfSigned(t *testing.T, cn string, notBefore time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	k := lite.NewECDSAKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"hallmark"}},
		NotBefore: notBefore, NotAfter: notBefore.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// newLogKey returns a new log's public key and its log ID, the SHA-256 of
// the DER public key.
func newLogKey(t *testing.T) (crypto.PublicKey, []byte) {
	t.Helper()
	k := lite.NewECDSAKey(t)
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	return k.Public(), id[:]
}

// sigstoreRoot writes the trusted root of s and reads it back with
// sigstore-go, failing the test if sigstore-go rejects it.
func sigstoreRoot(t *testing.T, s trust.Services) *root.TrustedRoot {
	t.Helper()
	trJSON, err := trust.TrustedRoot(s)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(trJSON)
	if err != nil {
		t.Fatalf("sigstore-go rejects the trusted root: %v\n%s", err, trJSON)
	}
	return tr
}

func TestTrustedRootAndSigningConfig(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rotated := start.Add(30 * 24 * time.Hour)
	oldCA, _ := selfSigned(t, "old ca", start)
	newCA, _ := selfSigned(t, "ca", start)
	tsaCert, _ := selfSigned(t, "tsa", start)
	logKey, id := newLogKey(t)
	s := trust.Services{
		BaseURL: "http://127.0.0.1:5005",
		CA: []trust.Chain{
			{Certificates: []*x509.Certificate{oldCA}, Valid: trust.Period{Start: start, End: rotated}},
			{Certificates: []*x509.Certificate{newCA}, Valid: trust.Period{Start: rotated}},
		},
		Log:  []trust.LogKey{{PublicKey: logKey, LogID: id, Valid: trust.Period{Start: start}}},
		TSA:  []trust.Chain{{Certificates: []*x509.Certificate{tsaCert}, Valid: trust.Period{Start: start}}},
		OIDC: true,
	}
	tr := sigstoreRoot(t, s)
	if got := len(tr.FulcioCertificateAuthorities()); got != 2 {
		t.Errorf("got %d CAs, want 2 (the retired one kept)", got)
	}
	if got := len(tr.TimestampingAuthorities()); got != 1 {
		t.Errorf("got %d TSAs, want 1", got)
	}
	logs := tr.RekorLogs()
	if len(logs) != 1 {
		t.Fatalf("got %d logs, want 1", len(logs))
	}
	for _, l := range logs {
		if l.BaseURL != s.BaseURL {
			t.Errorf("log base URL %q, want %q", l.BaseURL, s.BaseURL)
		}
	}

	scJSON, err := trust.SigningConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := root.NewSigningConfigFromJSON(scJSON)
	if err != nil {
		t.Fatalf("sigstore-go rejects the signing config: %v\n%s", err, scJSON)
	}
	now := rotated.Add(time.Hour)
	ca, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), []uint32{1}, now)
	if err != nil || ca.URL != s.BaseURL {
		t.Errorf("CA service %+v, %v", ca, err)
	}
	logSvc, err := root.SelectService(sc.RekorLogURLs(), []uint32{2}, now)
	if err != nil || logSvc.URL != s.BaseURL {
		t.Errorf("log service %+v, %v", logSvc, err)
	}
	tsa, err := root.SelectService(sc.TimestampAuthorityURLs(), []uint32{1}, now)
	if err != nil || tsa.URL != s.BaseURL+trust.TimestampPath {
		t.Errorf("TSA service %+v, %v", tsa, err)
	}
	oidc, err := root.SelectService(sc.OIDCProviderURLs(), []uint32{1}, now)
	if err != nil || oidc.URL != s.BaseURL+trust.OIDCPath {
		t.Errorf("OIDC service %+v, %v", oidc, err)
	}
	if _, err := trust.TrustedRoot(trust.Services{}); err == nil {
		t.Error("a trusted root without a base URL was written")
	}
}

// TestTrustedRootCTLogs checks that a CT log is listed under ctlogs with
// the log ID sigstore-go looks an SCT's log up by, and that a log ID that
// is not the key's hash is refused.
func TestTrustedRootCTLogs(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ca, _ := selfSigned(t, "ca", start)
	ctKey, id := newLogKey(t)
	s := trust.Services{
		BaseURL:  "http://127.0.0.1:5005",
		CA:       []trust.Chain{{Certificates: []*x509.Certificate{ca}, Valid: trust.Period{Start: start}}},
		CTLogs:   []trust.LogKey{{PublicKey: ctKey, LogID: id, Valid: trust.Period{Start: start}}},
		CTLogURL: "http://127.0.0.1:5005/ctlog",
	}
	tr := sigstoreRoot(t, s)
	ctlogs := tr.CTLogs()
	l, ok := ctlogs[hex.EncodeToString(id)]
	if len(ctlogs) != 1 || !ok {
		t.Fatalf("ctlogs %v, want one keyed by SHA-256 of the DER key", ctlogs)
	}
	if l.BaseURL != s.CTLogURL {
		t.Errorf("ct log base URL %q, want %q", l.BaseURL, s.CTLogURL)
	}
	s.CTLogs[0].LogID = make([]byte, 32)
	if _, err := trust.TrustedRoot(s); err == nil || !strings.Contains(err.Error(), "not SHA-256 of its public key") {
		t.Errorf("a wrong CT log ID: got %v, want a refusal", err)
	}
}
