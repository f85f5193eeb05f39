package tlog_test

import (
	"crypto/sha256"
	"fmt"
)

// refTree is a tiny in-memory Merkle tree written straight from RFC 6962
// section 2.1, independent of the merkle library the package wraps: MTH,
// PATH and PROOF, recomputed from the leaves every time.
type refTree struct {
	leaves [][]byte // leaf data
}

func newRefTree(n int) *refTree {
	t := &refTree{}
	for i := range n {
		t.leaves = append(t.leaves, fmt.Appendf(nil, "leaf %d", i))
	}
	return t
}

func hashLeaf(d []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, d...))
	return h[:]
}

func hashChildren(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// split returns the largest power of two smaller than n (n > 1).
func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// mth is MTH(D[lo:hi]).
func (t *refTree) mth(lo, hi int) []byte {
	switch n := hi - lo; n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return hashLeaf(t.leaves[lo])
	default:
		k := split(n)
		return hashChildren(t.mth(lo, lo+k), t.mth(lo+k, hi))
	}
}

// root is the root of the first n leaves.
func (t *refTree) root(n int) []byte { return t.mth(0, n) }

// path is PATH(m, D[lo:hi]), the audit path of leaf lo+m.
func (t *refTree) path(m, lo, hi int) [][]byte {
	n := hi - lo
	if n <= 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(t.path(m, lo, lo+k), t.mth(lo+k, hi))
	}
	return append(t.path(m-k, lo+k, hi), t.mth(lo, lo+k))
}

// inclusion is the audit path of leaf m in the tree of the first n leaves.
func (t *refTree) inclusion(m, n int) [][]byte { return t.path(m, 0, n) }

// subproof is SUBPROOF(m, D[lo:hi], b).
func (t *refTree) subproof(m, lo, hi int, b bool) [][]byte {
	n := hi - lo
	if m == n {
		if b {
			return nil
		}
		return [][]byte{t.mth(lo, hi)}
	}
	k := split(n)
	if m <= k {
		return append(t.subproof(m, lo, lo+k, b), t.mth(lo+k, hi))
	}
	return append(t.subproof(m-k, lo+k, hi, false), t.mth(lo, lo+k))
}

// consistency is PROOF(m, D[n]); empty for m == 0 and m == n.
func (t *refTree) consistency(m, n int) [][]byte {
	if m == 0 || m == n {
		return nil
	}
	return t.subproof(m, 0, n, true)
}
