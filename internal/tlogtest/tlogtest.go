// Package tlogtest is an in-memory transparency log for tests: it signs
// checkpoints with an Ed25519 note key, proves consistency, and serves the
// C2SP tlog-tiles resources at the paths hallmark's log serves them
// (/api/v2/checkpoint, /api/v2/tile/...). A test can fork it, roll it back
// or switch what a Server serves, to check that witnesses and monitors catch
// a log that misbehaves. [NewWitness] makes the cosigning keys of such
// witnesses.
package tlogtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"hallmark.dev/tlog"
)

// Witness is a witness's cosigning key (C2SP tlog-cosignature) for tests.
type Witness struct {
	Name   string
	Signer note.Signer
	// VKey is the verifier key, as a witness policy names it.
	VKey string
}

// NewWitness returns a witness named name with a fresh Ed25519 key.
func NewWitness(t testing.TB, name string) Witness {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := tlog.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return Witness{Name: name, Signer: s, VKey: vkey}
}

// Log is an append-only (unless a test says otherwise) in-memory log.
type Log struct {
	Origin   string
	Verifier note.Verifier
	VKey     string
	Key      ed25519.PrivateKey

	mu      sync.Mutex
	signer  note.Signer
	entries [][]byte
	hashes  []sumdb.Hash
}

// New returns an empty log named origin with a fresh Ed25519 key.
func New(t testing.TB, origin string) *Log {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return WithKey(t, origin, key)
}

// WithKey returns an empty log named origin signing with key.
func WithKey(t testing.TB, origin string, key ed25519.PrivateKey) *Log {
	t.Helper()
	s, err := tlog.NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewNoteVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := tlog.VerifierKey(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &Log{Origin: origin, Verifier: v, VKey: vkey, Key: key, signer: s}
}

// Append adds entries.
func (l *Log) Append(t testing.TB, entries ...[]byte) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		hs, err := sumdb.StoredHashes(int64(len(l.entries)), e, l.reader())
		if err != nil {
			t.Fatal(err)
		}
		l.entries = append(l.entries, e)
		l.hashes = append(l.hashes, hs...)
	}
}

func (l *Log) reader() sumdb.HashReader {
	return sumdb.HashReaderFunc(func(idx []int64) ([]sumdb.Hash, error) {
		out := make([]sumdb.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(l.hashes)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = l.hashes[x]
		}
		return out, nil
	})
}

// Size is the number of entries.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

// Root returns the root hash of the tree of size n.
func (l *Log) Root(t testing.TB, n uint64) []byte {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	h, err := sumdb.TreeHash(int64(n), l.reader())
	if err != nil {
		t.Fatal(err)
	}
	return h[:]
}

// Checkpoint returns the signed checkpoint of the whole log.
func (l *Log) Checkpoint(t testing.TB) []byte {
	t.Helper()
	return l.CheckpointAt(t, l.Size())
}

// CheckpointAt returns the signed checkpoint of the tree of size n.
func (l *Log) CheckpointAt(t testing.TB, n uint64) []byte {
	t.Helper()
	signed, err := l.signedAt(n)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func (l *Log) signedAt(n uint64) ([]byte, error) {
	l.mu.Lock()
	h, err := sumdb.TreeHash(int64(n), l.reader())
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	text := tlog.Checkpoint{Origin: l.Origin, Size: n, Hash: h[:]}.Marshal()
	return note.Sign(&note.Note{Text: string(text)}, l.signer)
}

// ConsistencyProof proves the tree of size n extends the tree of size old.
func (l *Log) ConsistencyProof(t testing.TB, old, n uint64) [][]byte {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := sumdb.ProveTree(int64(n), int64(old), l.reader())
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// Fork returns a log with the same key and the same entries except the
// one at index, which is replaced: the split view a malicious log shows.
func (l *Log) Fork(t testing.TB, index uint64, replacement []byte) *Log {
	t.Helper()
	f := WithKey(t, l.Origin, l.Key)
	l.mu.Lock()
	entries := append([][]byte(nil), l.entries...)
	l.mu.Unlock()
	entries[index] = replacement
	f.Append(t, entries...)
	return f
}

// Truncate returns a log with the same key and the first n entries: the
// rolled-back view.
func (l *Log) Truncate(t testing.TB, n uint64) *Log {
	t.Helper()
	f := WithKey(t, l.Origin, l.Key)
	l.mu.Lock()
	entries := append([][]byte(nil), l.entries[:n]...)
	l.mu.Unlock()
	f.Append(t, entries...)
	return f
}

// Server serves a Log over HTTP; Set changes which one, so that one URL
// can show a client different views over time.
type Server struct {
	*httptest.Server
	mu   sync.Mutex
	view *Log
	cp   []byte // served instead of the view's checkpoint when set
}

// NewServer serves l until the test ends.
func NewServer(t testing.TB, l *Log) *Server {
	s := &Server{view: l}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Set serves l from now on.
func (s *Server) Set(l *Log) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view, s.cp = l, nil
}

// SetCheckpoint serves signed as the checkpoint from now on.
func (s *Server) SetCheckpoint(signed []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cp = signed
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	l, cp := s.view, s.cp
	s.mu.Unlock()
	p, ok := strings.CutPrefix(r.URL.Path, "/api/v2/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if p == "checkpoint" {
		if cp == nil {
			var err error
			if cp, err = l.signedAt(l.Size()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Write(cp)
		return
	}
	data, err := l.resource(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Write(data)
}

// resource returns a tile or entry bundle at a tlog-tiles path below
// tile/.
func (l *Log) resource(p string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return nil, fmt.Errorf("no such resource %q", p)
	}
	if er, ok := strings.CutPrefix(rest, "entries/"); ok {
		n, w, err := layout.ParseTileIndexPartial(er)
		if err != nil {
			return nil, err
		}
		width := uint64(w)
		if width == 0 {
			width = layout.EntryBundleWidth
		}
		start, end := n*layout.EntryBundleWidth, n*layout.EntryBundleWidth+width
		if end > uint64(len(l.entries)) {
			return nil, fmt.Errorf("bundle %d width %d beyond the log", n, w)
		}
		var out []byte
		for _, e := range l.entries[start:end] {
			out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
			out = append(out, e...)
		}
		return out, nil
	}
	level, ir, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, fmt.Errorf("no such tile %q", p)
	}
	lv, n, w, err := layout.ParseTileLevelIndexPartial(level, ir)
	if err != nil {
		return nil, err
	}
	width := int(w)
	if width == 0 {
		width = layout.TileWidth
	}
	t := sumdb.Tile{H: 8, L: int(lv), N: int64(n), W: width}
	// A tile exists only if the tree covers it.
	need := (int64(n)*256 + int64(width)) << (8 * lv)
	if need > int64(len(l.entries)) {
		return nil, fmt.Errorf("tile %s beyond the log", p)
	}
	return sumdb.ReadTileData(t, l.reader())
}

// RootOf is the RFC 6962 root hash of a tree of the leaves, in order.
func RootOf(t testing.TB, leaves [][]byte) []byte {
	t.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(l), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	return root
}
