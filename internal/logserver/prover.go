package logserver

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/tlog"
)

// maxCachedTiles bounds the prover's cache: a full tile's pyramid is 511
// hashes, about 25 KiB with its slices.
const maxCachedTiles = 128

// tileReadTimeout bounds a tile read that several requests wait for.
const tileReadTimeout = 30 * time.Second

// prover builds inclusion proofs from the log's tiles, as tessera's
// client.ProofBuilder does, but shares its work between requests: a tile at
// given coordinates and width never changes, so the hashes of every perfect
// subtree inside it (its "pyramid") are computed once and cached. Under load,
// hundreds of requests prove against the same checkpoint and touch the same
// tiles near the right edge of the tree.
type prover struct {
	read     client.TileFetcherFunc
	maxTiles int

	mu      sync.Mutex
	tiles   map[tileID][][][]byte
	order   []tileID // insertion order, for eviction
	reading map[tileID]*tileRead
}

// tileRead is a read of a tile in progress: the requests that need the
// same tile meanwhile wait for it instead of reading it again (after each
// checkpoint every waiting request needs the new right-edge tiles, and on
// shared storage each read is a request to the object store).
type tileRead struct {
	done chan struct{}
	pyr  [][][]byte
	err  error
}

type tileID struct {
	level, index uint64
	width        uint8
}

func newProver(read client.TileFetcherFunc) *prover {
	return &prover{read: read, maxTiles: maxCachedTiles, tiles: make(map[tileID][][][]byte), reading: make(map[tileID]*tileRead)}
}

// inclusion returns the inclusion proof of index in the tree of size.
func (p *prover) inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		if hashes[i], err = p.node(ctx, id, size); err != nil {
			return nil, err
		}
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// node returns the hash of the perfect subtree id in the tree of size.
func (p *prover) node(ctx context.Context, id compact.NodeID, size uint64) ([]byte, error) {
	tileLevel, tileIndex, nodeLevel, nodeIndex := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
	t := tileID{tileLevel, tileIndex, layout.PartialTileSize(tileLevel, tileIndex, size)}
	pyr, err := p.pyramid(ctx, t)
	if err != nil {
		return nil, err
	}
	if nodeLevel >= uint(len(pyr)) || nodeIndex >= uint64(len(pyr[nodeLevel])) {
		return nil, fmt.Errorf("tile %d/%d (width %d) has no node %d at height %d", tileLevel, tileIndex, t.width, nodeIndex, nodeLevel)
	}
	return pyr[nodeLevel][nodeIndex], nil
}

// pyramid returns the hashes of the perfect subtrees of tile t, by height
// within the tile: pyr[0] are its leaves (the tile's hashes).
func (p *prover) pyramid(ctx context.Context, t tileID) ([][][]byte, error) {
	p.mu.Lock()
	if pyr, ok := p.tiles[t]; ok {
		p.mu.Unlock()
		return pyr, nil
	}
	if r, ok := p.reading[t]; ok {
		p.mu.Unlock()
		select {
		case <-r.done:
			return r.pyr, r.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r := &tileRead{done: make(chan struct{})}
	p.reading[t] = r
	p.mu.Unlock()

	// The read serves every waiter: one request's end must not fail it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tileReadTimeout)
	r.pyr, r.err = p.build(rctx, t)
	cancel()
	p.mu.Lock()
	delete(p.reading, t)
	if r.err == nil {
		if _, ok := p.tiles[t]; !ok {
			if len(p.order) >= p.maxTiles {
				delete(p.tiles, p.order[0])
				p.order = p.order[1:]
			}
			p.tiles[t] = r.pyr
			p.order = append(p.order, t)
		}
	}
	p.mu.Unlock()
	close(r.done)
	return r.pyr, r.err
}

// build reads tile t and computes its pyramid.
func (p *prover) build(ctx context.Context, t tileID) ([][][]byte, error) {
	raw, err := p.read(ctx, t.level, t.index, t.width)
	if err != nil {
		return nil, fmt.Errorf("reading tile %d/%d (width %d): %w", t.level, t.index, t.width, err)
	}
	var tile api.HashTile
	if err := tile.UnmarshalText(raw); err != nil {
		return nil, fmt.Errorf("parsing tile %d/%d: %w", t.level, t.index, err)
	}
	pyr := [][][]byte{tile.Nodes}
	for row := tile.Nodes; len(row) > 1; {
		up := make([][]byte, len(row)/2)
		for i := range up {
			up[i] = rfc6962.DefaultHasher.HashChildren(row[2*i], row[2*i+1])
		}
		pyr = append(pyr, up)
		row = up
	}
	return pyr, nil
}

// checkpoints remembers the last checkpoint verified, since every request
// that waited for the same publication receives the same bytes.
type checkpoints struct {
	v note.Verifier

	mu   sync.Mutex
	raw  []byte
	last tlog.Checkpoint
}

func (c *checkpoints) verify(raw []byte) (tlog.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw != nil && bytes.Equal(c.raw, raw) {
		return c.last, nil
	}
	cp, err := tlog.VerifyCheckpoint(raw, c.v)
	if err != nil {
		return tlog.Checkpoint{}, err
	}
	c.raw, c.last = bytes.Clone(raw), cp
	return cp, nil
}
