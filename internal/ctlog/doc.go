// Package ctlog is hallmark's Certificate Transparency log: the log its
// certificate authority submits every precertificate to before it issues
// the certificate, so that the certificate carries an SCT (a signed
// promise of inclusion) that Sigstore verifiers require whenever a trusted
// root lists CT logs (trusted_root.json ctlogs; cosign verifies them by
// default).
//
// It speaks the Static CT API (C2SP static-ct-api,
// https://github.com/C2SP/C2SP/blob/main/static-ct-api.md) on tessera's
// POSIX driver with its CT layout (tessera.WithCTLayout and
// tessera.NewCertificateTransparencyAppender):
//
//	POST <prefix>/ct/v1/add-chain        RFC 6962 4.1: log a certificate, get an SCT
//	POST <prefix>/ct/v1/add-pre-chain    RFC 6962 4.2: log a precertificate, get an SCT
//	GET  <prefix>/ct/v1/get-roots        RFC 6962 4.7: the accepted roots
//	GET  <prefix>/checkpoint             the signed tree head, as a checkpoint
//	GET  <prefix>/tile/<L>/<N>[.p/<W>]   Merkle tree tiles
//	GET  <prefix>/tile/data/<N>[.p/<W>]  entries (TileLeaf structures)
//	GET  <prefix>/issuer/<fingerprint>   the issuers entries refer to
//
// where <prefix> is both the submission and the monitoring prefix, and
// the checkpoint origin is the prefix as a schema-less URL
// ("log.example/ctlog"). SCTs are RFC 6962 3.2 signatures by the log's
// ECDSA P-256 key and carry the static-ct-api leaf_index extension: an SCT
// is returned once its entry is sequenced, so the merge delay is zero.
// Checkpoints are signed with the RFC6962NoteSignature type (0x05), which
// formats' note.NewRFC6962Verifier checks, and can carry witness
// cosignatures (C2SP tlog-cosignature) when Config.Witnesses is set.
//
// The log ID is SHA-256 of the DER public key (RFC 6962 3.2): what
// trusted_root.json ctlogs[].logId.keyId holds and an SCT's log_id names.
//
// Only chains that end at, or are issued by, one of Config.Roots are
// accepted, and only chains whose signatures verify; a precertificate
// issued by a Precertificate Signing Certificate is refused (static-ct-api
// allows it).
package ctlog
