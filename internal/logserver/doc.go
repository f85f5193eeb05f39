// Package logserver is hallmark's transparency log: a Rekor v2-compatible
// log (https://github.com/sigstore/rekor-tiles, API v2) built on tessera's
// POSIX driver (https://github.com/transparency-dev/tessera) in one
// directory, served as C2SP tlog-tiles
// (https://github.com/C2SP/C2SP/blob/main/tlog-tiles.md) with C2SP
// checkpoints (https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md).
//
// # Write path
//
// POST /api/v2/log/entries takes the CreateEntryRequest JSON that the
// rekor-tiles v2.3.0 client (and so sigstore-go v1.2 and v1.3, and cosign
// v3.1.3) sends. Only hashedrekord v0.0.2 entries are accepted, as
// rekor-tiles v2.3.0 does: its client sends nothing else, sigstore-go signs a
// DSSE envelope as a hashedrekord over the envelope's PAE, and sigstore-go's
// verifier rejects any other Rekor v2 entry kind. A dsseRequestV002 is
// answered 400.
//
// The request is validated and canonicalised by rekor-tiles' own
// hashedrekord package: the signature must verify over the digest with the
// given public key or certificate, and the logged body is the RFC 8785 (JCS)
// form of the protojson Entry, which is exactly what sigstore-go rebuilds
// from a bundle to find the leaf. The entry is appended through tessera;
// the request waits until tessera has integrated it and published a
// checkpoint that covers it (both written durably by the POSIX driver), and
// is answered 201 with the TransparencyLogEntry (protobuf-specs rekor/v1) in
// protojson, as rekor-tiles answers: logIndex, logId.keyId, kindVersion,
// canonicalizedBody and an inclusion proof against that checkpoint.
//
// An entry already in the log (byte-identical canonical body) is not
// appended again. Rekor v2 answers 409 Conflict with an X-Log-Index header;
// its client treats every status but 201 as a failure, and sigstore-go
// cannot rebuild the entry from a 409. This log instead answers 201 with
// the existing entry (its original index, with an inclusion proof against
// the current checkpoint) and also sets X-Log-Index. Duplicates are found
// by tessera's in-memory antispam for recent entries and by an index of
// every entry's hash that is rebuilt from the log itself at start, so the
// log keeps no state outside tessera's directory that could disagree with
// it.
//
// # Storage
//
// By default the tree is tessera's POSIX driver in the log's directory, one
// process at a time. With Config.Storage it is tessera's AWS driver on a
// MySQL database and an S3 bucket (hallmark.dev/internal/sharedstore),
// which any number of processes write at once: each sequences entries in
// the database, one at a time integrates them into the tiles in the
// bucket, and every request waits for a checkpoint, read from the bucket,
// that covers its entry. Duplicates are then found by tessera's MySQL
// antispam, which the processes fill in turn; the log's key stays in the
// directory, and the storage records it from the first start on
// (Storage.BindKey).
//
// # Read path
//
// GET /api/v2/checkpoint, /api/v2/tile/<L>/<N>[.p/<W>] and
// /api/v2/tile/entries/<N>[.p/<W>] serve the tlog-tiles resources, so a
// tlog-tiles client uses <base>/api/v2/ as its base URL. Tiles and entry
// bundles are immutable and cached as such; the checkpoint is not cached.
//
// # Identity
//
// The log signs checkpoints with an Ed25519 key by default (ECDSA P-256 on
// request), kept in the log directory. Its origin, note key ID and log ID
// are those of package hallmark.dev/tlog; see [Config.Origin] for what
// sigstore-go compares the origin with.
package logserver
