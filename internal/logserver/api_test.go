package logserver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorv1 "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"hallmark.dev/internal/logserver"
	"hallmark.dev/tlog"
)

// TestAddResponse checks the answer field by field against what
// rekor-tiles answers and what a client recomputes.
func TestAddResponse(t *testing.T) {
	tl := startLog(t, "", nil)
	hr := signedRequest(t, []byte("artifact"))
	r := tl.post(t, requestJSON(t, hr))
	if r.status != http.StatusCreated {
		t.Fatalf("got status %d (%s), want 201", r.status, r.body)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := r.header.Get("X-Log-Index"); got != "" {
		t.Errorf("X-Log-Index = %q on a new entry, want none", got)
	}
	tle := &rekorv1.TransparencyLogEntry{}
	if err := protojson.Unmarshal(r.body, tle); err != nil {
		t.Fatalf("parsing entry: %v", err)
	}
	// The leaf is the canonical body that sigstore-go rebuilds from the
	// signature, key and digest.
	want, err := hashedrekord.ToEntryHash(hr.Digest, hr.Signature)
	if err != nil {
		t.Fatalf("ToEntryHash: %v", err)
	}
	if got := tlog.LeafHash(tle.CanonicalizedBody); !bytes.Equal(got, want) {
		t.Errorf("leaf hash of canonicalizedBody = %x, want %x (rekor-tiles reconstruction)", got, want)
	}
	if tle.LogIndex != 0 || tle.InclusionProof.LogIndex != 0 {
		t.Errorf("logIndex = %d/%d, want 0", tle.LogIndex, tle.InclusionProof.LogIndex)
	}
	c, err := tlog.VerifyCheckpoint([]byte(tle.InclusionProof.Checkpoint.Envelope), tl.Verifier())
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if c.Size != uint64(tle.InclusionProof.TreeSize) || !bytes.Equal(c.Hash, tle.InclusionProof.RootHash) {
		t.Errorf("proof is for size %d root %x, checkpoint for %d %x", tle.InclusionProof.TreeSize, tle.InclusionProof.RootHash, c.Size, c.Hash)
	}
	if err := tlog.VerifyInclusion(want, 0, c.Size, tle.InclusionProof.Hashes, c.Hash); err != nil {
		t.Errorf("inclusion: %v", err)
	}
	// Field names and presence as rekor-tiles' gateway writes them
	// (protojson, unpopulated fields emitted).
	for _, field := range []string{`"logIndex":"0"`, `"logId":{"keyId":"`, `"kindVersion":{"kind":"hashedrekord","version":"0.0.2"}`,
		`"integratedTime":"0"`, `"inclusionProof":{`, `"checkpoint":{"envelope":"`, `"canonicalizedBody":"`} {
		if !bytes.Contains(compactJSON(t, r.body), []byte(field)) {
			t.Errorf("response %s lacks %s", r.body, field)
		}
	}
}

func compactJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	// protojson may add spaces after separators; strip them outside strings.
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"' && (i == 0 || b[i-1] != '\\'):
			inString = !inString
		case !inString && (c == ' ' || c == '\n'):
			continue
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

func TestDuplicates(t *testing.T) {
	tl := startLog(t, "", nil)
	tl.add(t, signedRequest(t, []byte("first")))
	hr := signedRequest(t, []byte("twice"))
	first := tl.add(t, hr)

	t.Run("sequential", func(t *testing.T) {
		r := tl.post(t, requestJSON(t, hr))
		if r.status != http.StatusCreated {
			t.Fatalf("got status %d (%s), want 201", r.status, r.body)
		}
		if got, want := r.header.Get("X-Log-Index"), strconv.FormatInt(first.LogIndex, 10); got != want {
			t.Errorf("X-Log-Index = %q, want %q", got, want)
		}
		again := &rekorv1.TransparencyLogEntry{}
		if err := protojson.Unmarshal(r.body, again); err != nil {
			t.Fatalf("parsing entry: %v", err)
		}
		if again.LogIndex != first.LogIndex || !bytes.Equal(again.CanonicalizedBody, first.CanonicalizedBody) {
			t.Errorf("duplicate got index %d, want the original %d", again.LogIndex, first.LogIndex)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		before, _ := tl.checkpoint(t)
		hr := signedRequest(t, []byte("many times at once"))
		const n = 16
		indexes := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tle, err := tl.Add(context.Background(), hr)
				if err != nil {
					t.Errorf("Add: %v", err)
					return
				}
				indexes[i] = tle.LogIndex
			})
		}
		wg.Wait()
		for i, idx := range indexes {
			if idx != indexes[0] {
				t.Errorf("request %d got index %d, request 0 got %d", i, idx, indexes[0])
			}
		}
		after, _ := tl.checkpoint(t)
		if after.Size != before.Size+1 {
			t.Errorf("tree grew from %d to %d, want one entry", before.Size, after.Size)
		}
	})
	t.Run("same signature, other key details", func(t *testing.T) {
		// A different canonical body is a different entry.
		other := proto.Clone(hr).(*rekorpb.HashedRekordRequestV002)
		other.Digest = bytes.Clone(hr.Digest)
		other.Digest[0] ^= 1
		if r := tl.post(t, requestJSON(t, other)); r.status != http.StatusBadRequest {
			t.Errorf("changed digest: got status %d, want 400 (signature no longer verifies)", r.status)
		}
	})
}

