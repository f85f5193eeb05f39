package signpolicy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"

	"hallmark.dev/keys"
)

// Principal is a named signer: the keys and keyless identities that act
// for it. Rules name principals; approvals and tag signatures count for
// the principal whose key or identity verified them.
type Principal struct {
	Name       string
	Keys       []Key
	Identities []Identity
}

// Identity is a keyless signer: the OIDC issuer and the subject (email or
// URI) of a short-lived certificate, both matched exactly.
type Identity struct {
	Issuer  string `yaml:"issuer" json:"issuer"`
	Subject string `yaml:"subject" json:"subject"`
}

func (id Identity) String() string { return id.Subject + " from " + id.Issuer }

// KeyKind is how a key was written in the policy.
type KeyKind string

// The key kinds a policy may list.
const (
	KeySSH     KeyKind = "ssh"     // an OpenSSH authorized_keys line
	KeyPKIX    KeyKind = "pkix"    // a PEM public key (cosign.pub) or certificate
	KeyOpenPGP KeyKind = "openpgp" // an OpenPGP armored public key
)

// Key is one public key of a principal.
type Key struct {
	Kind KeyKind
	// Fingerprint names the key for reports: "SHA256:<base64>" (OpenSSH's)
	// for SSH keys, "SHA256:<hex>" of the PKIX encoding for PEM keys, the
	// primary key's fingerprint in hex for OpenPGP keys.
	Fingerprint string
	// Public is the key as a Go key (ECDSA, RSA or Ed25519), nil for an
	// OpenPGP key or an SSH key of another type (a security key). Approvals
	// verify with it.
	Public crypto.PublicKey
	// SSH is the key in SSH form: set for SSH keys and for PEM keys of a
	// type SSH signs with. Tag signatures in SSH format verify with it.
	SSH ssh.PublicKey
	// OpenPGP is the parsed key for OpenPGP keys. Tag signatures in
	// OpenPGP format verify with it.
	OpenPGP openpgp.EntityList
}

// ids are the strings under which the key must be unique in a policy.
func (k Key) ids() []string {
	var out []string
	if k.Public != nil {
		out = append(out, keys.Fingerprint(k.Public))
	}
	if k.SSH != nil {
		out = append(out, ssh.FingerprintSHA256(k.SSH))
	}
	for _, e := range k.OpenPGP {
		out = append(out, "openpgp:"+hex.EncodeToString(e.PrimaryKey.Fingerprint))
		for _, s := range e.Subkeys {
			out = append(out, "openpgp:"+hex.EncodeToString(s.PublicKey.Fingerprint))
		}
	}
	return out
}

var principalName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ReservedPrincipal is the name a principal may not take: scan results
// hallmark produces itself (the release's own gate) carry it.
const ReservedPrincipal = "hallmark"

// parseKey reads one key as written in a policy: an OpenPGP armored public
// key, a PEM public key, or an authorized_keys line (options refused).
func parseKey(text string) (Key, error) {
	trimmed := strings.TrimSpace(text)
	switch {
	case strings.HasPrefix(trimmed, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):
		el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(trimmed))
		if err != nil {
			return Key{}, fmt.Errorf("OpenPGP key: %v", err)
		}
		if len(el) == 0 {
			return Key{}, errors.New("OpenPGP key: no key in the block")
		}
		for _, e := range el {
			if e.PrivateKey != nil {
				return Key{}, errors.New("OpenPGP key: the block holds a private key; list public keys only")
			}
		}
		return Key{Kind: KeyOpenPGP, Fingerprint: strings.ToUpper(hex.EncodeToString(el[0].PrimaryKey.Fingerprint)), OpenPGP: el}, nil
	case strings.HasPrefix(trimmed, "-----BEGIN "):
		if strings.Contains(trimmed, "PRIVATE KEY") {
			return Key{}, errors.New("PEM key: this is a private key; list public keys only")
		}
		pub, err := keys.ParsePublicKey([]byte(trimmed))
		if err != nil {
			return Key{}, fmt.Errorf("PEM key: %v", err)
		}
		k := Key{Kind: KeyPKIX, Fingerprint: keys.Fingerprint(pub), Public: pub}
		if sk, err := ssh.NewPublicKey(pub); err == nil {
			k.SSH = sk
		}
		return k, nil
	}
	if strings.Contains(trimmed, "\n") {
		return Key{}, errors.New("SSH key: one authorized_keys line per entry")
	}
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(trimmed))
	if err != nil {
		return Key{}, fmt.Errorf("SSH key: not an authorized_keys line, a PEM public key or an OpenPGP armored key: %v", err)
	}
	if len(options) > 0 {
		return Key{}, fmt.Errorf("SSH key: options (%s) are not allowed", strings.Join(options, ","))
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return Key{}, errors.New("SSH key: one key per entry")
	}
	if _, isCert := pub.(*ssh.Certificate); isCert {
		return Key{}, errors.New("SSH key: certificates are not allowed; list the key")
	}
	k := Key{Kind: KeySSH, Fingerprint: ssh.FingerprintSHA256(pub), SSH: pub}
	// Security keys (sk-*) sign in a format of their own: they verify tag
	// signatures through SSH, never approvals.
	if cp, ok := pub.(ssh.CryptoPublicKey); ok && !strings.HasPrefix(pub.Type(), "sk-") {
		switch c := cp.CryptoPublicKey().(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
			k.Public = c
		}
	}
	return k, nil
}

// ParseIdentity reads an identity written ISSUER=SUBJECT (the issuer is
// cut at the first '=').
func ParseIdentity(spec string) (Identity, error) {
	iss, sub, ok := strings.Cut(spec, "=")
	if !ok || iss == "" || sub == "" {
		return Identity{}, fmt.Errorf("identity %q: want ISSUER=SUBJECT, for example https://token.actions.githubusercontent.com=https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", spec)
	}
	return Identity{Issuer: iss, Subject: sub}, nil
}
