package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Errors a checkpoint check returns. Callers branch with errors.Is.
var (
	// ErrMalformedCheckpoint means the bytes are not a checkpoint: the note
	// or its text breaks C2SP signed-note or tlog-checkpoint.
	ErrMalformedCheckpoint = errors.New("malformed checkpoint")
	// ErrUnverifiedCheckpoint means the checkpoint carries no valid signature
	// by the log's key: the signature is missing, or present and wrong.
	ErrUnverifiedCheckpoint = errors.New("checkpoint not signed by the log's key")
	// ErrOriginMismatch means the checkpoint is signed by the log's key but
	// names another origin on its first line.
	ErrOriginMismatch = errors.New("checkpoint origin does not match the log")
)

// HashSize is the size of every hash in this package: SHA-256.
const HashSize = sha256.Size

// A Checkpoint is the text of a signed checkpoint
// (https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md).
type Checkpoint struct {
	// Origin identifies the log; it is the first line of the text and, for
	// the logs this package knows, also the name of the log's note key.
	Origin string
	// Size is the number of entries in the tree.
	Size uint64
	// Hash is the RFC 6962 root hash of the tree, HashSize bytes.
	Hash []byte
	// Extensions are the optional lines after the root hash, without their
	// newlines, in order. Each is non-empty.
	Extensions []string
}

// ParseCheckpoint parses the text of a checkpoint (the note text, without
// the signature block). It accepts exactly the texts that [Checkpoint.Marshal]
// produces: one line per field, each ending in a newline, the size in
// decimal without leading zeros, the hash in padded standard base64 of
// exactly HashSize bytes, and no empty lines. Errors wrap
// ErrMalformedCheckpoint.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	if err := checkNoteText(text); err != nil {
		return Checkpoint{}, err
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, malformed("checkpoint has %d lines, want at least 3", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return Checkpoint{}, malformed("checkpoint line %d is empty", i+1)
		}
	}
	size, err := parseSize(lines[1])
	if err != nil {
		return Checkpoint{}, err
	}
	hash, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || base64.StdEncoding.EncodeToString(hash) != lines[2] {
		return Checkpoint{}, malformed("checkpoint root hash is not canonical base64")
	}
	if len(hash) != HashSize {
		return Checkpoint{}, malformed("checkpoint root hash is %d bytes, want %d", len(hash), HashSize)
	}
	c := Checkpoint{Origin: lines[0], Size: size, Hash: hash}
	if len(lines) > 3 {
		c.Extensions = lines[3:]
	}
	return c, nil
}

// checkNoteText applies the signed-note rules for a note's text: valid
// UTF-8, no control characters but newline, and a final newline.
func checkNoteText(text []byte) error {
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return malformed("checkpoint text does not end in a newline")
	}
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && n == 1 {
			return malformed("checkpoint text is not valid utf-8")
		}
		if r < 0x20 && r != '\n' {
			return malformed("checkpoint text has control character %#x", r)
		}
		i += n
	}
	return nil
}

func parseSize(s string) (uint64, error) {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, malformed("checkpoint size %q is not a decimal number", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, malformed("checkpoint size %q has a leading zero", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, malformed("checkpoint size %q does not fit in 64 bits", s)
	}
	return n, nil
}

// Marshal returns the checkpoint's text, ready to be signed as a note.
// It does not check c: a Checkpoint from ParseCheckpoint, or one whose
// Origin and Extensions are non-empty single lines and whose Hash is
// HashSize bytes, marshals to text that ParseCheckpoint accepts.
func (c Checkpoint) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// VerifyCheckpoint opens signed, a checkpoint in signed-note form, with the
// log's note verifier v (see [NewNoteVerifier]), and parses its text. It
// succeeds only if the note carries a valid signature by v and the
// checkpoint's origin is v.Name(); signatures by other keys (witness
// cosignatures, for example) are ignored.
//
// Errors wrap ErrMalformedCheckpoint, ErrUnverifiedCheckpoint or
// ErrOriginMismatch.
func VerifyCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: no signature by %s key %08x", ErrUnverifiedCheckpoint, v.Name(), v.KeyHash())
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: invalid signature by %s key %08x", ErrUnverifiedCheckpoint, v.Name(), v.KeyHash())
		default:
			return Checkpoint{}, malformed("%v", err)
		}
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: got origin %q, want %q", ErrOriginMismatch, c.Origin, v.Name())
	}
	return c, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedCheckpoint}, args...)...)
}
