package tlog

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Causes a [*ProofError] wraps.
var (
	// ErrRootMismatch means the proof is well formed but the root it leads
	// to is not the expected one.
	ErrRootMismatch = errors.New("computed root does not match")
	// ErrMalformedProof means the arguments cannot describe a valid proof: a
	// hash of the wrong size, a proof of the wrong length, an index outside
	// the tree or sizes out of order.
	ErrMalformedProof = errors.New("malformed proof")
)

// Proof kinds named by a ProofError.
const (
	KindInclusion   = "inclusion"
	KindConsistency = "consistency"
)

// A ProofError is returned when a proof does not verify. Its Err is
// ErrRootMismatch or wraps ErrMalformedProof.
type ProofError struct {
	// Kind is KindInclusion or KindConsistency.
	Kind string
	// Index is the leaf index for an inclusion proof and the old tree size
	// for a consistency proof.
	Index uint64
	// Size is the size of the tree the proof is for (the new size for a
	// consistency proof).
	Size uint64
	// Err is the cause.
	Err error
}

func (e *ProofError) Error() string {
	if e.Kind == KindConsistency {
		return fmt.Sprintf("consistency proof from tree size %d to %d does not verify: %v", e.Index, e.Size, e.Err)
	}
	return fmt.Sprintf("%s proof of index %d in tree size %d does not verify: %v", e.Kind, e.Index, e.Size, e.Err)
}

func (e *ProofError) Unwrap() error { return e.Err }

// LeafHash returns the RFC 6962 hash of a log entry: SHA-256(0x00 || data).
func LeafHash(data []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(data)
}

// EmptyRoot returns the root hash of the empty tree: SHA-256 of nothing.
func EmptyRoot() []byte {
	return rfc6962.DefaultHasher.EmptyRoot()
}

// VerifyInclusion checks that proof shows the leaf with hash leafHash at
// index in the tree of the given size whose root hash is root. A failure is
// a *ProofError of kind KindInclusion.
func VerifyInclusion(leafHash []byte, index, size uint64, hashes [][]byte, root []byte) error {
	fail := func(err error) error {
		return &ProofError{Kind: KindInclusion, Index: index, Size: size, Err: err}
	}
	if err := checkHashes("leaf hash", leafHash, "root hash", root, hashes); err != nil {
		return fail(err)
	}
	if index >= size {
		return fail(fmt.Errorf("%w: index %d is not below tree size %d", ErrMalformedProof, index, size))
	}
	return fromMerkle(fail, proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash, hashes, root))
}

// VerifyConsistency checks that proof shows the tree of size oldSize with
// root hash oldRoot to be a prefix of the tree of size newSize with root hash
// newRoot. For oldSize 0, oldRoot must be [EmptyRoot] and the proof empty.
// A failure is a *ProofError of kind KindConsistency.
func VerifyConsistency(oldSize, newSize uint64, hashes [][]byte, oldRoot, newRoot []byte) error {
	fail := func(err error) error {
		return &ProofError{Kind: KindConsistency, Index: oldSize, Size: newSize, Err: err}
	}
	if err := checkHashes("old root hash", oldRoot, "new root hash", newRoot, hashes); err != nil {
		return fail(err)
	}
	if oldSize > newSize {
		return fail(fmt.Errorf("%w: old size %d is above new size %d", ErrMalformedProof, oldSize, newSize))
	}
	if oldSize == 0 {
		// merkle accepts any old root for the empty tree; only its root is.
		if len(hashes) != 0 {
			return fail(fmt.Errorf("%w: proof from the empty tree has %d hashes, want 0", ErrMalformedProof, len(hashes)))
		}
		if !bytes.Equal(oldRoot, EmptyRoot()) {
			return fail(ErrRootMismatch)
		}
		return nil
	}
	return fromMerkle(fail, proof.VerifyConsistency(rfc6962.DefaultHasher, oldSize, newSize, hashes, oldRoot, newRoot))
}

// fromMerkle maps an error from merkle onto this package's causes.
func fromMerkle(fail func(error) error, err error) error {
	if err == nil {
		return nil
	}
	var mismatch proof.RootMismatchError
	if errors.As(err, &mismatch) {
		return fail(ErrRootMismatch)
	}
	return fail(fmt.Errorf("%w: %v", ErrMalformedProof, err))
}

// checkHashes checks that the two named hashes and every proof hash are
// HashSize bytes.
func checkHashes(name1 string, h1 []byte, name2 string, h2 []byte, hashes [][]byte) error {
	for _, h := range []struct {
		name string
		h    []byte
	}{{name1, h1}, {name2, h2}} {
		if len(h.h) != HashSize {
			return fmt.Errorf("%w: %s is %d bytes, want %d", ErrMalformedProof, h.name, len(h.h), HashSize)
		}
	}
	for i, h := range hashes {
		if len(h) != HashSize {
			return fmt.Errorf("%w: proof hash %d is %d bytes, want %d", ErrMalformedProof, i, len(h), HashSize)
		}
	}
	return nil
}
