// Package tsa is hallmark's timestamp authority: an RFC 3161 Time-Stamp
// Protocol server (https://www.rfc-editor.org/rfc/rfc3161) that speaks the
// HTTP API of Sigstore's timestamp-authority, so that sigstore-go and cosign
// obtain and verify timestamps from it as they would from Sigstore's.
//
// # Protocol
//
// [TSA.Timestamp] answers a DER-encoded TimeStampReq (RFC 3161 §2.4.1) with
// a DER-encoded TimeStampResp (§2.4.2). A granted response carries a
// TimeStampToken: a CMS SignedData (RFC 5652) whose encapsulated content is
// the TSTInfo, signed by the TSA's leaf key, with the signed attributes
// content-type, message-digest and signing-certificate-v2 (an ESSCertIDv2
// naming the leaf certificate by its SHA-256 hash, issuer and serial number,
// as RFC 5816 allows in place of RFC 3161's ESSCertID).
//
// The TSTInfo holds:
//
//   - policy: 1.3.6.1.4.1.57264.2. hallmark has no IANA Private Enterprise
//     Number of its own, so it uses the default policy of Sigstore's
//     timestamp-authority, under Sigstore's arc 1.3.6.1.4.1.57264. Neither
//     sigstore-go nor cosign checks the policy; a request that asks for any
//     other policy is refused with unacceptedPolicy.
//   - messageImprint: the request's, byte for byte.
//   - serialNumber: a positive 128-bit number whose 126 low bits are read
//     from [Config.Rand] (the top two are 01, so it is never zero and always
//     16 bytes long). Random serials are unique with overwhelming
//     probability and need no state shared between requests or processes.
//   - genTime: [Config.Now] in UTC, truncated to the second.
//   - accuracy: one second, which covers the truncation.
//   - nonce: the request's, when it has one. A nonce of more than
//     [MaxNonceBits] bits (absolute value) is refused with badDataFormat.
//   - tsa: the leaf certificate's subject, as a directoryName.
//
// The certificates field of the SignedData holds the chain, leaf first,
// when the request's certReq is true, and nothing otherwise; verifiers that
// send certReq false (sigstore-go, cosign) take the leaf from their trusted
// root.
//
// Requests are accepted with a SHA-256, SHA-384 or SHA-512 message imprint
// whose digest has the algorithm's length. The TSA refuses, with PKIStatus
// rejection and a PKIFailureInfo, requests that are not a TimeStampReq or not
// version 1, whose digest has the wrong length or whose nonce is over
// [MaxNonceBits] bits (badDataFormat), that use another hash algorithm,
// SHA-1 included (badAlg), that ask for another policy (unacceptedPolicy) or
// that carry extensions (unacceptedExtension).
// A refusal is an answer, not an error: [TSA.Timestamp] returns an error only
// when it cannot produce a token at all, for instance when the signer fails.
//
// # HTTP
//
// [TSA.Handler] serves the two endpoints of Sigstore's timestamp-authority:
//
//   - POST /api/v1/timestamp with Content-Type application/timestamp-query
//     (or none) and a DER TimeStampReq in the body, at most
//     [MaxRequestSize] bytes (larger bodies get 413). The answer is 200 with
//     Content-Type application/timestamp-reply and the TimeStampResp, also
//     for refusals of a well-formed request; a body that is not a
//     TimeStampReq at all gets 400 with a rejection TimeStampResp. With
//     Content-Type application/json the body is Sigstore's JSON request,
//     {"artifactHash": "<base64 digest>", "hashAlgorithm": "sha256",
//     "certificates": true, "nonce": 123, "tsaPolicyOID": "1.2.3"}, at most
//     [MaxJSONRequestSize] bytes, answered with the same DER TimeStampResp.
//     When the TSA cannot issue a token (see [TSA.Timestamp]) the answer is
//     500 with a TimeStampResp whose failInfo is systemFailure; the cause
//     goes to [Config.Logger] only.
//   - GET /api/v1/timestamp/certchain: the chain as PEM, leaf first, with
//     Content-Type application/pem-certificate-chain.
//
// # Keys and certificates
//
// On first start [New] creates, in [Config.Dir]:
//
//   - root-key.pem: the root CA's ECDSA P-384 key (PKCS #8 PEM, mode 0600).
//     It is not read afterwards; it is kept so that a new leaf can be issued
//     under the same root.
//   - leaf-key.pem: the TSA's ECDSA P-256 signing key (PKCS #8 PEM, mode
//     0600).
//   - chain.pem: the leaf certificate, then the self-signed root
//     certificate. The root is valid for 20 years. The leaf is valid for 10
//     years, has key usage digitalSignature and the single extended key
//     usage id-kp-timeStamping, marked critical as RFC 3161 §2.3 requires.
//
// chain.pem is written last, each file atomically, so a start interrupted
// half way creates everything again on the next start. Later starts load
// the files and check that the chain is signed link by link, that the leaf
// has the required extended key usage and that the key matches the leaf.
// One process at a time may use a directory.
//
// The TSA signs through a [crypto.Signer] only; [New] reads that key from
// [Config.Dir]. Key generation and ECDSA signatures draw their randomness from
// the Go runtime's secure source, which since Go 1.26 ignores a custom
// reader; [Config.Rand] supplies the serial numbers of tokens and
// certificates.
package tsa
