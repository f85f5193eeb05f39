// Package pkcs11key signs with private keys that stay in a PKCS#11 token
// (an HSM, a smart card, SoftHSM2), named by a PKCS#11 URI.
//
// # URIs
//
// A key is named by a PKCS#11 URI (RFC 7512), in the form cosign uses:
//
//	pkcs11:token=T;object=O;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234
//
// The path attributes (before '?', separated by ';') select the token —
// token, manufacturer, serial, model, slot-id, slot-description,
// slot-manufacturer, library-manufacturer, library-description,
// library-version — and the key in it — object (CKA_LABEL), id (CKA_ID,
// percent-encoded bytes) and type, which must be "private" if given. An
// attribute that is absent matches anything, but exactly one token and
// exactly one private key must match. The query attributes (after '?',
// separated by '&') say how to reach them: module-path is the module to
// load (module-name, a lookup by name, is refused); pin-value is the
// user PIN, and pin-source a file holding it (a path or a "file:" URI; the
// command form "|cmd" is refused). Vendor attributes ("x-…") are ignored;
// any other attribute, and an attribute given twice, make the URI invalid.
// What a URI leaves out comes from Options: the module path and a function
// that returns the PIN (the CLI fills them from cosign's environment
// variables COSIGN_PKCS11_MODULE_PATH and COSIGN_PKCS11_PIN, or a prompt).
//
// # Keys and mechanisms
//
// A key is ECDSA on P-256, P-384 or P-521, RSA of 2048 to 4096 bits, or
// Ed25519 (CKK_EC_EDWARDS, PKCS #11 v3.0); other keys are refused with
// keys.ErrUnsupportedKey. Its public half is read from the private key
// (RSA, CKA_PUBLIC_KEY_INFO) or from the public key object, or else the
// certificate, with the same CKA_ID.
//
// [Signer] implements crypto.Signer and crypto.MessageSigner. It signs with
// the mechanisms that take a digest the caller computed — CKM_ECDSA (whose
// r||s it encodes as ASN.1 DER), CKM_RSA_PKCS over a DigestInfo,
// CKM_RSA_PKCS_PSS — when the token offers them, as SoftHSM2 does. A
// token that offers only mechanisms that hash (CKM_ECDSA_SHA256,
// CKM_SHA256_RSA_PKCS and the like) is given the whole message, which
// only SignMessage has: callers sign with crypto.SignMessage. Ed25519 keys
// sign with CKM_EDDSA, pure Ed25519 only: Ed25519ph is refused.
//
// # Sessions
//
// A module is loaded (dlopen) and initialised once per process, and
// finalised when the last key using it is closed. Each Signer has a
// session of its own, logged in as the token's user when the token needs
// it, and signs one signature at a time. When the module says the session
// or the token is gone, a Signer opens a new session once and signs again;
// if that fails, the signature fails with ErrTokenGone.
//
// PKCS#11 needs cgo. A binary built without cgo has every function of the
// package return ErrNotBuiltIn.
package pkcs11key
