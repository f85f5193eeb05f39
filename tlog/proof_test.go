package tlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"hallmark.dev/tlog"
)

// maxTreeSize bounds the exhaustive tests: every tree size up to it, every
// index and every pair of sizes.
const maxTreeSize = 64

func TestLeafHash(t *testing.T) {
	for _, d := range [][]byte{nil, {}, []byte("a"), bytes.Repeat([]byte{7}, 1000)} {
		if got, want := tlog.LeafHash(d), hashLeaf(d); !bytes.Equal(got, want) {
			t.Errorf("LeafHash(%d bytes) = %x, want %x", len(d), got, want)
		}
	}
	if got, want := tlog.EmptyRoot(), newRefTree(0).root(0); !bytes.Equal(got, want) {
		t.Errorf("EmptyRoot() = %x, want %x", got, want)
	}
}

// tamperings returns every one-byte corruption and every length change of
// a proof, with a name for each.
func tamperings(p [][]byte) map[string][][]byte {
	out := make(map[string][][]byte)
	for i := range p {
		for _, bit := range []byte{0x01, 0x80} {
			q := clone(p)
			q[i][len(q[i])/2] ^= bit
			out[fmt.Sprintf("hash %d bit %#x", i, bit)] = q
		}
	}
	out["extra hash"] = append(clone(p), bytes.Repeat([]byte{1}, tlog.HashSize))
	if len(p) > 0 {
		out["last hash dropped"] = clone(p)[:len(p)-1]
		out["first hash dropped"] = clone(p)[1:]
	}
	if len(p) > 1 {
		q := clone(p)
		q[0], q[1] = q[1], q[0]
		if !bytes.Equal(q[0], q[1]) {
			out["first two swapped"] = q
		}
	}
	return out
}

func clone(p [][]byte) [][]byte {
	q := make([][]byte, len(p))
	for i := range p {
		q[i] = bytes.Clone(p[i])
	}
	return q
}

func TestVerifyInclusionExhaustive(t *testing.T) {
	tree := newRefTree(maxTreeSize + 1)
	for n := 1; n <= maxTreeSize; n++ {
		root := tree.root(n)
		proofs := make([][][]byte, n)
		for m := range n {
			proofs[m] = tree.inclusion(m, n)
		}
		for m := range n {
			leaf := hashLeaf(tree.leaves[m])
			p := proofs[m]
			if err := tlog.VerifyInclusion(leaf, uint64(m), uint64(n), p, root); err != nil {
				t.Fatalf("size %d index %d: valid proof: got %v, want nil", n, m, err)
			}
			for name, q := range tamperings(p) {
				checkProofError(t, fmt.Sprintf("size %d index %d, %s", n, m, name),
					tlog.VerifyInclusion(leaf, uint64(m), uint64(n), q, root), tlog.KindInclusion, uint64(m), uint64(n))
			}
			// The same proof for any other index, size, leaf or root fails.
			for m2 := range n {
				if m2 != m && !equalProofs(proofs[m2], p) {
					checkProofError(t, fmt.Sprintf("size %d index %d as index %d", n, m, m2),
						tlog.VerifyInclusion(leaf, uint64(m2), uint64(n), p, root), tlog.KindInclusion, uint64(m2), uint64(n))
				}
			}
			if n > 1 {
				other := hashLeaf(tree.leaves[(m+1)%n])
				checkProofError(t, fmt.Sprintf("size %d index %d, other leaf", n, m),
					tlog.VerifyInclusion(other, uint64(m), uint64(n), p, root), tlog.KindInclusion, uint64(m), uint64(n))
			}
			checkProofError(t, fmt.Sprintf("size %d index %d, root of size %d", n, m, n+1),
				tlog.VerifyInclusion(leaf, uint64(m), uint64(n), p, tree.root(n+1)), tlog.KindInclusion, uint64(m), uint64(n))
		}
	}
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestVerifyConsistencyExhaustive(t *testing.T) {
	tree := newRefTree(maxTreeSize)
	for n := 0; n <= maxTreeSize; n++ {
		newRoot := tree.root(n)
		for m := 0; m <= n; m++ {
			oldRoot := tree.root(m)
			p := tree.consistency(m, n)
			if err := tlog.VerifyConsistency(uint64(m), uint64(n), p, oldRoot, newRoot); err != nil {
				t.Fatalf("sizes %d to %d: valid proof: got %v, want nil", m, n, err)
			}
			for name, q := range tamperings(p) {
				checkProofError(t, fmt.Sprintf("sizes %d to %d, %s", m, n, name),
					tlog.VerifyConsistency(uint64(m), uint64(n), q, oldRoot, newRoot), tlog.KindConsistency, uint64(m), uint64(n))
			}
			if m > 0 {
				checkProofError(t, fmt.Sprintf("sizes %d to %d, wrong old root", m, n),
					tlog.VerifyConsistency(uint64(m), uint64(n), p, tree.root(m-1), newRoot), tlog.KindConsistency, uint64(m), uint64(n))
			}
			if m == 0 && n > 0 {
				checkProofError(t, fmt.Sprintf("sizes %d to %d, old root not empty", m, n),
					tlog.VerifyConsistency(uint64(m), uint64(n), p, newRoot, newRoot), tlog.KindConsistency, uint64(m), uint64(n))
			}
			if 0 < m && m < n {
				// Every tree extends the empty one, so only m > 0 can fail here.
				checkProofError(t, fmt.Sprintf("sizes %d to %d, wrong new root", m, n),
					tlog.VerifyConsistency(uint64(m), uint64(n), p, oldRoot, tree.root(n-1)), tlog.KindConsistency, uint64(m), uint64(n))
				checkProofError(t, fmt.Sprintf("sizes %d to %d, reversed", m, n),
					tlog.VerifyConsistency(uint64(n), uint64(m), p, newRoot, oldRoot), tlog.KindConsistency, uint64(n), uint64(m))
			}
		}
	}
}

func checkProofError(t *testing.T, name string, err error, kind string, index, size uint64) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want a proof error", name)
	}
	var pe *tlog.ProofError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: got %T %v, want *tlog.ProofError", name, err, err)
	}
	if pe.Kind != kind || pe.Index != index || pe.Size != size {
		t.Fatalf("%s: got ProofError{%q, %d, %d}, want {%q, %d, %d}", name, pe.Kind, pe.Index, pe.Size, kind, index, size)
	}
	if !errors.Is(err, tlog.ErrRootMismatch) && !errors.Is(err, tlog.ErrMalformedProof) {
		t.Fatalf("%s: got cause %v, want ErrRootMismatch or ErrMalformedProof", name, pe.Err)
	}
}

