package tsa_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"hallmark.dev/internal/tsa"
)

// testTime is the clock of most tests. Its fraction of a second shows that
// genTime is truncated.
var testTime = time.Date(2026, 3, 1, 12, 30, 45, 600_000_000, time.UTC)

// policy is the TSA policy the package documents.
var policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// newTSA returns a TSA on a fresh directory, with the test clock.
func newTSA(t testing.TB) *tsa.TSA {
	t.Helper()
	a, err := tsa.New(tsa.Config{Dir: t.TempDir(), Now: fixedClock(testTime)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// serve starts the TSA's handler on loopback.
func serve(t testing.TB, a *tsa.TSA) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// post sends body to the timestamp endpoint and returns the status, the
// Content-Type and the body of the answer.
func post(t testing.TB, url, contentType string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/api/v1/timestamp", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// createRequest returns a DER TimeStampReq for data.
func createRequest(t testing.TB, data []byte, opts *timestamp.RequestOptions) []byte {
	t.Helper()
	req, err := timestamp.CreateRequest(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	return req
}

func TestHTTPRoundTrip(t *testing.T) {
	a := newTSA(t)
	srv := serve(t, a)
	data := []byte("hallmark timestamp round trip")
	serials := map[string]bool{}
	for _, tc := range []struct {
		name    string
		hash    crypto.Hash
		certReq bool
		nonce   *big.Int
	}{
		{"sha256", crypto.SHA256, false, nil},
		{"sha256 certReq nonce", crypto.SHA256, true, big.NewInt(0x1234_5678_9abc)},
		{"sha384 certReq", crypto.SHA384, true, nil},
		{"sha512 nonce", crypto.SHA512, false, new(big.Int).Lsh(big.NewInt(1), 159)},
		{"negative nonce", crypto.SHA256, true, big.NewInt(-42)},
		{"nonce at the cap", crypto.SHA256, false, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), tsa.MaxNonceBits), big.NewInt(1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := createRequest(t, data, &timestamp.RequestOptions{Hash: tc.hash, Certificates: tc.certReq, Nonce: tc.nonce})
			status, ct, body := post(t, srv.URL, "application/timestamp-query", req)
			if status != http.StatusOK {
				t.Fatalf("status: got %d, want 200; body %q", status, body)
			}
			if ct != "application/timestamp-reply" {
				t.Errorf("Content-Type: got %q, want application/timestamp-reply", ct)
			}
			ts, err := timestamp.ParseResponse(body)
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			h := tc.hash.New()
			h.Write(data)
			if got, want := ts.HashedMessage, h.Sum(nil); !bytes.Equal(got, want) {
				t.Errorf("hashed message: got %x, want %x", got, want)
			}
			if ts.HashAlgorithm != tc.hash {
				t.Errorf("hash algorithm: got %v, want %v", ts.HashAlgorithm, tc.hash)
			}
			if (ts.Nonce == nil) != (tc.nonce == nil) || (tc.nonce != nil && ts.Nonce.Cmp(tc.nonce) != 0) {
				t.Errorf("nonce: got %v, want %v", ts.Nonce, tc.nonce)
			}
			if want := testTime.Truncate(time.Second); !ts.Time.Equal(want) {
				t.Errorf("time: got %v, want %v", ts.Time, want)
			}
			if ts.Accuracy != time.Second {
				t.Errorf("accuracy: got %v, want 1s", ts.Accuracy)
			}
			if !ts.Policy.Equal(policy) {
				t.Errorf("policy: got %v, want %v", ts.Policy, policy)
			}
			if ts.Ordering {
				t.Errorf("ordering: got true, want false")
			}
			if ts.SerialNumber == nil || ts.SerialNumber.Sign() <= 0 || ts.SerialNumber.BitLen() > 128 {
				t.Errorf("serial number: got %v, want a positive number of at most 128 bits", ts.SerialNumber)
			} else if serials[ts.SerialNumber.String()] {
				t.Errorf("serial number %v issued twice", ts.SerialNumber)
			} else {
				serials[ts.SerialNumber.String()] = true
			}
			if tc.certReq {
				chain := a.CertChain()
				if len(ts.Certificates) != len(chain) {
					t.Fatalf("certificates: got %d, want the chain of %d", len(ts.Certificates), len(chain))
				}
				for i := range chain {
					if !ts.Certificates[i].Equal(chain[i]) {
						t.Errorf("certificate %d: got %s, want %s", i, ts.Certificates[i].Subject, chain[i].Subject)
					}
				}
			} else if len(ts.Certificates) != 0 {
				t.Errorf("certificates: got %d without certReq, want none", len(ts.Certificates))
			}
		})
	}
}

func TestJSONRequest(t *testing.T) {
	a := newTSA(t)
	srv := serve(t, a)
	digest := sha256.Sum256([]byte("json"))
	body, err := json.Marshal(map[string]any{
		"artifactHash":  base64.StdEncoding.EncodeToString(digest[:]),
		"hashAlgorithm": "sha256",
		"certificates":  true,
		"nonce":         12345,
		"tsaPolicyOID":  policy.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	status, ct, resp := post(t, srv.URL, "application/json", body)
	if status != http.StatusOK || ct != "application/timestamp-reply" {
		t.Fatalf("got %d %q, want 200 application/timestamp-reply; body %q", status, ct, resp)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	if !bytes.Equal(ts.HashedMessage, digest[:]) {
		t.Errorf("hashed message: got %x, want %x", ts.HashedMessage, digest)
	}
	if ts.Nonce == nil || ts.Nonce.Int64() != 12345 {
		t.Errorf("nonce: got %v, want 12345", ts.Nonce)
	}
	if len(ts.Certificates) != 2 {
		t.Errorf("certificates: got %d, want 2", len(ts.Certificates))
	}
}

// respStatus is the PKIStatusInfo of a TimeStampResp, as RFC 3161 §2.4.2
// defines it.
type respStatus struct {
	Status       int
	StatusString []string       `asn1:"optional,utf8"`
	FailInfo     asn1.BitString `asn1:"optional"`
}

// parseStatus returns the status of the DER TimeStampResp resp.
func parseStatus(t testing.TB, resp []byte) respStatus {
	t.Helper()
	var r struct {
		Status respStatus
		Token  asn1.RawValue `asn1:"optional"`
	}
	rest, err := asn1.Unmarshal(resp, &r)
	if err != nil {
		t.Fatalf("TimeStampResp does not parse: %v", err)
	}
	if len(rest) > 0 {
		t.Fatalf("TimeStampResp has %d bytes of trailing data", len(rest))
	}
	if r.Status.Status == 0 && len(r.Token.FullBytes) == 0 {
		t.Fatalf("granted TimeStampResp has no token")
	}
	if r.Status.Status != 0 && len(r.Token.FullBytes) != 0 {
		t.Fatalf("TimeStampResp with status %d has a token", r.Status.Status)
	}
	return r.Status
}

// failBits returns the indices of the bits set in a PKIFailureInfo.
func failBits(b asn1.BitString) []int {
	var bits []int
	for i := range b.BitLength {
		if b.At(i) == 1 {
			bits = append(bits, i)
		}
	}
	return bits
}

// PKIFailureInfo bits (RFC 3161 §2.4.2).
const (
	badAlg              = 0
	badDataFormat       = 5
	unacceptedPolicy    = 15
	unacceptedExtension = 16
	systemFailure       = 25
)

// rawRequest is TimeStampReq (RFC 3161 §2.4.1), for building requests the
// clients would not send.
type rawRequest struct {
	Version        int
	MessageImprint rawImprint
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional,default:false"`
	Extensions     []pkix.Extension      `asn1:"optional,tag:0"`
}

type rawImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

var oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}

// goodRaw returns a valid SHA-256 request for modification.
func goodRaw() rawRequest {
	return rawRequest{
		Version: 1,
		MessageImprint: rawImprint{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidSHA256},
			HashedMessage: make([]byte, 32),
		},
	}
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatalf("asn1.Marshal: %v", err)
	}
	return b
}

// refusalCases are requests the TSA must refuse, with the HTTP status and
// PKIFailureInfo bit it must answer with.
func refusalCases(t testing.TB) []struct {
	name       string
	req        []byte
	httpStatus int
	failInfo   int
	reasonHas  string
} {
	sha1Req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA1, HashedMessage: make([]byte, 20)}).Marshal()
	if err != nil {
		t.Fatalf("marshaling a SHA-1 request: %v", err)
	}
	sha224 := goodRaw()
	sha224.MessageImprint.HashAlgorithm.Algorithm = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	sha224.MessageImprint.HashedMessage = make([]byte, 28)
	params := goodRaw()
	params.MessageImprint.HashAlgorithm.Parameters = asn1.RawValue{FullBytes: []byte{0x02, 0x01, 0x05}}
	short := goodRaw()
	short.MessageImprint.HashedMessage = make([]byte, 31)
	empty := goodRaw()
	empty.MessageImprint.HashedMessage = nil
	v2 := goodRaw()
	v2.Version = 2
	otherPolicy := goodRaw()
	otherPolicy.ReqPolicy = asn1.ObjectIdentifier{1, 2, 3, 4}
	ext := goodRaw()
	ext.Extensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{0x05, 0x00}}}
	bigNonce := goodRaw()
	bigNonce.Nonce = new(big.Int).Lsh(big.NewInt(1), tsa.MaxNonceBits) // one bit over
	hugeNonce := goodRaw()
	hugeNonce.Nonce = new(big.Int).SetBytes(bytes.Repeat([]byte{0x7f}, 60<<10))
	negNonce := goodRaw()
	negNonce.Nonce = new(big.Int).Neg(bigNonce.Nonce)
	good := marshal(t, goodRaw())

	return []struct {
		name       string
		req        []byte
		httpStatus int
		failInfo   int
		reasonHas  string
	}{
		{"garbage", []byte("this is not DER"), http.StatusBadRequest, badDataFormat, "not a DER TimeStampReq"},
		{"empty body", nil, http.StatusBadRequest, badDataFormat, "not a DER TimeStampReq"},
		{"trailing data", append(append([]byte(nil), good...), 0), http.StatusBadRequest, badDataFormat, "trailing data"},
		{"truncated", good[:len(good)-1], http.StatusBadRequest, badDataFormat, "not a DER TimeStampReq"},
		{"not a request", marshal(t, []int{1, 2, 3}), http.StatusBadRequest, badDataFormat, "not a MessageImprint"},
		{"sha-1", sha1Req, http.StatusOK, badAlg, "sha-1"},
		{"sha-224", marshal(t, sha224), http.StatusOK, badAlg, "unsupported hash algorithm"},
		{"hash parameters", marshal(t, params), http.StatusOK, badAlg, "has parameters"},
		{"short digest", marshal(t, short), http.StatusOK, badDataFormat, "31 bytes"},
		{"empty digest", marshal(t, empty), http.StatusOK, badDataFormat, "0 bytes"},
		{"version 2", marshal(t, v2), http.StatusOK, badDataFormat, "version is 2"},
		{"other policy", marshal(t, otherPolicy), http.StatusOK, unacceptedPolicy, "unsupported policy"},
		{"extension", marshal(t, ext), http.StatusOK, unacceptedExtension, "extensions"},
		{"nonce over the cap", marshal(t, bigNonce), http.StatusOK, badDataFormat, "nonce is 257 bits"},
		{"negative nonce over the cap", marshal(t, negNonce), http.StatusOK, badDataFormat, "nonce is 257 bits"},
		{"60 KiB nonce", marshal(t, hugeNonce), http.StatusOK, badDataFormat, "nonce is 491519 bits"},
	}
}

