package tsa_test

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"hallmark.dev/internal/tsa"
)

// FuzzTimestamp feeds arbitrary bytes to Timestamp. The property: it never
// fails (with a working clock and randomness) and always answers with a
// TimeStampResp; when that grants a token, the request is one digitorus
// parses too, and the token carries its hash algorithm, hashed message and
// nonce, and the chain exactly when certReq asked for it; otherwise it is a
// rejection with a single PKIFailureInfo bit.
func FuzzTimestamp(f *testing.F) {
	var seeds [][]byte
	for _, o := range []*timestamp.RequestOptions{
		nil,
		{Hash: crypto.SHA256, Certificates: true},
		{Hash: crypto.SHA384, Nonce: big.NewInt(1)},
		{Hash: crypto.SHA512, Certificates: true, Nonce: new(big.Int).Lsh(big.NewInt(1), 200)},
		{Hash: crypto.SHA256, TSAPolicyOID: policy},
	} {
		seeds = append(seeds, createRequest(f, []byte("seed"), o))
	}
	for _, tc := range refusalCases(f) {
		seeds = append(seeds, tc.req)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	a, err := tsa.New(tsa.Config{Dir: f.TempDir(), Now: fixedClock(testTime)})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	chainLen := len(a.CertChain())

	f.Fuzz(func(t *testing.T, req []byte) {
		resp, err := a.Timestamp(req)
		if err != nil {
			t.Fatalf("Timestamp: %v", err)
		}
		st := parseStatus(t, resp)
		switch st.Status {
		case 0:
			want, err := timestamp.ParseRequest(req)
			if err != nil {
				t.Fatalf("granted a request digitorus rejects: %v", err)
			}
			got, err := timestamp.ParseResponse(resp)
			if err != nil {
				t.Fatalf("granted response does not parse: %v", err)
			}
			if got.HashAlgorithm != want.HashAlgorithm || !bytes.Equal(got.HashedMessage, want.HashedMessage) {
				t.Errorf("imprint: got %v %x, want %v %x", got.HashAlgorithm, got.HashedMessage, want.HashAlgorithm, want.HashedMessage)
			}
			if (got.Nonce == nil) != (want.Nonce == nil) || (want.Nonce != nil && got.Nonce.Cmp(want.Nonce) != 0) {
				t.Errorf("nonce: got %v, want %v", got.Nonce, want.Nonce)
			}
			if wantCerts := map[bool]int{true: chainLen}[want.Certificates]; len(got.Certificates) != wantCerts {
				t.Errorf("certificates: got %d, want %d (certReq %v)", len(got.Certificates), wantCerts, want.Certificates)
			}
			if !got.Time.Equal(testTime.Truncate(time.Second)) {
				t.Errorf("time: got %v, want %v", got.Time, testTime.Truncate(time.Second))
			}
		case 2:
			if bits := failBits(st.FailInfo); len(bits) != 1 {
				t.Errorf("rejection with PKIFailureInfo bits %v, want one", bits)
			}
			if _, err := timestamp.ParseResponse(resp); err == nil {
				t.Errorf("ParseResponse of a rejection: got no error")
			}
		default:
			t.Fatalf("PKIStatus: got %d, want 0 or 2", st.Status)
		}
	})
}

// FuzzJSONRequest feeds arbitrary bodies to the handler as JSON requests.
// The property: the answer is a TimeStampResp with status 200 or 400; when
// it grants a token, the token's hashed message is the request's
// artifactHash.
func FuzzJSONRequest(f *testing.F) {
	for _, s := range []string{
		`{"artifactHash":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","hashAlgorithm":"sha256","certificates":true,"nonce":42}`,
		`{"artifactHash":"` + base64.StdEncoding.EncodeToString(make([]byte, 48)) + `","hashAlgorithm":"SHA384","tsaPolicyOID":"1.3.6.1.4.1.57264.2"}`,
		`{"artifactHash":"` + base64.StdEncoding.EncodeToString(make([]byte, 20)) + `","hashAlgorithm":"sha1"}`,
		`{"artifactHash":"AA==","hashAlgorithm":"sha512","nonce":-1}`,
		`{"tsaPolicyOID":"1.2.3.4"}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	a, err := tsa.New(tsa.Config{Dir: f.TempDir(), Now: fixedClock(testTime)})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	h := a.Handler()

	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/timestamp", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if len(body) > tsa.MaxJSONRequestSize {
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status for %d bytes: got %d, want 413", len(body), w.Code)
			}
			return
		}
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("status: got %d, want 200 or 400; body %q", w.Code, w.Body.Bytes())
		}
		st := parseStatus(t, w.Body.Bytes())
		if st.Status != 0 {
			return
		}
		var req struct {
			ArtifactHash string `json:"artifactHash"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("granted a body that is not JSON: %v", err)
		}
		digest, err := base64.StdEncoding.DecodeString(req.ArtifactHash)
		if err != nil {
			t.Fatalf("granted an artifactHash that is not base64: %v", err)
		}
		ts, err := timestamp.ParseResponse(w.Body.Bytes())
		if err != nil {
			t.Fatalf("granted response does not parse: %v", err)
		}
		if !bytes.Equal(ts.HashedMessage, digest) {
			t.Errorf("hashed message: got %x, want %x", ts.HashedMessage, digest)
		}
	})
}
