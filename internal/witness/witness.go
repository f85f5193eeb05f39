// Package witness is a transparency log witness per C2SP tlog-witness
// (https://github.com/C2SP/C2SP/blob/main/tlog-witness.md): logs submit
// each new checkpoint with a consistency proof from the last one the
// witness cosigned, and the witness cosigns it per C2SP tlog-cosignature
// (https://github.com/C2SP/C2SP/blob/main/tlog-cosignature.md, Ed25519,
// signature type 0x04) only if it extends that one:
//
//	POST /add-checkpoint          old size, proof lines, checkpoint → cosignature lines
//	GET  /<sha256(origin)>/checkpoint
//	                              the latest cosigned checkpoint of a log
//
// Answers, as the spec requires: 404 for a log it does not know, 403 when
// no signature by the log's key verifies, 400 for a malformed request or an
// old size above the checkpoint's, 409 with the size it has (Content-Type
// text/x.tlog.size) when the old size is not the size it last cosigned, 422
// when the proof does not verify or the same size comes with another root.
// A log that rolls back (an old size below the one cosigned) gets 409; a
// log that forks gets 422: neither is ever cosigned.
//
// The witness keeps, per log, the latest checkpoint it cosigned in
// Config.Dir/logs, written durably before it answers; checking the old size
// and recording the new checkpoint happen under one lock. Its key is an
// Ed25519 key in Config.Dir/witness-key.pem; its verifier key is written to
// Config.Dir/witness.vkey at each start.
package witness

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/keyfile"
	"hallmark.dev/tlog"
)

// Files in Config.Dir.
const (
	KeyFile  = "witness-key.pem"
	VKeyFile = "witness.vkey"
	logsDir  = "logs"
)

// Protocol limits of tlog-witness.
const (
	maxProofLines = 63
	maxBody       = 64 << 10
)

// Config configures a Witness.
type Config struct {
	// Dir holds the witness's key and state, created (mode 0700) if
	// missing.
	Dir string
	// Name is the witness's name in its cosignature lines, a schema-less
	// URL ("witness.example/w1").
	Name string
	// Logs are the logs the witness accepts checkpoints of, by origin; a
	// log may have several keys.
	Logs []tlog.PolicyLog
	// Logger receives one record per cosigned or refused checkpoint; nil
	// discards them.
	Logger *slog.Logger
}

// Witness is a running witness. It is safe for concurrent use.
type Witness struct {
	cfg    Config
	signer note.Signer
	vkey   string
	logs   map[string][]note.Verifier

	mu sync.Mutex // held while checking and recording a checkpoint
}

