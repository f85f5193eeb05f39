package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"

	"hallmark.dev/internal/ca"
	"hallmark.dev/internal/identity"
	"hallmark.dev/internal/oidc"
	"hallmark.dev/internal/testkit/lite"
)

func TestIssuedCertificate(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	s := newStack(t, stackOptions{caNow: func() time.Time { return now }})
	k := lite.NewECDSAKey(t)
	tok := mint(t, s.email, "alice@example.com", "sigstore", nil)
	status, body := s.post(t, keyRequest(t, &k.PublicKey, "ECDSA", prove(t, k, "alice@example.com")), tok)
	if status != http.StatusOK {
		t.Fatalf("got status %d %v, want 200", status, body)
	}
	chain := chainFrom(t, body)
	if len(chain) != 3 {
		t.Fatalf("got a chain of %d certificates, want leaf, intermediate, root", len(chain))
	}
	leaf, inter, root := chain[0], chain[1], chain[2]
	if !inter.Equal(s.ca.Chain()[0]) || !root.Equal(s.ca.Chain()[1]) {
		t.Error("answer's chain differs from Chain()")
	}
	if !leaf.Equal(s.last.Load()) || s.issued.Load() != 1 {
		t.Errorf("issue hook saw %d certificates, want this one", s.issued.Load())
	}

	checks := []struct {
		name string
		ok   bool
	}{
		{"public key is the requested one", k.PublicKey.Equal(leaf.PublicKey)},
		{"signed by the intermediate", leaf.CheckSignatureFrom(inter) == nil},
		{"empty subject", len(leaf.Subject.Names) == 0 && bytes.Equal(leaf.RawSubject, []byte{0x30, 0x00})},
		{"issuer is the intermediate", bytes.Equal(leaf.RawIssuer, inter.RawSubject)},
		{"only SAN is the email", len(leaf.EmailAddresses) == 1 && leaf.EmailAddresses[0] == "alice@example.com" && len(leaf.URIs) == 0 && len(leaf.DNSNames) == 0},
		{"key usage digitalSignature only", leaf.KeyUsage == x509.KeyUsageDigitalSignature},
		{"ext key usage codeSigning only", len(leaf.ExtKeyUsage) == 1 && leaf.ExtKeyUsage[0] == x509.ExtKeyUsageCodeSigning && len(leaf.UnknownExtKeyUsage) == 0},
		{"not a CA", leaf.BasicConstraintsValid && !leaf.IsCA},
		{"not before is now", leaf.NotBefore.Equal(now)},
		{"valid 10 minutes", leaf.NotAfter.Sub(leaf.NotBefore) == 10*time.Minute},
		{"SKID of 20 bytes", len(leaf.SubjectKeyId) == 20},
		{"AKID is the intermediate's SKID", bytes.Equal(leaf.AuthorityKeyId, inter.SubjectKeyId) && len(inter.SubjectKeyId) > 0},
		{"positive serial of at most 20 octets", leaf.SerialNumber.Sign() > 0 && len(leaf.SerialNumber.Bytes()) <= 20},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("leaf: %s: no", c.name)
		}
	}
	var sanCritical bool
	var issuerV1, issuerV2 []byte
	for _, e := range leaf.Extensions {
		switch {
		case e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}):
			sanCritical = e.Critical
		case e.Id.Equal(certificate.OIDIssuer):
			issuerV1 = e.Value
		case e.Id.Equal(certificate.OIDIssuerV2):
			issuerV2 = e.Value
		}
	}
	if !sanCritical {
		t.Error("SAN extension is not critical")
	}
	if string(issuerV1) != s.email.URL() {
		t.Errorf("1.3.6.1.4.1.57264.1.1 is %q, want the raw issuer URL", issuerV1)
	}
	wantV2, err := asn1.MarshalWithParams(s.email.URL(), "utf8")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(issuerV2, wantV2) || issuerV2[0] != 0x0c {
		t.Errorf("1.3.6.1.4.1.57264.1.8 is %x, want DER UTF8String %x", issuerV2, wantV2)
	}
	ext, err := certificate.ParseExtensions(leaf.Extensions)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(certificate.Extensions{Issuer: s.email.URL()}, ext); diff != "" {
		t.Errorf("extensions (-want +got):\n%s", diff)
	}
	// The chain verifies for code signing, as sigstore-go checks it.
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		t.Errorf("chain does not verify for code signing: %v", err)
	}
}

