package ctlog_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/google/certificate-transparency-go/ctutil"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/ctlog"
	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/tlog"
)

var oidPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}

// pki is a root and an intermediate that issues precertificates.
type pki struct {
	root, inter       *x509.Certificate
	rootKey, interKey *ecdsa.PrivateKey
}

func create(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{rootKey: lite.NewECDSAKey(t), interKey: lite.NewECDSAKey(t)}
	now := time.Now()
	ca := func(cn string, serial int64) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
	}
	rt := ca("root", 1)
	p.root = create(t, rt, rt, p.rootKey.Public(), p.rootKey)
	p.inter = create(t, ca("intermediate", 2), p.root, p.interKey.Public(), p.rootKey)
	return p
}

// leaf issues a code-signing leaf for subject, a precertificate when
// poisoned.
func (p *pki) leaf(t *testing.T, subject string, serial int64, poisoned bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), NotBefore: time.Now(), NotAfter: time.Now().Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{subject},
	}
	if poisoned {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidPoison, Critical: true, Value: []byte{5, 0}}}
	}
	return create(t, tmpl, p.inter, lite.NewECDSAKey(t).Public(), p.interKey)
}

func newLog(t *testing.T, roots ...*x509.Certificate) *ctlog.Log {
	t.Helper()
	l, err := ctlog.New(t.Context(), ctlog.Config{Dir: t.TempDir(), Origin: "ct.example/log", Roots: roots})
	if err != nil {
		t.Fatalf("ctlog.New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// TestSCTVerifies checks the SCTs of a certificate and of a precertificate
// as a CT client does (ctutil.VerifySCT, which sigstore-go uses), and that
// a checkpoint covering them verifies with formats' RFC 6962 note
// verifier and commits to the entries served in the data tiles.
func TestSCTVerifies(t *testing.T) {
	p := newPKI(t)
	l := newLog(t, p.root)
	ctx := t.Context()

	pre := p.leaf(t, "alice@example.com", 10, true)
	sct, err := l.AddPreChain(ctx, []*x509.Certificate{pre, p.inter, p.root})
	if err != nil {
		t.Fatalf("AddPreChain: %v", err)
	}
	// The precertificate's SCT verifies over the chain with the poison.
	chain := ctChain(t, pre, p.inter)
	if err := ctutil.VerifySCT(l.PublicKey(), chain, sct, false); err != nil {
		t.Errorf("precertificate SCT: %v", err)
	}
	if !bytes.Equal(sct.Extensions, []byte{0, 0, 5, 0, 0, 0, 0, 0}) {
		t.Errorf("SCT extensions %x, want leaf_index 0", sct.Extensions)
	}

	final := p.leaf(t, "bob@example.com", 11, false)
	sct2, err := l.AddChain(ctx, []*x509.Certificate{final, p.inter}) // root left out: the log adds it
	if err != nil {
		t.Fatalf("AddChain: %v", err)
	}
	if err := ctutil.VerifySCT(l.PublicKey(), ctChain(t, final, p.inter), sct2, false); err != nil {
		t.Errorf("certificate SCT: %v", err)
	}

	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	cp := waitCheckpoint(t, srv.URL, 2)
	if _, err := note.Open(cp, note.VerifierList(l.Verifier())); err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, cp)
	}
	n, err := note.Open(cp, note.VerifierList(l.Verifier()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlog.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		t.Fatal(err)
	}
	// The leaves of the data tile hash to the checkpoint's root.
	data := lite.Get(t, srv.URL+"/tile/data/000.p/2")
	leaves := tileLeaves(t, data)
	if len(leaves) != 2 {
		t.Fatalf("data tile has %d leaves, want 2", len(leaves))
	}
	root := rfc6962.DefaultHasher.HashChildren(leaves[0], leaves[1])
	if !bytes.Equal(root, c.Hash) {
		t.Errorf("data tile leaves hash to %x, checkpoint says %x", root, c.Hash)
	}
	// Each issuer an entry names is served.
	for _, cert := range []*x509.Certificate{p.inter, p.root} {
		fp := sha256.Sum256(cert.Raw)
		if got := lite.Get(t, srv.URL+"/issuer/"+hex.EncodeToString(fp[:])); !bytes.Equal(got, cert.Raw) {
			t.Errorf("issuer %s: got %d bytes, want the certificate", cert.Subject.CommonName, len(got))
		}
	}
}

// tileLeaves parses a static-ct-api data tile with certificate-transparency-go
// and returns each entry's RFC 6962 leaf hash.
func tileLeaves(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(data) > 0 {
		var te ct.TimestampedEntry
		rest, err := cttls.Unmarshal(data, &te)
		if err != nil {
			t.Fatalf("parsing a TileLeaf: %v", err)
		}
		leaf := ct.MerkleTreeLeaf{Version: ct.V1, LeafType: ct.TimestampedEntryLeafType, TimestampedEntry: &te}
		h, err := ct.LeafHashForLeaf(&leaf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h[:])
		if te.EntryType == ct.PrecertLogEntryType {
			var pre struct {
				Data []byte `tls:"minlen:1,maxlen:16777215"`
			}
			if rest, err = cttls.Unmarshal(rest, &pre); err != nil {
				t.Fatalf("parsing a TileLeaf precertificate: %v", err)
			}
		}
		var fps struct {
			Data []byte `tls:"minlen:0,maxlen:65535"`
		}
		if data, err = cttls.Unmarshal(rest, &fps); err != nil {
			t.Fatalf("parsing a TileLeaf chain: %v", err)
		}
	}
	return out
}

func ctChain(t *testing.T, certs ...*x509.Certificate) []*ctx509.Certificate {
	t.Helper()
	var out []*ctx509.Certificate
	for _, c := range certs {
		cc, err := ctx509.ParseCertificate(c.Raw)
		if err != nil && !errors.As(err, new(ctx509.NonFatalErrors)) {
			t.Fatal(err)
		}
		out = append(out, cc)
	}
	return out
}

func waitCheckpoint(t *testing.T, base string, size uint64) []byte {
	t.Helper()
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cp, err := f.ReadCheckpoint(context.Background())
		if err == nil {
			lines := strings.SplitN(string(cp), "\n", 3)
			if len(lines) == 3 && lines[1] == strconv.FormatUint(size, 10) {
				return cp
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no checkpoint of size %d within 10s", size)
	return nil
}

// TestRefusals checks that the log refuses chains it must not log, and why.
func TestRefusals(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t)
	l := newLog(t, p.root)
	pre := p.leaf(t, "a@example.com", 20, true)
	final := p.leaf(t, "a@example.com", 21, false)
	for _, tc := range []struct {
		name    string
		chain   []*x509.Certificate
		precert bool
		want    string
	}{
		{"certificate to add-pre-chain", []*x509.Certificate{final, p.inter, p.root}, true, "needs a precertificate"},
		{"precertificate to add-chain", []*x509.Certificate{pre, p.inter, p.root}, false, "goes to add-pre-chain"},
		{"another root", []*x509.Certificate{other.leaf(t, "m@example.com", 22, true), other.inter, other.root}, true, "does not end at an accepted root"},
		{"broken link", []*x509.Certificate{pre, other.inter, p.root}, true, "is not issued by certificate 1"},
		{"no issuer", []*x509.Certificate{pre}, true, "issued by the CA itself"},
		{"empty", nil, false, "empty chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.precert {
				_, err = l.AddPreChain(t.Context(), tc.chain)
			} else {
				_, err = l.AddChain(t.Context(), tc.chain)
			}
			if !errors.Is(err, ctlog.ErrInvalidChain) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidChain saying %q", err, tc.want)
			}
		})
	}
}