func TestRefusals(t *testing.T) {
	a := newTSA(t)
	srv := serve(t, a)
	for _, tc := range refusalCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			check := func(resp []byte) {
				t.Helper()
				st := parseStatus(t, resp)
				if st.Status != 2 {
					t.Errorf("PKIStatus: got %d, want 2 (rejection)", st.Status)
				}
				if got := failBits(st.FailInfo); len(got) != 1 || got[0] != tc.failInfo {
					t.Errorf("PKIFailureInfo bits: got %v, want [%d]", got, tc.failInfo)
				}
				if len(st.StatusString) != 1 || !strings.Contains(st.StatusString[0], tc.reasonHas) {
					t.Errorf("statusString: got %q, want one reason containing %q", st.StatusString, tc.reasonHas)
				}
				if _, err := timestamp.ParseResponse(resp); err == nil {
					t.Errorf("ParseResponse of a refusal: got no error")
				}
			}

			resp, err := a.Timestamp(tc.req)
			if err != nil {
				t.Fatalf("Timestamp: got error %v, want a refusal", err)
			}
			check(resp)

			status, ct, body := post(t, srv.URL, "application/timestamp-query", tc.req)
			if status != tc.httpStatus {
				t.Errorf("HTTP status: got %d, want %d", status, tc.httpStatus)
			}
			if ct != "application/timestamp-reply" {
				t.Errorf("Content-Type: got %q, want application/timestamp-reply", ct)
			}
			check(body)
		})
	}
}

