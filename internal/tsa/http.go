package tsa

import (
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// MaxRequestSize is the largest DER request body, in bytes, the handler
// reads; larger bodies get 413. A TimeStampReq with a SHA-512 digest and a
// 160-bit nonce is about 100 bytes.
const MaxRequestSize = 64 << 10

// MaxJSONRequestSize is the largest JSON request body, in bytes, the
// handler reads; larger bodies get 413. It is small because decoding a
// decimal nonce costs time quadratic in its length.
const MaxJSONRequestSize = 4 << 10

// Media types of RFC 3161 §3.4, Sigstore's timestamp-authority and RFC 8555
// §9.1.
const (
	mediaTypeQuery     = "application/timestamp-query"
	mediaTypeReply     = "application/timestamp-reply"
	mediaTypeJSON      = "application/json"
	mediaTypeCertChain = "application/pem-certificate-chain"
)

// Handler returns the TSA's HTTP API: POST /api/v1/timestamp and
// GET /api/v1/timestamp/certchain, as the package documentation describes.
// Other methods on those paths get 405, other paths 404.
func (t *TSA) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/timestamp", t.serveTimestamp)
	mux.HandleFunc("GET /api/v1/timestamp/certchain", t.serveCertChain)
	return mux
}

func (t *TSA) serveTimestamp(w http.ResponseWriter, r *http.Request) {
	isJSON := false
	limit := int64(MaxRequestSize)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			http.Error(w, "tsa: malformed Content-Type", http.StatusUnsupportedMediaType)
			return
		case mt == mediaTypeQuery:
		case mt == mediaTypeJSON:
			isJSON, limit = true, MaxJSONRequestSize
		default:
			http.Error(w, "tsa: unsupported Content-Type "+strconv.Quote(mt)+"; want "+mediaTypeQuery+" or "+mediaTypeJSON, http.StatusUnsupportedMediaType)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "tsa: request larger than "+strconv.FormatInt(limit, 10)+" bytes", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "tsa: reading the request failed", http.StatusBadRequest)
		return
	}

	var (
		resp []byte
		ref  *refusal
	)
	if isJSON {
		req, jsonRef := parseJSONRequest(body)
		if jsonRef != nil {
			ref = jsonRef
			resp, err = refusalResponse(ref)
		} else {
			resp, ref, err = t.grant(req)
		}
	} else {
		resp, ref, err = t.answer(body)
	}
	if err != nil {
		t.logger.ErrorContext(r.Context(), "tsa: cannot issue a timestamp", "err", err)
		resp, err = refusalResponse(&refusal{info: failSystemFailure, reason: "internal error"})
		if err != nil {
			http.Error(w, "tsa: internal error", http.StatusInternalServerError)
			return
		}
		writeReply(w, http.StatusInternalServerError, resp)
		return
	}
	status := http.StatusOK
	if ref != nil {
		t.logger.DebugContext(r.Context(), "tsa: refused a request", "failInfo", ref.info.String(), "reason", ref.reason)
		if ref.malformed {
			status = http.StatusBadRequest
		}
	}
	writeReply(w, status, resp)
}

func writeReply(w http.ResponseWriter, status int, resp []byte) {
	w.Header().Set("Content-Type", mediaTypeReply)
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(status)
	w.Write(resp) // an error here means the client went away
}

func (t *TSA) serveCertChain(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", mediaTypeCertChain)
	w.Header().Set("Content-Length", strconv.Itoa(len(t.chainPEM)))
	w.Write(t.chainPEM) // an error here means the client went away
}

// jsonRequest is the JSON request of Sigstore's timestamp-authority.
type jsonRequest struct {
	ArtifactHash  string   `json:"artifactHash"`  // base64 (standard, padded) digest
	HashAlgorithm string   `json:"hashAlgorithm"` // sha256, sha384 or sha512
	Certificates  bool     `json:"certificates"`
	Nonce         *big.Int `json:"nonce"`
	TSAPolicyOID  string   `json:"tsaPolicyOID"` // dotted decimal
}

// parseJSONRequest parses a JSON request into the request it stands for.
// Bodies that are not such a request are refused as malformed.
func parseJSONRequest(body []byte) (*request, *refusal) {
	var jr jsonRequest
	if err := json.Unmarshal(body, &jr); err != nil {
		return nil, malformed("request is not a JSON timestamp request: %v", err)
	}
	var oid asn1.ObjectIdentifier
	switch strings.ToLower(jr.HashAlgorithm) {
	case "sha256":
		oid = oidSHA256
	case "sha384":
		oid = oidSHA384
	case "sha512":
		oid = oidSHA512
	case "sha1":
		oid = oidSHA1
	default:
		return nil, refuse(failBadAlg, "unsupported hash algorithm %q; use sha256, sha384 or sha512", jr.HashAlgorithm)
	}
	digest, err := base64.StdEncoding.DecodeString(jr.ArtifactHash)
	if err != nil {
		return nil, malformed("artifactHash is not base64: %v", err)
	}
	var policy asn1.ObjectIdentifier
	if jr.TSAPolicyOID != "" {
		if policy, err = parseOID(jr.TSAPolicyOID); err != nil {
			return nil, malformed("tsaPolicyOID: %v", err)
		}
	}
	req, err := newImprintRequest(oid, digest, jr.Nonce, jr.Certificates, policy)
	if err != nil {
		return nil, malformed("%v", err)
	}
	return req, nil
}

// parseOID parses a dotted-decimal object identifier.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errors.New("object identifier needs two components at least")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil || (len(p) > 1 && p[0] == '0') {
			return nil, errors.New("object identifier " + strconv.Quote(s) + " is not dotted decimal")
		}
		oid[i] = int(n)
	}
	return oid, nil
}