// TestHTTPAddPreChain submits through the RFC 6962 JSON API and checks the
// SCT of the answer.
func TestHTTPAddPreChain(t *testing.T) {
	p := newPKI(t)
	l := newLog(t, p.root)
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(srv.Close)
	pre := p.leaf(t, "h@example.com", 30, true)
	body, err := json.Marshal(ct.AddChainRequest{Chain: [][]byte{pre.Raw, p.inter.Raw, p.root.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/ct/v1/add-pre-chain", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body) // only for the failure message
		t.Fatalf("add-pre-chain: %s: %s", resp.Status, b)
	}
	var acr ct.AddChainResponse
	if err := json.NewDecoder(resp.Body).Decode(&acr); err != nil {
		t.Fatal(err)
	}
	sct, err := acr.ToSignedCertificateTimestamp()
	if err != nil {
		t.Fatalf("answer is not an SCT: %v", err)
	}
	if err := ctutil.VerifySCT(l.PublicKey(), ctChain(t, pre, p.inter), sct, false); err != nil {
		t.Errorf("SCT: %v", err)
	}

	// A certificate to add-pre-chain is a 400 that says why.
	final := p.leaf(t, "h@example.com", 31, false)
	body, err = json.Marshal(ct.AddChainRequest{Chain: [][]byte{final.Raw, p.inter.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	resp2, err := http.Post(srv.URL+"/ct/v1/add-pre-chain", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	msg, err := io.ReadAll(resp2.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp2.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "needs a precertificate") {
		t.Errorf("got %s %q, want 400 saying it needs a precertificate", resp2.Status, msg)
	}
	roots := lite.Get(t, srv.URL+"/ct/v1/get-roots")
	var gr ct.GetRootsResponse
	if err := json.Unmarshal(roots, &gr); err != nil || len(gr.Certificates) != 1 {
		t.Errorf("get-roots: %s (%v), want one root", roots, err)
	}
}