func TestCAChainShape(t *testing.T) {
	s := newStack(t, stackOptions{})
	chain := s.ca.Chain()
	inter, root := chain[0], chain[1]
	if !root.IsCA || root.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || len(root.ExtKeyUsage) != 0 || root.CheckSignatureFrom(root) != nil {
		t.Errorf("root: CA %v, key usage %v, EKU %v", root.IsCA, root.KeyUsage, root.ExtKeyUsage)
	}
	if !inter.IsCA || inter.MaxPathLen != 0 || !inter.MaxPathLenZero || inter.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign ||
		len(inter.ExtKeyUsage) != 1 || inter.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning || inter.CheckSignatureFrom(root) != nil {
		t.Errorf("intermediate: CA %v, pathlen %d/%v, key usage %v, EKU %v", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero, inter.KeyUsage, inter.ExtKeyUsage)
	}
	for _, c := range chain {
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P384() {
			t.Errorf("%s: key %T, want ECDSA P-384", c.Subject.CommonName, c.PublicKey)
		}
		if c.Subject.CommonName == "" || len(c.Subject.Organization) == 0 || len(c.SubjectKeyId) == 0 {
			t.Errorf("%s: subject %v SKID %x", c.Subject.CommonName, c.Subject, c.SubjectKeyId)
		}
	}
	if inter.NotAfter.After(root.NotAfter) {
		t.Error("intermediate outlives the root")
	}
}