func TestJSONRefusals(t *testing.T) {
	srv := serve(t, newTSA(t))
	d := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name       string
		body       string
		httpStatus int
		failInfo   int
		reasonHas  string
	}{
		{"not JSON", `{"artifactHash":`, http.StatusBadRequest, badDataFormat, "not a JSON timestamp request"},
		{"not base64", `{"artifactHash":"!!","hashAlgorithm":"sha256"}`, http.StatusBadRequest, badDataFormat, "not base64"},
		{"bad policy", `{"artifactHash":"` + d + `","hashAlgorithm":"sha256","tsaPolicyOID":"1.x"}`, http.StatusBadRequest, badDataFormat, "tsaPolicyOID"},
		{"sha1", `{"artifactHash":"` + base64.StdEncoding.EncodeToString(make([]byte, 20)) + `","hashAlgorithm":"sha1"}`, http.StatusOK, badAlg, "sha-1"},
		{"md5", `{"artifactHash":"` + d + `","hashAlgorithm":"md5"}`, http.StatusOK, badAlg, `"md5"`},
		{"wrong length", `{"artifactHash":"` + d + `","hashAlgorithm":"sha512"}`, http.StatusOK, badDataFormat, "32 bytes"},
		{"other policy", `{"artifactHash":"` + d + `","hashAlgorithm":"SHA256","tsaPolicyOID":"1.2.3"}`, http.StatusOK, unacceptedPolicy, "unsupported policy"},
		{"nonce over the cap", `{"artifactHash":"` + d + `","hashAlgorithm":"sha256","nonce":` + new(big.Int).Lsh(big.NewInt(1), tsa.MaxNonceBits).String() + `}`, http.StatusOK, badDataFormat, "nonce is 257 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := post(t, srv.URL, "application/json", []byte(tc.body))
			if status != tc.httpStatus {
				t.Errorf("HTTP status: got %d, want %d", status, tc.httpStatus)
			}
			st := parseStatus(t, body)
			if got := failBits(st.FailInfo); st.Status != 2 || len(got) != 1 || got[0] != tc.failInfo {
				t.Errorf("status: got %d %v, want 2 [%d]", st.Status, got, tc.failInfo)
			}
			if len(st.StatusString) != 1 || !strings.Contains(st.StatusString[0], tc.reasonHas) {
				t.Errorf("statusString: got %q, want one reason containing %q", st.StatusString, tc.reasonHas)
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	srv := serve(t, newTSA(t))
	good := createRequest(t, []byte("x"), nil)
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		want        int
	}{
		{"oversized", http.MethodPost, "/api/v1/timestamp", "application/timestamp-query", make([]byte, tsa.MaxRequestSize+1), http.StatusRequestEntityTooLarge},
		{"oversized JSON", http.MethodPost, "/api/v1/timestamp", "application/json", bytes.Repeat([]byte(" "), tsa.MaxJSONRequestSize+1), http.StatusRequestEntityTooLarge},
		{"GET on the timestamp path", http.MethodGet, "/api/v1/timestamp", "", nil, http.StatusMethodNotAllowed},
		{"PUT on the timestamp path", http.MethodPut, "/api/v1/timestamp", "application/timestamp-query", good, http.StatusMethodNotAllowed},
		{"POST on the chain path", http.MethodPost, "/api/v1/timestamp/certchain", "", nil, http.StatusMethodNotAllowed},
		{"other content type", http.MethodPost, "/api/v1/timestamp", "text/plain", good, http.StatusUnsupportedMediaType},
		{"malformed content type", http.MethodPost, "/api/v1/timestamp", "application/", good, http.StatusUnsupportedMediaType},
		{"other path", http.MethodPost, "/api/v1/timestamps", "application/timestamp-query", good, http.StatusNotFound},
		{"no content type", http.MethodPost, "/api/v1/timestamp", "", good, http.StatusOK},
		{"content type parameters", http.MethodPost, "/api/v1/timestamp", "application/timestamp-query; charset=binary", good, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
}

func TestCertChainEndpoint(t *testing.T) {
	a := newTSA(t)
	srv := serve(t, a)
	resp, err := http.Get(srv.URL + "/api/v1/timestamp/certchain")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/pem-certificate-chain" {
		t.Errorf("Content-Type: got %q, want application/pem-certificate-chain", got)
	}
	var got []*x509.Certificate
	for rest := body; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("certificate %d: %v", len(got), err)
		}
		got = append(got, c)
	}
	want := a.CertChain()
	if len(got) != len(want) {
		t.Fatalf("chain: got %d certificates, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("certificate %d: got %s, want %s", i, got[i].Subject, want[i].Subject)
		}
	}
}