// selfSignedCert returns a certificate for key, as a keyless signer's
// Fulcio certificate would carry it.
func selfSignedCert(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	return der
}

func TestAddCertificateVerifier(t *testing.T) {
	tl := startLog(t, "", nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	hr := signedRequestWith(t, key, []byte("keyless"))
	hr.Signature.Verifier.Verifier = &rekorpb.Verifier_X509Certificate{
		X509Certificate: &protocommon.X509Certificate{RawBytes: selfSignedCert(t, key)},
	}
	tle := tl.add(t, hr)
	want, err := hashedrekord.ToEntryHash(hr.Digest, hr.Signature)
	if err != nil {
		t.Fatalf("ToEntryHash: %v", err)
	}
	if got := tlog.LeafHash(tle.CanonicalizedBody); !bytes.Equal(got, want) {
		t.Errorf("leaf hash = %x, want %x", got, want)
	}
}

func TestAddRejects(t *testing.T) {
	tl := startLog(t, "", func(c *logserver.Config) { c.MaxRequestBytes = 16 << 10 })
	valid := signedRequest(t, []byte("artifact"))
	mutate := func(f func(hr *rekorpb.HashedRekordRequestV002)) []byte {
		hr := proto.Clone(valid).(*rekorpb.HashedRekordRequestV002)
		f(hr)
		return requestJSON(t, hr)
	}
	otherKey := signedRequest(t, []byte("artifact")).Signature.Verifier
	dsse := `{"dsseRequestV002":{"envelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA","keyid":""}]},"verifiers":[]}}`
	tests := []struct {
		name    string
		body    []byte
		status  int
		message string
	}{
		{"signature by another key", mutate(func(hr *rekorpb.HashedRekordRequestV002) { hr.Signature.Verifier = otherKey }),
			400, "verifying signature"},
		{"signature flipped", mutate(func(hr *rekorpb.HashedRekordRequestV002) { hr.Signature.Content[10] ^= 1 }),
			400, "verifying signature"},
		{"digest of another artifact", mutate(func(hr *rekorpb.HashedRekordRequestV002) {
			d := sha256.Sum256([]byte("other"))
			hr.Digest = d[:]
		}), 400, "verifying signature"},
		{"short digest", mutate(func(hr *rekorpb.HashedRekordRequestV002) { hr.Digest = hr.Digest[:20] }),
			400, "digest length"},
		{"no signature", mutate(func(hr *rekorpb.HashedRekordRequestV002) { hr.Signature.Content = nil }),
			400, "missing signature"},
		{"no verifier", mutate(func(hr *rekorpb.HashedRekordRequestV002) { hr.Signature.Verifier = nil }),
			400, "missing verifier"},
		{"key details contradict the key", mutate(func(hr *rekorpb.HashedRekordRequestV002) {
			hr.Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384
		}), 400, "unsupported entry algorithm"},
		{"garbage key", mutate(func(hr *rekorpb.HashedRekordRequestV002) {
			hr.Signature.Verifier.Verifier = &rekorpb.Verifier_PublicKey{PublicKey: &rekorpb.PublicKey{RawBytes: []byte("nope")}}
		}), 400, "hashedrekord"},
		{"dsse entry", []byte(dsse), 400, "dsse entries are not accepted"},
		{"empty object", []byte(`{}`), 400, "the request has no entry"},
		{"empty hashedrekord", []byte(`{"hashedRekordRequestV002":{}}`), 400, "missing signature"},
		{"malformed json", []byte(`{"hashedRekordRequestV002":`), 400, "invalid CreateEntryRequest json"},
		{"not json", []byte("hello"), 400, "invalid CreateEntryRequest json"},
		{"empty body", nil, 400, "invalid CreateEntryRequest json"},
		{"unknown field", []byte(`{"hashedRekordRequestV002":{},"extra":1}`), 400, "unknown field"},
		{"wrong type", []byte(`{"hashedRekordRequestV002":{"digest":5}}`), 400, "invalid CreateEntryRequest json"},
		{"too large", append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 17<<10)...), 413, "request body larger than 16384 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tl.post(t, tt.body)
			if r.status != tt.status {
				t.Fatalf("got status %d (%s), want %d", r.status, r.body, tt.status)
			}
			e := parseError(t, r.body)
			if e.Code != 3 {
				t.Errorf("got code %d, want 3 (InvalidArgument)", e.Code)
			}
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("got message %q, want it to contain %q", e.Message, tt.message)
			}
			if e.Details == nil {
				t.Errorf("got no details array, want [] as rekor-tiles")
			}
		})
	}
	if c, _ := tl.checkpoint(t); c.Size != 0 {
		t.Errorf("rejected requests grew the log to %d entries", c.Size)
	}
}

