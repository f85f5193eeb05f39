// Package tlog checks what a transparency log says about itself: signed
// checkpoints and Merkle proofs. It is pure: it takes bytes and returns values,
// and never fetches anything.
//
// Checkpoints follow C2SP tlog-checkpoint
// (https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md): the text of a
// C2SP signed note (https://github.com/C2SP/C2SP/blob/main/signed-note.md)
// made of an origin line, the tree size in decimal, the base64 root hash and
// optional extension lines. [ParseCheckpoint] reads that text and
// [Checkpoint.Marshal] writes it back byte for byte; [VerifyCheckpoint] opens a
// signed note with the log's key and then parses it.
//
// Note keys are those sigstore-go v1.3.0 accepts for a Rekor v2 log
// (rekor-tiles' pkg/note):
//
//   - Ed25519: the C2SP signed-note Ed25519 type. The key hash is
//     SHA-256(origin || "\n" || 0x01 || public key); the signature is
//     Ed25519 over the note text.
//   - ECDSA P-256: not a C2SP type but Rekor's convention. The key hash is
//     SHA-256 of the PKIX (DER SubjectPublicKeyInfo) public key, and the
//     signature is ASN.1 DER ECDSA over SHA-256 of the note text.
//
// In both cases the note's 4-byte key ID is the first 4 bytes of that 32-byte
// hash, and the whole hash is the log ID Sigstore puts in a bundle's
// logId.keyId and in trusted_root.json's tlogs[].logId.keyId ([LogID]).
//
// Proofs are RFC 6962 Merkle audit paths and consistency proofs
// (https://www.rfc-editor.org/rfc/rfc6962#section-2.1) over SHA-256, checked by
// github.com/transparency-dev/merkle. A failed check is a [*ProofError] that
// names the proof kind, the leaf index or old size, and the tree size.
package tlog