// TestCertificates checks the chain against RFC 3161 §2.3 and what the
// package documents.
func TestCertificates(t *testing.T) {
	chain := newTSA(t).CertChain()
	if len(chain) != 2 {
		t.Fatalf("chain: got %d certificates, want leaf and root", len(chain))
	}
	leaf, root := chain[0], chain[1]

	if k, ok := root.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
		t.Errorf("root key: got %T, want ECDSA P-384", root.PublicKey)
	}
	if !root.IsCA || !root.BasicConstraintsValid || root.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("root: IsCA %v, KeyUsage %v; want a CA that signs certificates", root.IsCA, root.KeyUsage)
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	if got := root.NotAfter.Sub(testTime); got < 19*365*24*time.Hour {
		t.Errorf("root validity: got %v from now, want about 20 years", got)
	}

	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("leaf key: got %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.IsCA {
		t.Errorf("leaf is a CA")
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("leaf KeyUsage: got %v, want digitalSignature only", leaf.KeyUsage)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(leaf.UnknownExtKeyUsage) != 0 {
		t.Errorf("leaf ExtKeyUsage: got %v %v, want timeStamping only", leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
	}
	critical := false
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			critical = ext.Critical
		}
	}
	if !critical {
		t.Errorf("leaf ExtKeyUsage: not critical, want critical (RFC 3161 §2.3)")
	}
	if leaf.NotBefore.After(testTime) || leaf.NotAfter.Before(testTime.Add(9*365*24*time.Hour)) {
		t.Errorf("leaf validity: got %v to %v, want about 10 years from %v", leaf.NotBefore, leaf.NotAfter, testTime)
	}
	if len(leaf.SubjectKeyId) == 0 || !bytes.Equal(leaf.AuthorityKeyId, root.SubjectKeyId) {
		t.Errorf("leaf key identifiers: subject %x, authority %x; want set, authority = root's %x", leaf.SubjectKeyId, leaf.AuthorityKeyId, root.SubjectKeyId)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testTime, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		t.Errorf("leaf does not verify for timestamping: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	first, err := tsa.New(tsa.Config{Dir: dir, Now: fixedClock(testTime)})
	if err != nil {
		t.Fatalf("first New: %v", err)
	}
	later := testTime.Add(24 * time.Hour)
	second, err := tsa.New(tsa.Config{Dir: dir, Now: fixedClock(later)})
	if err != nil {
		t.Fatalf("second New: %v", err)
	}
	a, b := first.CertChain(), second.CertChain()
	if len(a) != len(b) {
		t.Fatalf("chain length: got %d, want %d", len(b), len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			t.Errorf("certificate %d differs after a restart", i)
		}
	}
	for _, name := range []string{"root-key.pem", "leaf-key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode: got %v, want 0600", name, got)
		}
	}

	// The second TSA signs with the first's key.
	resp, err := second.Timestamp(createRequest(t, []byte("after restart"), &timestamp.RequestOptions{Certificates: true}))
	if err != nil {
		t.Fatalf("Timestamp: %v", err)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	if !ts.Time.Equal(later.Truncate(time.Second)) {
		t.Errorf("time: got %v, want %v", ts.Time, later.Truncate(time.Second))
	}
	if len(ts.Certificates) == 0 || !ts.Certificates[0].Equal(a[0]) {
		t.Errorf("token not signed by the first start's leaf")
	}
}

