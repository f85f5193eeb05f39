package ctlog

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// algRFC6962STH is the signed-note signature type of an RFC 6962 tree head
// signature (static-ct-api, "Checkpoints").
const algRFC6962STH = 0x05

// LogID returns the RFC 6962 log ID of the log with public key pub:
// SHA-256 of its DER SubjectPublicKeyInfo.
func LogID(pub crypto.PublicKey) ([sha256.Size]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("encoding ct log key: %w", err)
	}
	return sha256.Sum256(der), nil
}

// NewNoteVerifier returns the verifier of the checkpoints of the log named
// origin with public key pub (RFC6962NoteSignature), and its vkey.
func NewNoteVerifier(origin string, pub crypto.PublicKey) (note.Verifier, string, error) {
	vkey, err := fnote.RFC6962VerifierString(origin, pub)
	if err != nil {
		return nil, "", fmt.Errorf("ct log verifier key: %w", err)
	}
	v, err := fnote.NewRFC6962Verifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("ct log verifier key: %w", err)
	}
	if v.Name() != origin {
		return nil, "", fmt.Errorf("ct log verifier key: name %q is not the origin %q", v.Name(), origin)
	}
	return v, vkey, nil
}

// digitallySign makes an RFC 5246 digitally-signed struct over data with
// key, an ECDSA key signing SHA-256 digests.
func digitallySign(key crypto.Signer, data []byte) (ct.DigitallySigned, error) {
	d := sha256.Sum256(data)
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return ct.DigitallySigned{}, err
	}
	return ct.DigitallySigned{
		Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA},
		Signature: sig,
	}, nil
}

// leafIndexExtension is the static-ct-api CtExtensions holding one
// leaf_index extension: type 0, length 5, the index as a big-endian
// uint40.
func leafIndexExtension(index uint64) (ct.CTExtensions, error) {
	if index >= 1<<40 {
		return nil, fmt.Errorf("leaf index %d does not fit in 40 bits", index)
	}
	b := []byte{0, 0, 5}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], index)
	return append(b, n[3:]...), nil
}

// checkpointSigner is the note.Signer of the log's checkpoints: an RFC 6962
// tree head signature encoded as an RFC6962NoteSignature (a big-endian
// uint64 timestamp in milliseconds, then the TLS-encoded digitally-signed
// TreeHeadSignature).
type checkpointSigner struct {
	origin string
	hash   uint32
	key    crypto.Signer
	now    func() time.Time
}

var _ note.Signer = (*checkpointSigner)(nil)

func newCheckpointSigner(origin string, key crypto.Signer, now func() time.Time) (*checkpointSigner, error) {
	id, err := LogID(key.Public())
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write([]byte(origin))
	h.Write([]byte{'\n', algRFC6962STH})
	h.Write(id[:])
	return &checkpointSigner{origin: origin, hash: binary.BigEndian.Uint32(h.Sum(nil)), key: key, now: now}, nil
}

func (s *checkpointSigner) Name() string    { return s.origin }
func (s *checkpointSigner) KeyHash() uint32 { return s.hash }

// Sign signs a checkpoint body: origin, size and root hash lines and no
// extension lines, as static-ct-api requires.
func (s *checkpointSigner) Sign(msg []byte) ([]byte, error) {
	lines := strings.Split(string(msg), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return nil, errors.New("ct checkpoint: want exactly origin, size and root hash lines")
	}
	if lines[0] != s.origin {
		return nil, fmt.Errorf("ct checkpoint: origin %q, want %q", lines[0], s.origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("ct checkpoint: size: %w", err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		return nil, errors.New("ct checkpoint: root hash is not 32 bytes of base64")
	}
	sth := ct.SignedTreeHead{Version: ct.V1, TreeSize: size, Timestamp: uint64(s.now().UnixMilli())}
	copy(sth.SHA256RootHash[:], root)
	input, err := ct.SerializeSTHSignatureInput(sth)
	if err != nil {
		return nil, fmt.Errorf("ct checkpoint: %w", err)
	}
	ds, err := digitallySign(s.key, input)
	if err != nil {
		return nil, fmt.Errorf("ct checkpoint: signing: %w", err)
	}
	enc, err := cttls.Marshal(ds)
	if err != nil {
		return nil, fmt.Errorf("ct checkpoint: %w", err)
	}
	return append(binary.BigEndian.AppendUint64(nil, sth.Timestamp), enc...), nil
}