func TestAddDirect(t *testing.T) {
	tl := startLog(t, "", nil)
	tests := []struct {
		name string
		req  any
		want error
	}{
		{"hashedrekord", signedRequest(t, []byte("a")), nil},
		{"create entry request", &rekorpb.CreateEntryRequest{Spec: &rekorpb.CreateEntryRequest_HashedRekordRequestV002{
			HashedRekordRequestV002: signedRequest(t, []byte("b"))}}, nil},
		{"nil hashedrekord", (*rekorpb.HashedRekordRequestV002)(nil), logserver.ErrInvalidEntry},
		{"create entry request with nil spec", &rekorpb.CreateEntryRequest{}, logserver.ErrInvalidEntry},
		{"create entry request with nil hashedrekord", &rekorpb.CreateEntryRequest{Spec: &rekorpb.CreateEntryRequest_HashedRekordRequestV002{}}, logserver.ErrInvalidEntry},
		{"other type", "entry", logserver.ErrInvalidEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tl.Add(context.Background(), tt.req)
			if !errors.Is(err, tt.want) {
				t.Errorf("Add: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAddAfterClose(t *testing.T) {
	tl := startLog(t, "", nil)
	tl.add(t, signedRequest(t, []byte("before")))
	if err := tl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := tl.Add(context.Background(), signedRequest(t, []byte("after"))); !errors.Is(err, logserver.ErrClosed) {
		t.Errorf("Add after Close: got %v, want ErrClosed", err)
	}
	r := tl.post(t, requestJSON(t, signedRequest(t, []byte("after"))))
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("POST after Close: got status %d, want 503", r.status)
	}
	if err := tl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestReadPath(t *testing.T) {
	tl := startLog(t, "", nil)
	// More than one entry bundle and one tile, added in parallel so that
	// they need few checkpoints.
	const n = 300
	tles := make([]*rekorv1.TransparencyLogEntry, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tle, err := tl.Add(context.Background(), signedRequest(t, fmt.Appendf(nil, "entry %d", i)))
			if err != nil {
				t.Errorf("Add: %v", err)
				return
			}
			tles[i] = tle
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	bodies := make([][]byte, n)
	for _, tle := range tles {
		bodies[tle.LogIndex] = tle.CanonicalizedBody
	}

	c, _ := tl.checkpoint(t)
	if c.Size != n {
		t.Fatalf("checkpoint size %d, want %d", c.Size, n)
	}
	f := tl.fetcher(t)
	ctx := context.Background()

	t.Run("entry bundles", func(t *testing.T) {
		for i := range uint64(n) {
			b, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, i/256, c.Size)
			if err != nil {
				t.Fatalf("GetEntryBundle(%d): %v", i/256, err)
			}
			if got := b.Entries[i%256]; !bytes.Equal(got, bodies[i]) {
				t.Fatalf("entry %d in bundle = %q, want %q", i, got, bodies[i])
			}
		}
	})
	t.Run("inclusion proofs from tiles", func(t *testing.T) {
		pb, err := client.NewProofBuilder(ctx, c.Size, f.ReadTile)
		if err != nil {
			t.Fatalf("NewProofBuilder: %v", err)
		}
		for i := range uint64(n) {
			p, err := pb.InclusionProof(ctx, i)
			if err != nil {
				t.Fatalf("InclusionProof(%d): %v", i, err)
			}
			if err := tlog.VerifyInclusion(tlog.LeafHash(bodies[i]), i, c.Size, p, c.Hash); err != nil {
				t.Fatal(err)
			}
		}
	})

	get := func(t *testing.T, path string) (int, http.Header, []byte) {
		t.Helper()
		resp, err := http.Get(tl.srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		return resp.StatusCode, resp.Header, b
	}
	tests := []struct {
		path   string
		status int
		ctype  string
		cache  string
	}{
		{"/api/v2/checkpoint", 200, "text/plain; charset=utf-8", "no-cache"},
		{"/api/v2/tile/0/000", 200, "application/octet-stream", "public, max-age=31536000, immutable"},
		{"/api/v2/tile/0/001.p/44", 200, "application/octet-stream", "public, max-age=31536000, immutable"},
		{"/api/v2/tile/1/000.p/1", 200, "application/octet-stream", "public, max-age=31536000, immutable"},
		{"/api/v2/tile/entries/000", 200, "application/octet-stream", "public, max-age=31536000, immutable"},
		{"/api/v2/tile/entries/001.p/44", 200, "application/octet-stream", "public, max-age=31536000, immutable"},
		{"/api/v2/tile/0/002", 404, "application/json", ""},
		{"/api/v2/tile/0/001", 404, "application/json", ""},       // not full yet
		{"/api/v2/tile/0/0", 404, "application/json", ""},         // not canonical
		{"/api/v2/tile/0/x000/000", 404, "application/json", ""},  // not canonical
		{"/api/v2/tile/64/000", 404, "application/json", ""},      // level out of range
		{"/api/v2/tile/0/000.p/256", 404, "application/json", ""}, // width out of range
		{"/api/v2/tile/0/000.p/0", 404, "application/json", ""},   // width out of range
		{"/api/v2/tile/entries/../../log-key.pem", 404, "", ""},   // cleaned by the mux
		{"/api/v2/tile/entries/%2e%2e/%2e%2e/log-key.pem", 404, "", ""},
		{"/api/v2/tile/.state/treeState", 404, "application/json", ""},
		{"/api/v2/log-key.pem", 404, "", ""},
		{"/log-key.pem", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, h, body := get(t, tt.path)
			if status != tt.status {
				t.Fatalf("got status %d (%q), want %d", status, body, tt.status)
			}
			if tt.ctype != "" && h.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", h.Get("Content-Type"), tt.ctype)
			}
			if h.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", h.Get("Cache-Control"), tt.cache)
			}
			if bytes.Contains(body, []byte("PRIVATE KEY")) {
				t.Fatalf("served the private key")
			}
		})
	}
	t.Run("tile content", func(t *testing.T) {
		_, _, body := get(t, "/api/v2/tile/0/001.p/44")
		var tile api.HashTile
		if err := tile.UnmarshalText(body); err != nil {
			t.Fatalf("parsing tile: %v", err)
		}
		if len(tile.Nodes) != 44 || !bytes.Equal(tile.Nodes[0], tlog.LeafHash(bodies[256])) {
			t.Errorf("tile has %d nodes, first %x; want 44 starting with %x", len(tile.Nodes), tile.Nodes[0], tlog.LeafHash(bodies[256]))
		}
	})
	t.Run("methods", func(t *testing.T) {
		resp, err := http.Post(tl.srv.URL+"/api/v2/checkpoint", "text/plain", nil)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST checkpoint: got %d, want 405", resp.StatusCode)
		}
		resp, err = http.Get(tl.srv.URL + logserver.PathEntries)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET entries: got %d, want 405", resp.StatusCode)
		}
	})
}