func TestNewErrors(t *testing.T) {
	// setup returns a directory holding a TSA's state.
	setup := func(t *testing.T) string {
		t.Helper()
		dir := t.TempDir()
		if _, err := tsa.New(tsa.Config{Dir: dir, Now: fixedClock(testTime)}); err != nil {
			t.Fatalf("New: %v", err)
		}
		return dir
	}
	otherKey := func(t *testing.T) []byte {
		t.Helper()
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	write := func(t *testing.T, path string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T) tsa.Config
		want    string
	}{
		{"no directory", func(t *testing.T) tsa.Config { return tsa.Config{} }, "no directory"},
		{"directory is a file", func(t *testing.T) tsa.Config {
			path := filepath.Join(t.TempDir(), "file")
			write(t, path, nil)
			return tsa.Config{Dir: path}
		}, "not a directory"},
		{"corrupt chain", func(t *testing.T) tsa.Config {
			dir := setup(t)
			write(t, filepath.Join(dir, "chain.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
			return tsa.Config{Dir: dir, Now: fixedClock(testTime)}
		}, "chain.pem"},
		{"root only", func(t *testing.T) tsa.Config {
			dir := setup(t)
			chain, err := os.ReadFile(filepath.Join(dir, "chain.pem"))
			if err != nil {
				t.Fatal(err)
			}
			_, rest := pem.Decode(chain)
			write(t, filepath.Join(dir, "chain.pem"), rest)
			return tsa.Config{Dir: dir, Now: fixedClock(testTime)}
		}, "want a leaf and a root"},
		{"chain reversed", func(t *testing.T) tsa.Config {
			dir := setup(t)
			chain, err := os.ReadFile(filepath.Join(dir, "chain.pem"))
			if err != nil {
				t.Fatal(err)
			}
			leaf, rest := pem.Decode(chain)
			write(t, filepath.Join(dir, "chain.pem"), append(rest, pem.EncodeToMemory(leaf)...))
			return tsa.Config{Dir: dir, Now: fixedClock(testTime)}
		}, "not a CA"},
		{"missing key", func(t *testing.T) tsa.Config {
			dir := setup(t)
			if err := os.Remove(filepath.Join(dir, "leaf-key.pem")); err != nil {
				t.Fatal(err)
			}
			return tsa.Config{Dir: dir, Now: fixedClock(testTime)}
		}, "reading the signing key"},
		{"key of another certificate", func(t *testing.T) tsa.Config {
			dir := setup(t)
			write(t, filepath.Join(dir, "leaf-key.pem"), otherKey(t))
			return tsa.Config{Dir: dir, Now: fixedClock(testTime)}
		}, "does not match"},
		{"key not PEM", func(t *testing.T) tsa.Config {
			dir := setup(t)
			write(t, filepath.Join(dir, "leaf-key.pem"), []byte("key"))
			return tsa.Config{Dir: dir, Now: fixedClock(testTime)}
		}, "leaf-key.pem"},
		{"leaf expired", func(t *testing.T) tsa.Config {
			return tsa.Config{Dir: setup(t), Now: fixedClock(testTime.AddDate(11, 0, 0))}
		}, "leaf certificate is valid from"},
		{"clock before the leaf", func(t *testing.T) tsa.Config {
			return tsa.Config{Dir: setup(t), Now: fixedClock(testTime.Add(-time.Hour))}
		}, "leaf certificate is valid from"},
		{"no randomness", func(t *testing.T) tsa.Config {
			return tsa.Config{Dir: t.TempDir(), Now: fixedClock(testTime), Rand: bytes.NewReader(nil)}
		}, "serial number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tsa.New(tc.prepare(t))
			if err == nil {
				t.Fatalf("New: got a TSA, want an error containing %q", tc.want)
			}
			if a != nil {
				t.Errorf("New: got a TSA and the error %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "tsa: ") {
				t.Errorf("New: got error %q, want one starting with %q and containing %q", msg, "tsa: ", tc.want)
			}
		})
	}
}

// failingReader reads from crypto/rand until it is told to fail.
type failingReader struct{ fail atomic.Bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.fail.Load() {
		return 0, errors.New("entropy source failed")
	}
	return rand.Read(p)
}

// TestInternalErrors checks that the TSA reports what stops it from issuing
// tokens as errors, and over HTTP as 500 with a systemFailure reply.
func TestInternalErrors(t *testing.T) {
	random := &failingReader{}
	var mu sync.Mutex
	now := testTime
	a, err := tsa.New(tsa.Config{Dir: t.TempDir(), Rand: random, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := serve(t, a)
	req := createRequest(t, []byte("x"), nil)

	for _, tc := range []struct {
		name    string
		breakIt func()
		want    string
	}{
		{"randomness fails", func() { random.fail.Store(true) }, "entropy source failed"},
		{"clock past the leaf", func() {
			random.fail.Store(false)
			mu.Lock()
			now = a.CertChain()[0].NotAfter.Add(time.Second)
			mu.Unlock()
		}, "outside the leaf certificate's validity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.breakIt()
			resp, err := a.Timestamp(req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Timestamp: got error %v, want one containing %q", err, tc.want)
			}
			if resp != nil {
				t.Errorf("Timestamp: got a response with the error")
			}
			status, ct, body := post(t, srv.URL, "application/timestamp-query", req)
			if status != http.StatusInternalServerError || ct != "application/timestamp-reply" {
				t.Fatalf("HTTP: got %d %q, want 500 application/timestamp-reply", status, ct)
			}
			st := parseStatus(t, body)
			if got := failBits(st.FailInfo); st.Status != 2 || len(got) != 1 || got[0] != systemFailure {
				t.Errorf("status: got %d %v, want 2 [%d]", st.Status, got, systemFailure)
			}
		})
	}
}

// TestConcurrent issues timestamps from many goroutines: run with -race.
func TestConcurrent(t *testing.T) {
	a := newTSA(t)
	req := createRequest(t, []byte("concurrent"), &timestamp.RequestOptions{Certificates: true})
	const n = 16
	serials := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := a.Timestamp(req)
			if err != nil {
				t.Errorf("Timestamp: %v", err)
				return
			}
			ts, err := timestamp.ParseResponse(resp)
			if err != nil {
				t.Errorf("ParseResponse: %v", err)
				return
			}
			serials[i] = ts.SerialNumber.String()
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, s := range serials {
		if seen[s] {
			t.Errorf("serial number %s issued twice", s)
		}
		seen[s] = true
	}
}

func BenchmarkTimestamp(b *testing.B) {
	a := newTSA(b)
	req := createRequest(b, []byte("benchmark"), &timestamp.RequestOptions{Certificates: true, Nonce: big.NewInt(1 << 62)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Timestamp(req); err != nil {
			b.Fatal(err)
		}
	}
}