func TestProofErrors(t *testing.T) {
	tree := newRefTree(8)
	root := tree.root(8)
	leaf := hashLeaf(tree.leaves[3])
	p := tree.inclusion(3, 8)
	short := [][]byte{p[0], p[1][:31], p[2]}
	tests := []struct {
		name    string
		err     error
		want    error
		message string
	}{
		{"index beyond size", tlog.VerifyInclusion(leaf, 8, 8, p, root), tlog.ErrMalformedProof,
			"inclusion proof of index 8 in tree size 8 does not verify: malformed proof: index 8 is not below tree size 8"},
		{"short leaf hash", tlog.VerifyInclusion(leaf[:31], 3, 8, p, root), tlog.ErrMalformedProof,
			"inclusion proof of index 3 in tree size 8 does not verify: malformed proof: leaf hash is 31 bytes, want 32"},
		{"short root", tlog.VerifyInclusion(leaf, 3, 8, p, root[:31]), tlog.ErrMalformedProof,
			"inclusion proof of index 3 in tree size 8 does not verify: malformed proof: root hash is 31 bytes, want 32"},
		{"short proof hash", tlog.VerifyInclusion(leaf, 3, 8, short, root), tlog.ErrMalformedProof,
			"inclusion proof of index 3 in tree size 8 does not verify: malformed proof: proof hash 1 is 31 bytes, want 32"},
		{"wrong proof length", tlog.VerifyInclusion(leaf, 3, 8, p[:2], root), tlog.ErrMalformedProof,
			"inclusion proof of index 3 in tree size 8 does not verify: malformed proof: wrong proof size 2, want 3"},
		{"root mismatch", tlog.VerifyInclusion(leaf, 4, 8, p, root), tlog.ErrRootMismatch,
			"inclusion proof of index 4 in tree size 8 does not verify: computed root does not match"},
		{"sizes out of order", tlog.VerifyConsistency(8, 4, nil, root, tree.root(4)), tlog.ErrMalformedProof,
			"consistency proof from tree size 8 to 4 does not verify: malformed proof: old size 8 is above new size 4"},
		{"nil nil", tlog.VerifyConsistency(0, 0, nil, nil, nil), tlog.ErrMalformedProof,
			"consistency proof from tree size 0 to 0 does not verify: malformed proof: old root hash is 0 bytes, want 32"},
		{"consistency mismatch", tlog.VerifyConsistency(4, 8, tree.consistency(4, 8), tree.root(5), root), tlog.ErrRootMismatch,
			"consistency proof from tree size 4 to 8 does not verify: computed root does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Errorf("got %v, want an error wrapping %v", tt.err, tt.want)
			}
			if tt.err != nil && tt.err.Error() != tt.message {
				t.Errorf("got message %q, want %q", tt.err.Error(), tt.message)
			}
		})
	}
}
