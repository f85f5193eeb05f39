package ctlog

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
)

// Handler serves the Static CT API at paths relative to the log's prefix
// (mount it with http.StripPrefix): /ct/v1/add-chain, /ct/v1/add-pre-chain,
// /ct/v1/get-roots, /checkpoint, /tile/..., /issuer/<fingerprint>.
func (l *Log) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ct/v1/add-chain", func(w http.ResponseWriter, r *http.Request) { l.serveAdd(w, r, false) })
	mux.HandleFunc("POST /ct/v1/add-pre-chain", func(w http.ResponseWriter, r *http.Request) { l.serveAdd(w, r, true) })
	mux.HandleFunc("GET /ct/v1/get-roots", l.serveRoots)
	mux.HandleFunc("GET /checkpoint", l.serveCheckpoint)
	mux.HandleFunc("GET /tile/{path...}", l.serveTile)
	mux.HandleFunc("GET /issuer/{fp}", l.serveIssuer)
	return mux
}

func (l *Log) serveAdd(w http.ResponseWriter, r *http.Request, precert bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		http.Error(w, "reading request: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var req ct.AddChainRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "request is not an add-chain JSON object: "+err.Error(), http.StatusBadRequest)
		return
	}
	chain := make([]*x509.Certificate, 0, len(req.Chain))
	for i, der := range req.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			http.Error(w, fmt.Sprintf("chain[%d]: %v", i, err), http.StatusBadRequest)
			return
		}
		chain = append(chain, c)
	}
	sct, err := l.addChain(r.Context(), chain, precert)
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidChain):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, ErrClosed), errors.Is(err, tessera.ErrPushback), errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "ct log busy or closing; retry", http.StatusServiceUnavailable)
		return
	default:
		l.cfg.Logger.ErrorContext(r.Context(), "ct log: adding a chain", "error", err)
		http.Error(w, "failed to log the chain", http.StatusInternalServerError)
		return
	}
	sig, err := cttls.Marshal(sct.Signature)
	if err != nil {
		http.Error(w, "encoding the sct", http.StatusInternalServerError)
		return
	}
	writeJSON(w, ct.AddChainResponse{
		SCTVersion: sct.SCTVersion,
		ID:         sct.LogID.KeyID[:],
		Timestamp:  sct.Timestamp,
		Extensions: base64.StdEncoding.EncodeToString(sct.Extensions),
		Signature:  sig,
	})
}

func (l *Log) serveRoots(w http.ResponseWriter, _ *http.Request) {
	var resp ct.GetRootsResponse
	for _, r := range l.cfg.Roots {
		resp.Certificates = append(resp.Certificates, base64.StdEncoding.EncodeToString(r.Raw))
	}
	writeJSON(w, resp)
}

func (l *Log) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := l.reader.ReadCheckpoint(r.Context())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, "no checkpoint published yet", http.StatusNotFound)
			return
		}
		http.Error(w, "failed to read checkpoint", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(cp)
}

// serveTile serves a tile or data tile; only a path that is canonical in
// the static-ct-api layout is served, so nothing the client sends reaches
// the filesystem.
func (l *Log) serveTile(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	var canonical string
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		index, width, err := layout.ParseTileIndexPartial(rest)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		canonical = "tile/data/" + layout.NWithSuffix(0, index, width)
	} else {
		level, rest, ok := strings.Cut(p, "/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		lv, index, width, err := layout.ParseTileLevelIndexPartial(level, rest)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		canonical = layout.TilePath(lv, index, width)
	}
	if canonical != "tile/"+p {
		http.NotFound(w, r)
		return
	}
	l.serveFile(w, r, canonical, "application/octet-stream")
}

func (l *Log) serveIssuer(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fp")
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 || hex.EncodeToString(b) != fp {
		http.NotFound(w, r)
		return
	}
	l.serveFile(w, r, issuersDir+"/"+fp, "application/pkix-cert")
}

func (l *Log) serveFile(w http.ResponseWriter, r *http.Request, rel, contentType string) {
	data, err := l.storage.Read(r.Context(), rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		l.cfg.Logger.ErrorContext(r.Context(), "ct log: reading", "path", rel, "error", err)
		http.Error(w, "failed to read", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(data)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
