package logserver_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorv1 "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/encoding/protojson"

	"hallmark.dev/internal/logserver"
	"hallmark.dev/tlog"
)

// testOrigin is the host of every httptest server, and so the origin
// sigstore-go expects of a log served by one.
const testOrigin = "127.0.0.1"

// testLog is a Log served over loopback HTTP.
type testLog struct {
	*logserver.Log
	srv *httptest.Server
	dir string
	// unpublished marks a log closed with entries it could not publish:
	// its Close error is expected.
	unpublished bool
}

// startLog opens a log in dir (a new temporary directory if empty) and
// serves it; both stop when the test ends, unless closed before.
func startLog(t *testing.T, dir string, edit func(*logserver.Config)) *testLog {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := logserver.Config{Dir: dir, Origin: testOrigin}
	if edit != nil {
		edit(&cfg)
	}
	l, err := logserver.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(l.Handler())
	tl := &testLog{Log: l, srv: srv, dir: dir}
	t.Cleanup(func() { tl.close(t) })
	return tl
}

func (tl *testLog) close(t *testing.T) {
	t.Helper()
	tl.srv.Close()
	if err := tl.Close(); err != nil && !tl.unpublished {
		t.Errorf("Close: %v", err)
	}
}

// trustedRoot returns a sigstore-go trusted root holding only this log,
// built through trusted_root.json as a client would read it.
func (tl *testLog) trustedRoot(t *testing.T) *root.TrustedRoot {
	t.Helper()
	inst, err := tl.TransparencyLogInstance(tl.srv.URL, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatalf("TransparencyLogInstance: %v", err)
	}
	return trustedRootWith(t, inst)
}

func trustedRootWith(t *testing.T, tlogs ...*prototrustroot.TransparencyLogInstance) *root.TrustedRoot {
	t.Helper()
	data, err := protojson.Marshal(&prototrustroot.TrustedRoot{MediaType: root.TrustedRootMediaType01, Tlogs: tlogs})
	if err != nil {
		t.Fatalf("marshaling trusted root: %v", err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		t.Fatalf("NewTrustedRootFromJSON: %v", err)
	}
	return tr
}

// signedRequest returns a valid hashedrekord request over msg, signed with
// a new ECDSA P-256 key.
func signedRequest(t testing.TB, msg []byte) *rekorpb.HashedRekordRequestV002 {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	return signedRequestWith(t, key, msg)
}

func signedRequestWith(t testing.TB, key *ecdsa.PrivateKey, msg []byte) *rekorpb.HashedRekordRequestV002 {
	t.Helper()
	digest := sha256.Sum256(msg)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatalf("MarshalPKIXPublicKey: %v", err)
	}
	return &rekorpb.HashedRekordRequestV002{
		Digest: digest[:],
		Signature: &rekorpb.Signature{
			Content: sig,
			Verifier: &rekorpb.Verifier{
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
				Verifier:   &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: der}},
			},
		},
	}
}

func requestJSON(t testing.TB, hr *rekorpb.HashedRekordRequestV002) []byte {
	t.Helper()
	b, err := protojson.Marshal(&rekorpb.CreateEntryRequest{
		Spec: &rekorpb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: hr},
	})
	if err != nil {
		t.Fatalf("marshaling request: %v", err)
	}
	return b
}

// response is an answer to a POST.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (tl *testLog) post(t *testing.T, body []byte) response {
	t.Helper()
	resp, err := http.Post(tl.srv.URL+logserver.PathEntries, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// add posts a request that must succeed and returns its entry.
func (tl *testLog) add(t *testing.T, hr *rekorpb.HashedRekordRequestV002) *rekorv1.TransparencyLogEntry {
	t.Helper()
	r := tl.post(t, requestJSON(t, hr))
	if r.status != http.StatusCreated {
		t.Fatalf("POST: got status %d (%s), want 201", r.status, r.body)
	}
	tle := &rekorv1.TransparencyLogEntry{}
	if err := protojson.Unmarshal(r.body, tle); err != nil {
		t.Fatalf("parsing entry: %v", err)
	}
	return tle
}

// errorJSON is the error body the log answers with.
type errorJSON struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

func parseError(t *testing.T, body []byte) errorJSON {
	t.Helper()
	var e errorJSON
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// fetcher reads the log over HTTP, as a tlog-tiles client does, from
// <base>/api/v2/.
func (tl *testLog) fetcher(t *testing.T) *client.HTTPFetcher {
	t.Helper()
	u, err := url.Parse(tl.srv.URL + "/api/v2/")
	if err != nil {
		t.Fatalf("parsing url: %v", err)
	}
	f, err := client.NewHTTPFetcher(u, tl.srv.Client())
	if err != nil {
		t.Fatalf("NewHTTPFetcher: %v", err)
	}
	return f
}

// checkpoint fetches and verifies the log's checkpoint over HTTP.
func (tl *testLog) checkpoint(t *testing.T) (tlog.Checkpoint, []byte) {
	t.Helper()
	raw, err := tl.fetcher(t).ReadCheckpoint(context.Background())
	if err != nil {
		t.Fatalf("ReadCheckpoint: %v", err)
	}
	c, err := tlog.VerifyCheckpoint(raw, tl.Verifier())
	if err != nil {
		t.Fatalf("VerifyCheckpoint: %v", err)
	}
	return c, raw
}