// New loads the witness from cfg.Dir, creating its key on first start, and
// writes its verifier key to Dir/witness.vkey.
func New(cfg Config) (*Witness, error) {
	if cfg.Dir == "" {
		return nil, errors.New("witness: no directory")
	}
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, " \t\n+") {
		return nil, fmt.Errorf("witness: name %q must be a non-empty schema-less URL without spaces or '+'", cfg.Name)
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("witness: no logs to witness")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, logsDir), 0o700); err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	key, err := keyfile.LoadOrCreate(filepath.Join(cfg.Dir, KeyFile), func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("witness key %s: want ed25519, got %T", KeyFile, key)
	}
	signer, vkey, err := tlog.NewCosignatureSigner(cfg.Name, priv)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	if err := keyfile.WriteFileAtomic(filepath.Join(cfg.Dir, VKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	w := &Witness{cfg: cfg, signer: signer, vkey: vkey, logs: map[string][]note.Verifier{}}
	for _, l := range cfg.Logs {
		w.logs[l.Origin] = append(w.logs[l.Origin], l.Verifier)
	}
	return w, nil
}

// VerifierKey returns the witness's verifier key, for policies' witness
// lines.
func (w *Witness) VerifierKey() string { return w.vkey }

// Error is a refusal of add-checkpoint: the HTTP status to answer, and for
// 409 the size the witness last cosigned.
type Error struct {
	Status int
	Size   uint64
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func refuse(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// AddCheckpoint handles an add-checkpoint request body and returns the
// cosignature lines to answer with. Refusals are *Error.
func (w *Witness) AddCheckpoint(body []byte) ([]byte, error) {
	old, proof, signed, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	origin, _, _ := bytes.Cut(signed, []byte("\n"))
	vs, ok := w.logs[string(origin)]
	if !ok {
		return nil, refuse(http.StatusNotFound, "unknown log %q", origin)
	}
	n, err := note.Open(signed, note.VerifierList(vs...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, refuse(http.StatusForbidden, "checkpoint of %q carries no valid signature by the log's key", origin)
		}
		return nil, refuse(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	cp, err := tlog.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	if old > cp.Size {
		return nil, refuse(http.StatusBadRequest, "old size %d is above the checkpoint's size %d", old, cp.Size)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	last, err := w.latest(cp.Origin)
	if err != nil {
		return nil, err
	}
	if old != last.Size {
		w.cfg.Logger.Warn("witness: refused a checkpoint: old size is not the size cosigned", "origin", cp.Origin, "old", old, "cosigned", last.Size, "size", cp.Size)
		return nil, &Error{Status: http.StatusConflict, Size: last.Size, Msg: fmt.Sprintf("the latest checkpoint cosigned for %q has size %d, not %d", cp.Origin, last.Size, old)}
	}
	switch {
	case cp.Size == 0 && !bytes.Equal(cp.Hash, tlog.EmptyRoot()):
		return nil, refuse(http.StatusUnprocessableEntity, "a checkpoint of size 0 must have the empty tree's root")
	case old == 0 && len(proof) != 0:
		return nil, refuse(http.StatusUnprocessableEntity, "a proof from size 0 must be empty")
	case old == 0:
	case old == cp.Size:
		if !bytes.Equal(cp.Hash, last.Hash) {
			w.cfg.Logger.Warn("witness: refused a fork: same size, another root", "origin", cp.Origin, "size", cp.Size, "checkpoint", string(signed))
			return nil, refuse(http.StatusUnprocessableEntity, "size %d was cosigned with another root hash: the log forked", cp.Size)
		}
	default:
		if err := tlog.VerifyConsistency(old, cp.Size, proof, last.Hash, cp.Hash); err != nil {
			w.cfg.Logger.Warn("witness: refused an inconsistent checkpoint", "origin", cp.Origin, "old", old, "size", cp.Size, "error", err, "checkpoint", string(signed))
			return nil, refuse(http.StatusUnprocessableEntity, "%v", err)
		}
	}
	cosigned, err := note.Sign(n, w.signer)
	if err != nil {
		return nil, fmt.Errorf("witness: cosigning: %w", err)
	}
	if err := keyfile.WriteFileAtomic(w.statePath(cp.Origin), cosigned, 0o644); err != nil {
		return nil, fmt.Errorf("witness: recording the checkpoint: %w", err)
	}
	w.cfg.Logger.Info("witness: cosigned", "origin", cp.Origin, "size", cp.Size)
	return ownLines(cosigned, w.signer.Name()), nil
}

// latest returns the checkpoint last cosigned for origin, size 0 if none.
func (w *Witness) latest(origin string) (tlog.Checkpoint, error) {
	data, err := os.ReadFile(w.statePath(origin))
	if errors.Is(err, fs.ErrNotExist) {
		return tlog.Checkpoint{Origin: origin, Hash: tlog.EmptyRoot()}, nil
	}
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("witness: reading state: %w", err)
	}
	n, err := note.Open(data, note.VerifierList(w.logs[origin]...))
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("witness: the recorded checkpoint of %q no longer verifies with its keys: %w", origin, err)
	}
	return tlog.ParseCheckpoint([]byte(n.Text))
}

func (w *Witness) statePath(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(w.cfg.Dir, logsDir, hex.EncodeToString(sum[:]))
}

// ownLines returns the signature lines of a signed note made by the key
// named name.
func ownLines(signed []byte, name string) []byte {
	var out []byte
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	for _, l := range bytes.SplitAfter(sigs, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("— "+name+" ")) {
			out = append(out, l...)
		}
	}
	return out
}

// parseRequest splits an add-checkpoint body into the old size, the proof
// and the checkpoint.
func parseRequest(body []byte) (uint64, [][]byte, []byte, error) {
	bad := func(format string, args ...any) (uint64, [][]byte, []byte, error) {
		return 0, nil, nil, refuse(http.StatusBadRequest, format, args...)
	}
	first, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return bad("no old size line")
	}
	num, ok := bytes.CutPrefix(first, []byte("old "))
	if !ok || len(num) == 0 || (len(num) > 1 && num[0] == '0') {
		return bad("the first line must be \"old <size>\"")
	}
	old, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return bad("old size %q is not a decimal number", num)
	}
	var proof [][]byte
	for {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return bad("no empty line before the checkpoint")
		}
		rest = after
		if len(line) == 0 {
			break
		}
		if len(proof) == maxProofLines {
			return bad("more than %d proof lines", maxProofLines)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != tlog.HashSize {
			return bad("proof line %d is not a base64 hash", len(proof)+1)
		}
		proof = append(proof, h)
	}
	return old, proof, rest, nil
}

// Handler serves the tlog-witness API.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.serveAdd)
	mux.HandleFunc("GET /{hash}/checkpoint", w.serveCheckpoint)
	return mux
}

func (w *Witness) serveAdd(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxBody))
	if err != nil {
		http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	lines, err := w.AddCheckpoint(body)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			w.cfg.Logger.Error("witness: add-checkpoint", "error", err)
			http.Error(rw, "internal error", http.StatusInternalServerError)
			return
		}
		if e.Status == http.StatusConflict {
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", e.Size)
			return
		}
		http.Error(rw, e.Msg, e.Status)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(lines)
}

func (w *Witness) serveCheckpoint(rw http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if b, err := hex.DecodeString(hash); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != hash {
		http.NotFound(rw, r)
		return
	}
	w.mu.Lock()
	data, err := os.ReadFile(filepath.Join(w.cfg.Dir, logsDir, hash))
	w.mu.Unlock()
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-cache")
	rw.Write(data)
}

// Serve serves the witness on l until ctx is done, then shuts down
// gracefully.
func (w *Witness) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           w.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(w.cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(shutdown)
	}
}