func TestRefusals(t *testing.T) {
	s := newStack(t, stackOptions{extra: []identity.Issuer{
		{URL: "http://127.0.0.1:1/down", Type: identity.TypeEmail}, // nothing listens on port 1
	}})
	// The same issuer (key and URL), an hour in the past: its tokens are
	// authentic and expired.
	past, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: s.emailDir, URL: s.email.URL(), Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: "https://stranger.example"})
	if err != nil {
		t.Fatal(err)
	}
	down, err := oidc.NewIssuer(oidc.IssuerConfig{Dir: t.TempDir(), URL: "http://127.0.0.1:1/down"})
	if err != nil {
		t.Fatal(err)
	}

	const alice = "alice@example.com"
	good := mint(t, s.email, alice, "sigstore", nil)
	k := lite.NewECDSAKey(t)
	goodProof := prove(t, k, alice)
	other := lite.NewECDSAKey(t)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	csr := func(key crypto.Signer) string {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	}
	badCSR := func() string {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
		if err != nil {
			t.Fatal(err)
		}
		der[len(der)-3] ^= 0xff // inside the signature
		return base64.StdEncoding.EncodeToString(der)
	}()
	jsonBody := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	tests := []struct {
		name       string
		body       []byte
		token      string
		wantStatus int
		wantMsg    string
	}{
		{"expired token", keyRequest(t, &k.PublicKey, "ECDSA", goodProof), mint(t, past, alice, "sigstore", nil), 401, "expired"},
		{"wrong audience", keyRequest(t, &k.PublicKey, "ECDSA", goodProof), mint(t, s.email, alice, "not-sigstore", nil), 401, "audience"},
		{"unknown issuer", keyRequest(t, &k.PublicKey, "ECDSA", goodProof), mint(t, stranger, alice, "sigstore", nil), 401, "https://stranger.example"},
		{"issuer unavailable", keyRequest(t, &k.PublicKey, "ECDSA", goodProof), mint(t, down, alice, "sigstore", nil), 503, "unavailable"},
		{"unverified email", keyRequest(t, &k.PublicKey, "ECDSA", prove(t, k, "eve@example.com")), mint(t, s.email, "eve@example.com", "sigstore", map[string]any{"email_verified": false}), 401, "not verified"},
		{"garbage token", keyRequest(t, &k.PublicKey, "ECDSA", goodProof), "garbage", 401, "invalid token"},
		{"no token", keyRequest(t, &k.PublicKey, "ECDSA", goodProof), "", 401, "no OIDC identity token"},
		{"proof over the wrong message", keyRequest(t, &k.PublicKey, "ECDSA", prove(t, k, "bob@example.com")), good, 400, "proof of possession failed"},
		{"proof by another key", keyRequest(t, &k.PublicKey, "ECDSA", prove(t, other, alice)), good, 400, "proof of possession failed"},
		{"proof over sub instead of email", keyRequest(t, &k.PublicKey, "ECDSA", prove(t, k, "not-the-email")), good, 400, `"alice@example.com"`},
		{"empty proof", keyRequest(t, &k.PublicKey, "ECDSA", nil), good, 400, "no proofOfPossession"},
		{"proof not base64", bytes.Replace(keyRequest(t, &k.PublicKey, "ECDSA", goodProof), []byte(`"proofOfPossession":"`), []byte(`"proofOfPossession":"*`), 1), good, 400, "not base64"},
		{"P-224 key", keyRequest(t, &p224.PublicKey, "ECDSA", []byte{1}), good, 400, "unsupported ECDSA curve"},
		{"RSA-1024 key", keyRequest(t, &rsa1024.PublicKey, "RSA", []byte{1}), good, 400, "unsupported RSA key size 1024"},
		{"algorithm mismatch", keyRequest(t, &k.PublicKey, "ED25519", goodProof), good, 400, "does not match"},
		{"unknown algorithm", keyRequest(t, &k.PublicKey, "DSA", goodProof), good, 400, "unknown algorithm"},
		{"key not PEM", jsonBody(map[string]any{"publicKeyRequest": map[string]any{"publicKey": map[string]any{"content": "MFkw"}, "proofOfPossession": "AA=="}}), good, 400, "no PEM block"},
		{"no key", jsonBody(map[string]any{"publicKeyRequest": map[string]any{"proofOfPossession": "AA=="}}), good, 400, "no publicKey.content"},
		{"neither key nor CSR", []byte(`{"credentials":{"oidcIdentityToken":"x"}}`), good, 400, "neither"},
		{"key and CSR", jsonBody(map[string]any{"publicKeyRequest": map[string]any{}, "certificateSigningRequest": csr(k)}), good, 400, "both"},
		{"CSR with bad signature", jsonBody(map[string]any{"certificateSigningRequest": badCSR}), good, 400, "proof of possession failed"},
		{"CSR with RSA-1024", jsonBody(map[string]any{"certificateSigningRequest": csr(rsa1024)}), good, 400, "unsupported RSA key size"},
		{"token in body and header disagree", jsonBody(map[string]any{"credentials": map[string]any{"oidcIdentityToken": "other"}, "certificateSigningRequest": csr(k)}), good, 400, "disagree"},
		{"not JSON", []byte("publicKey=1"), good, 400, "not a JSON object"},
		{"JSON array", []byte("[]"), good, 400, "not a JSON object"},
		{"trailing data", append(keyRequest(t, &k.PublicKey, "ECDSA", goodProof), []byte(" {}")...), good, 400, "trailing data"},
		{"one field twice, in two cases", []byte(`{"certificateSigningRequest":"x","CertificateSigningRequest":"y"}`), good, 400, `duplicate JSON key "CertificateSigningRequest"`},
		{"oversized", []byte(`{"x":"` + strings.Repeat("a", 70<<10) + `"}`), good, 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.issued.Load()
			status, body := s.post(t, tt.body, tt.token)
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d (%v)", status, tt.wantStatus, body)
			}
			msg, _ := body["message"].(string)
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
			if _, ok := body["code"].(float64); !ok {
				t.Errorf("error body %v has no numeric code", body)
			}
			if got := s.issued.Load(); got != before {
				t.Errorf("issued %d certificates, want none", got-before)
			}
		})
	}

	t.Run("GET signingCert", func(t *testing.T) {
		resp, err := s.caSrv.Client().Get(s.caSrv.URL + "/api/v2/signingCert")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("got status %d, want 405", resp.StatusCode)
		}
	})

	// Controls: the same requests done right are accepted.
	for _, ctl := range []struct {
		name  string
		body  []byte
		token string
	}{
		{"public key", keyRequest(t, &k.PublicKey, "ECDSA", goodProof), good},
		{"public key, no algorithm, token in body", jsonBody(map[string]any{
			"credentials":      map[string]any{"oidcIdentityToken": good},
			"publicKeyRequest": map[string]any{"publicKey": map[string]any{"content": pubPEM(t, &k.PublicKey)}, "proofOfPossession": base64.RawURLEncoding.EncodeToString(goodProof)},
		}), ""},
		{"CSR", jsonBody(map[string]any{"certificateSigningRequest": csr(k)}), good},
	} {
		t.Run("control/"+ctl.name, func(t *testing.T) {
			before := s.issued.Load()
			if status, body := s.post(t, ctl.body, ctl.token); status != 200 {
				t.Fatalf("got status %d %v, want 200", status, body)
			}
			if got := s.issued.Load(); got != before+1 {
				t.Errorf("issued %d certificates, want 1", got-before)
			}
		})
	}
}

func pubPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	v := acceptAll{}
	a, err := ca.New(ca.Config{Dir: dir, Identity: v})
	if err != nil {
		t.Fatalf("first New: %v", err)
	}
	b, err := ca.New(ca.Config{Dir: dir, Identity: v})
	if err != nil {
		t.Fatalf("second New: %v", err)
	}
	for i := range a.Chain() {
		if !a.Chain()[i].Equal(b.Chain()[i]) {
			t.Errorf("chain[%d] changed across restarts", i)
		}
	}
	for name, mode := range map[string]os.FileMode{"root-key.pem": 0o600, "intermediate-key.pem": 0o600, "root.pem": 0o644, "intermediate.pem": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "intermediate-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(data); block == nil || block.Type != "PRIVATE KEY" {
		t.Error("intermediate key is not PKCS#8 PEM")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}

	// The root key can go offline once the intermediate exists.
	if err := os.Rename(filepath.Join(dir, "root-key.pem"), filepath.Join(t.TempDir(), "offline.pem")); err != nil {
		t.Fatal(err)
	}
	c, err := ca.New(ca.Config{Dir: dir, Identity: v})
	if err != nil {
		t.Fatalf("New without the root key: %v", err)
	}
	if !c.Chain()[0].Equal(a.Chain()[0]) {
		t.Error("chain changed without the root key")
	}
}

