package tlog_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"hallmark.dev/tlog"
)

// FuzzParseCheckpoint checks that whatever ParseCheckpoint accepts,
// Marshal writes back byte for byte, and that a parsed checkpoint parses
// again to itself.
func FuzzParseCheckpoint(f *testing.F) {
	for _, s := range []string{
		"example.com/log\n0\n" + hash32s + "\n",
		"rekor.sigstore.dev - 1193050959916656506\n42\n" + hash32s + "\n",
		"o\n18446744073709551615\n" + hash32s + "\next one\next two\n",
		"o\n01\n" + hash32s + "\n",
		"o\n1\n" + hash32s + "\n\n",
		"o\n1\n" + hash32s,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := tlog.ParseCheckpoint(text)
		if err != nil {
			if !errors.Is(err, tlog.ErrMalformedCheckpoint) {
				t.Fatalf("ParseCheckpoint(%q): error %v does not wrap ErrMalformedCheckpoint", text, err)
			}
			return
		}
		out := c.Marshal()
		if !bytes.Equal(out, text) {
			t.Fatalf("Marshal(ParseCheckpoint(%q)) = %q", text, out)
		}
		again, err := tlog.ParseCheckpoint(out)
		if err != nil {
			t.Fatalf("ParseCheckpoint(Marshal()) = %v", err)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("reparse mismatch (-first +second):\n%s", diff)
		}
	})
}

// FuzzVerifyCheckpoint checks that arbitrary bytes never verify against a
// key that signed none of them, and never panic. The seeds include real
// signed checkpoints, so mutations explore the note format.
func FuzzVerifyCheckpoint(f *testing.F) {
	s := newSigner(f, "log.example", 1)
	f.Add(signText(f, "log.example\n0\n"+hash32s+"\n", s))
	f.Add(signText(f, "log.example\n7\n"+hash32s+"\next\n", s))
	f.Add([]byte("log.example\n0\n" + hash32s + "\n\n— log.example AAAAAAAA\n"))
	stranger := newVerifier(f, "log.example", 2)
	own := newVerifier(f, "log.example", 1)
	f.Fuzz(func(t *testing.T, signed []byte) {
		if c, err := tlog.VerifyCheckpoint(signed, stranger); err == nil {
			t.Fatalf("checkpoint %q verified with a key that never signed: %+v", signed, c)
		}
		c, err := tlog.VerifyCheckpoint(signed, own)
		if err != nil {
			return
		}
		// A verified checkpoint's text is the signed text.
		if !bytes.HasPrefix(signed, append(c.Marshal(), '\n')) {
			t.Fatalf("verified checkpoint %+v is not the text of %q", c, signed)
		}
	})
}

// fuzzTree is the tree the proof fuzzers check against.
var fuzzTree = newRefTree(maxTreeSize)

// proofFromBytes cuts b into up to 64 hashes of HashSize bytes, keeping a
// short last one so that length checks are exercised too.
func proofFromBytes(b []byte) [][]byte {
	var p [][]byte
	for len(b) > 0 && len(p) < 64 {
		n := min(len(b), tlog.HashSize)
		p = append(p, b[:n])
		b = b[n:]
	}
	return p
}

// FuzzVerifyInclusion checks that the verifier never panics and that only
// the true audit path verifies: random proofs never do.
func FuzzVerifyInclusion(f *testing.F) {
	f.Add(uint8(5), uint8(3), []byte{}, false)
	f.Add(uint8(8), uint8(0), bytes.Repeat([]byte{1}, 3*tlog.HashSize), false)
	f.Add(uint8(1), uint8(0), []byte{}, true)
	f.Add(uint8(64), uint8(63), bytes.Repeat([]byte{2}, 6*tlog.HashSize), true)
	f.Fuzz(func(t *testing.T, size, index uint8, raw []byte, useRealPrefix bool) {
		n := int(size)%maxTreeSize + 1
		m := int(index) % (n + 1) // may be n: out of range
		root := fuzzTree.root(n)
		p := proofFromBytes(raw)
		var leaf []byte
		if m < n {
			leaf = hashLeaf(fuzzTree.leaves[m])
			if useRealPrefix {
				// Mix real hashes in, so near-misses are explored.
				real := fuzzTree.inclusion(m, n)
				for i := range min(len(p), len(real)) {
					if i%2 == 0 {
						p[i] = real[i]
					}
				}
			}
		} else {
			leaf = hashLeaf([]byte("not in the tree"))
		}
		err := tlog.VerifyInclusion(leaf, uint64(m), uint64(n), p, root)
		if err == nil && (m >= n || !equalProofs(p, fuzzTree.inclusion(m, n))) {
			t.Fatalf("size %d index %d: proof %x verified but is not the audit path", n, m, p)
		}
		if err != nil {
			var pe *tlog.ProofError
			if !errors.As(err, &pe) {
				t.Fatalf("got %T %v, want *tlog.ProofError", err, err)
			}
		}
	})
}

// FuzzVerifyConsistency checks that the verifier never panics and that only
// the true consistency proof verifies.
func FuzzVerifyConsistency(f *testing.F) {
	f.Add(uint8(3), uint8(7), []byte{}, uint32(0))
	f.Add(uint8(4), uint8(8), bytes.Repeat([]byte{3}, tlog.HashSize), uint32(1))
	f.Add(uint8(0), uint8(5), []byte{}, uint32(2))
	f.Add(uint8(6), uint8(6), []byte{}, uint32(3))
	f.Fuzz(func(t *testing.T, a, b uint8, raw []byte, rootChoice uint32) {
		n := int(b) % (maxTreeSize + 1)
		m := int(a) % (maxTreeSize + 1)
		p := proofFromBytes(raw)
		// The roots are the true ones, or (rootChoice != 0) roots of other
		// sizes. Wrong roots can still describe some other tree, so for them
		// only the error type is checked.
		oldRoot, newRoot := fuzzTree.root(min(m, n)), fuzzTree.root(n)
		trueRoots := rootChoice == 0 && m <= n
		if rootChoice != 0 {
			oldRoot = fuzzTree.root(int(rootChoice>>8&0xff) % (maxTreeSize + 1))
			newRoot = fuzzTree.root(int(rootChoice>>16&0xff) % (maxTreeSize + 1))
		}
		err := tlog.VerifyConsistency(uint64(m), uint64(n), p, oldRoot, newRoot)
		if err != nil {
			var pe *tlog.ProofError
			if !errors.As(err, &pe) {
				t.Fatalf("got %T %v, want *tlog.ProofError", err, err)
			}
			return
		}
		if m > n {
			t.Fatalf("sizes %d to %d verified", m, n)
		}
		if trueRoots && !equalProofs(p, fuzzTree.consistency(m, n)) {
			t.Fatalf("sizes %d to %d: proof %x verified but is not the consistency proof", m, n, p)
		}
	})
}
