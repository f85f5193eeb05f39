package logserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	rekorpb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
)

// Paths of the Rekor v2 API this log serves.
const (
	PathEntries    = "/api/v2/log/entries"
	PathCheckpoint = "/api/v2/checkpoint"
	PathTiles      = "/api/v2/tile/"
)

// duplicateHeader carries a duplicate entry's index, as in rekor-tiles.
const duplicateHeader = "X-Log-Index"

// Handler serves the log's HTTP API:
//
//	POST /api/v2/log/entries                  add an entry (Rekor v2)
//	GET  /api/v2/checkpoint                   the latest signed checkpoint
//	GET  /api/v2/tile/<L>/<N>[.p/<W>]         a Merkle tree tile
//	GET  /api/v2/tile/entries/<N>[.p/<W>]     an entry bundle
//
// Errors are answered as rekor-tiles' gateway answers them: a JSON body
// {"code": <gRPC code>, "message": "...", "details": []} with the matching
// HTTP status.
func (l *Log) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathEntries, l.serveAdd)
	mux.HandleFunc("GET "+PathCheckpoint, l.serveCheckpoint)
	mux.HandleFunc("GET "+PathTiles+"{path...}", l.serveTile)
	return mux
}

func (l *Log) serveAdd(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, l.cfg.MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, codes.InvalidArgument,
				"request body larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes")
			return
		}
		writeError(w, http.StatusBadRequest, codes.InvalidArgument, "reading request body: "+err.Error())
		return
	}
	req := &rekorpb.CreateEntryRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		writeError(w, http.StatusBadRequest, codes.InvalidArgument,
			"invalid CreateEntryRequest json: "+strings.TrimPrefix(err.Error(), "proto: "))
		return
	}
	tle, dup, err := l.add(r.Context(), req)
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidEntry):
		l.logger().DebugContext(r.Context(), "entry rejected", "error", err)
		writeError(w, http.StatusBadRequest, codes.InvalidArgument, err.Error())
		return
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, codes.Unavailable, "log closed")
		return
	case errors.Is(err, tessera.ErrPushback):
		writeError(w, http.StatusServiceUnavailable, codes.Unavailable, "log is busy; retry")
		return
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, codes.Unavailable, "timed out waiting for the entry to be published; retry")
		return
	case errors.Is(err, context.Canceled):
		writeError(w, 499, codes.Canceled, "request canceled")
		return
	default:
		l.logger().ErrorContext(r.Context(), "adding an entry", "error", err)
		writeError(w, http.StatusInternalServerError, codes.Unknown, "failed to integrate entry")
		return
	}
	body, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(tle)
	if err != nil {
		l.logger().ErrorContext(r.Context(), "encoding an entry", "error", err)
		writeError(w, http.StatusInternalServerError, codes.Unknown, "failed to encode entry")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if dup {
		w.Header().Set(duplicateHeader, strconv.FormatInt(tle.GetLogIndex(), 10))
	}
	w.WriteHeader(http.StatusCreated)
	w.Write(body) // An error means the client went away; nothing to do.
}

func (l *Log) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := l.reader.ReadCheckpoint(r.Context())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			writeError(w, http.StatusNotFound, codes.NotFound, "no checkpoint published yet")
			return
		}
		l.logger().ErrorContext(r.Context(), "reading the checkpoint", "error", err)
		writeError(w, http.StatusInternalServerError, codes.Unknown, "failed to read checkpoint")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(cp) // An error means the client went away; nothing to do.
}

// serveTile serves a tile or an entry bundle. The path is parsed into
// coordinates and rebuilt in tessera's layout; only a path that is already
// canonical is served, so nothing the client sends reaches the filesystem.
func (l *Log) serveTile(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	canonical, ok := tilePath(p)
	if !ok || canonical != "tile/"+p {
		writeError(w, http.StatusNotFound, codes.NotFound, "no such tile")
		return
	}
	data, err := l.storage.Read(r.Context(), canonical)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusNotFound, codes.NotFound, "no such tile")
			return
		}
		l.logger().ErrorContext(r.Context(), "reading a tile", "path", canonical, "error", err)
		writeError(w, http.StatusInternalServerError, codes.Unknown, "failed to read tile")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// A tile or bundle at a given path never changes; partial ones may
	// later be removed, never rewritten.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(data) // An error means the client went away; nothing to do.
}

// tilePath parses p, a tlog-tiles path below tile/, and returns the path
// tessera stores that resource at.
func tilePath(p string) (string, bool) {
	if rest, ok := strings.CutPrefix(p, "entries/"); ok {
		index, width, err := layout.ParseTileIndexPartial(rest)
		if err != nil {
			return "", false
		}
		return layout.EntriesPath(index, width), true
	}
	level, rest, ok := strings.Cut(p, "/")
	if !ok {
		return "", false
	}
	lv, index, width, err := layout.ParseTileLevelIndexPartial(level, rest)
	if err != nil {
		return "", false
	}
	return layout.TilePath(lv, index, width), true
}

// errorBody is the error JSON of rekor-tiles' HTTP gateway (a google.rpc
// Status).
type errorBody struct {
	Code    codes.Code `json:"code"`
	Message string     `json:"message"`
	Details []any      `json:"details"`
}

func writeError(w http.ResponseWriter, status int, code codes.Code, message string) {
	b, err := json.Marshal(errorBody{Code: code, Message: message, Details: []any{}})
	if err != nil {
		// A code and a string always marshal; this is unreachable.
		b = []byte(`{"code":2,"message":"unknown error","details":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b) // An error means the client went away; nothing to do.
}