func TestBrokenState(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string)
	}{
		{"intermediate without root", func(t *testing.T, dir string) { remove(t, dir, "root.pem") }},
		{"missing intermediate key", func(t *testing.T, dir string) { remove(t, dir, "intermediate-key.pem") }},
		{"corrupt root", func(t *testing.T, dir string) { write(t, dir, "root.pem", "junk") }},
		{"swapped intermediate key", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := ca.New(ca.Config{Dir: other, Identity: acceptAll{}}); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(other, "intermediate-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			write(t, dir, "intermediate-key.pem", string(data))
		}},
		{"intermediate from another root", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := ca.New(ca.Config{Dir: other, Identity: acceptAll{}}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"intermediate.pem", "intermediate-key.pem"} {
				data, err := os.ReadFile(filepath.Join(other, f))
				if err != nil {
					t.Fatal(err)
				}
				write(t, dir, f, string(data))
			}
		}},
		{"root key without root", func(t *testing.T, dir string) {
			remove(t, dir, "root.pem")
			remove(t, dir, "intermediate.pem")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := ca.New(ca.Config{Dir: dir, Identity: acceptAll{}}); err != nil {
				t.Fatal(err)
			}
			tt.breakIt(t, dir)
			if _, err := ca.New(ca.Config{Dir: dir, Identity: acceptAll{}}); err == nil {
				t.Error("New succeeded on a broken directory")
			}
		})
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestExternalSigner(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOptions{signer: key})
	if !key.PublicKey.Equal(s.ca.Chain()[0].PublicKey) {
		t.Fatal("intermediate does not certify the external signer")
	}
	if _, err := os.Stat(filepath.Join(s.caDir, "intermediate-key.pem")); err == nil {
		t.Error("an intermediate key file was written although the signer is external")
	}
	k := lite.NewECDSAKey(t)
	status, body := s.post(t, keyRequest(t, &k.PublicKey, "ECDSA", prove(t, k, "alice@example.com")), mint(t, s.email, "alice@example.com", "", nil))
	if status != 200 {
		t.Fatalf("got %d %v", status, body)
	}
	if err := chainFrom(t, body)[0].CheckSignatureFrom(s.ca.Chain()[0]); err != nil {
		t.Errorf("leaf not signed by the external key: %v", err)
	}
	// Restarting with the same signer works; with another, it must not.
	if _, err := ca.New(ca.Config{Dir: s.caDir, Signer: key, Identity: acceptAll{}}); err != nil {
		t.Errorf("restart with the same signer: %v", err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.New(ca.Config{Dir: s.caDir, Signer: other, Identity: acceptAll{}}); err == nil {
		t.Error("restart with a different signer succeeded")
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  ca.Config
	}{
		{"no dir", ca.Config{Identity: acceptAll{}}},
		{"no identity", ca.Config{Dir: "x"}},
		{"negative validity", ca.Config{Dir: "x", Identity: acceptAll{}, Validity: -time.Minute}},
		{"validity too long", ca.Config{Dir: "x", Identity: acceptAll{}, Validity: 48 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Dir != "" {
				tt.cfg.Dir = filepath.Join(t.TempDir(), tt.cfg.Dir)
			}
			if _, err := ca.New(tt.cfg); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func TestValidityAndIntermediateExpiry(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	clock := func() time.Time { return now }
	c, err := ca.New(ca.Config{Dir: dir, Identity: acceptAll{}, Now: clock, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, c)
	k := lite.NewECDSAKey(t)
	status, body := post(t, srv, keyRequest(t, &k.PublicKey, "", prove(t, k, "alice@example.com")))
	if status != 200 {
		t.Fatalf("got %d %v", status, body)
	}
	if leaf := chainFrom(t, body)[0]; leaf.NotAfter.Sub(leaf.NotBefore) != time.Hour {
		t.Errorf("validity %s, want 1h", leaf.NotAfter.Sub(leaf.NotBefore))
	}
	// Near the intermediate's end, the CA refuses rather than issuing a
	// leaf that outlives it.
	now = c.Chain()[0].NotAfter.Add(-time.Minute)
	later, err := ca.New(ca.Config{Dir: dir, Identity: acceptAll{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	status, body = post(t, serve(t, later), keyRequest(t, &k.PublicKey, "", prove(t, k, "alice@example.com")))
	if status != http.StatusInternalServerError {
		t.Errorf("got %d %v, want 500", status, body)
	}
}

func TestTrustBundleAndConfiguration(t *testing.T) {
	s := newStack(t, stackOptions{extra: []identity.Issuer{{URL: "https://k8s.example", Type: identity.TypeKubernetes, ClientID: "hallmark"}}})
	get := func(path string) map[string]any {
		t.Helper()
		resp, err := s.caSrv.Client().Get(s.caSrv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	bundle := get("/api/v2/trustBundle")
	var pems []any
	if chains, ok := bundle["chains"].([]any); ok && len(chains) == 1 {
		pems, _ = chains[0].(map[string]any)["certificates"].([]any)
	}
	if len(pems) != 2 {
		t.Fatalf("trust bundle %v: want one chain of two certificates", bundle)
	}
	for i, p := range pems {
		block, _ := pem.Decode([]byte(p.(string)))
		if block == nil || !bytes.Equal(block.Bytes, s.ca.Chain()[i].Raw) {
			t.Errorf("trust bundle certificate %d is not Chain()[%d]", i, i)
		}
	}
	conf := get("/api/v2/configuration")
	want := map[string]any{"issuers": []any{
		map[string]any{"issuerUrl": s.email.URL(), "audience": "sigstore", "challengeClaim": "email", "spiffeTrustDomain": ""},
		map[string]any{"issuerUrl": s.github.URL(), "audience": "sigstore", "challengeClaim": "sub", "spiffeTrustDomain": ""},
		map[string]any{"issuerUrl": "https://k8s.example", "audience": "hallmark", "challengeClaim": "sub", "spiffeTrustDomain": ""},
	}}
	if diff := cmp.Diff(want, conf); diff != "" {
		t.Errorf("configuration (-want +got):\n%s", diff)
	}
}

// acceptAll is a TokenVerifier that takes any non-empty token as
// alice@example.com.
type acceptAll struct{}

func (acceptAll) Verify(_ context.Context, tok string) (*identity.Principal, error) {
	if tok == "" {
		return nil, identity.ErrInvalidToken
	}
	return &identity.Principal{Issuer: "https://issuer.example", Subject: "alice@example.com", SANType: identity.SANEmail, Challenge: "alice@example.com"}, nil
}

func serve(t *testing.T, c *ca.CA) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, srv *httptest.Server, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/v2/signingCert", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer token")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}
