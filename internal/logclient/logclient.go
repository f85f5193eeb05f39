// Package logclient reads a hallmark (or any C2SP tlog-tiles) transparency
// log over HTTP and checks everything it reads: the checkpoint's signature
// with the log's key, inclusion proofs of entries and consistency proofs
// between tree sizes, all built from the log's tiles on the client and
// verified with [hallmark.dev/tlog].
// https://github.com/C2SP/C2SP/blob/main/tlog-tiles.md
package logclient

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/tlog"
)

// Client reads one log.
type Client struct {
	origin   string
	verifier note.Verifier
	fetcher  *client.HTTPFetcher
}

// New returns a client for the log at baseURL (the log's base URL as the
// trusted root names it; its checkpoint is at baseURL/api/v2/checkpoint)
// whose checkpoints are signed by pub. The checkpoint origin is the base
// URL's host name, as for Rekor v2 logs.
func New(baseURL string, pub crypto.PublicKey, c *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/") + "/api/v2/")
	if err != nil {
		return nil, fmt.Errorf("logclient: base URL: %w", err)
	}
	origin := u.Hostname()
	v, err := tlog.NewNoteVerifier(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("logclient: log key: %w", err)
	}
	f, err := client.NewHTTPFetcher(u, c)
	if err != nil {
		return nil, fmt.Errorf("logclient: %w", err)
	}
	return &Client{origin: origin, verifier: v, fetcher: f}, nil
}

// Checkpoint fetches the latest checkpoint and verifies its signature and
// origin.
func (c *Client) Checkpoint(ctx context.Context) (tlog.Checkpoint, []byte, error) {
	raw, err := c.fetcher.ReadCheckpoint(ctx)
	if err != nil {
		return tlog.Checkpoint{}, nil, fmt.Errorf("fetch checkpoint: %w", err)
	}
	cp, err := tlog.VerifyCheckpoint(raw, c.verifier)
	if err != nil {
		return tlog.Checkpoint{}, raw, fmt.Errorf("checkpoint: %w", err)
	}
	return cp, raw, nil
}

// ProveInclusion builds the inclusion proof of the leaf at index in the
// tree of cp from the log's tiles and verifies it against cp's root hash.
func (c *Client) ProveInclusion(ctx context.Context, cp tlog.Checkpoint, index uint64, leafHash []byte) ([][]byte, error) {
	if index >= cp.Size {
		return nil, fmt.Errorf("index %d is not in a tree of size %d", index, cp.Size)
	}
	pb, err := client.NewProofBuilder(ctx, cp.Size, c.fetcher.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	hashes, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of %d in %d: %w", index, cp.Size, err)
	}
	if err := tlog.VerifyInclusion(leafHash, index, cp.Size, hashes, cp.Hash); err != nil {
		return hashes, err
	}
	return hashes, nil
}

// LeafHash returns the hash of the leaf at index, read from the tiles of a
// tree of the given size.
func (c *Client) LeafHash(ctx context.Context, index, size uint64) ([]byte, error) {
	hs, err := client.FetchLeafHashes(ctx, c.fetcher.ReadTile, index, index+1, size)
	if err != nil {
		return nil, fmt.Errorf("leaf %d: %w", index, err)
	}
	if len(hs) != 1 {
		return nil, errors.New("leaf hash not found")
	}
	return hs[0], nil
}

// ProveConsistency builds the consistency proof between the tree of old and
// the tree of cur from the log's tiles and verifies it: the log only grew.
func (c *Client) ProveConsistency(ctx context.Context, old, cur tlog.Checkpoint) ([][]byte, error) {
	if old.Size > cur.Size {
		return nil, fmt.Errorf("old size %d is larger than the current size %d", old.Size, cur.Size)
	}
	pb, err := client.NewProofBuilder(ctx, cur.Size, c.fetcher.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	hashes, err := pb.ConsistencyProof(ctx, old.Size, cur.Size)
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d→%d: %w", old.Size, cur.Size, err)
	}
	if err := tlog.VerifyConsistency(old.Size, cur.Size, hashes, old.Hash, cur.Hash); err != nil {
		return hashes, err
	}
	return hashes, nil
}
