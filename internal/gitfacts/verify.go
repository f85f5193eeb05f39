package gitfacts

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"hallmark.dev/signpolicy"
)

// The signature formats git writes into tag objects.
const (
	FormatSSH     = "ssh"
	FormatOpenPGP = "openpgp"
	FormatX509    = "x509"
)

// sshNamespace is the SSHSIG namespace git signs in.
const sshNamespace = "git"

var signatureStarts = []struct{ begin, format string }{
	{"-----BEGIN PGP SIGNATURE-----", FormatOpenPGP},
	{"-----BEGIN PGP MESSAGE-----", FormatOpenPGP},
	{"-----BEGIN SSH SIGNATURE-----", FormatSSH},
	{"-----BEGIN SIGNED MESSAGE-----", FormatX509},
}

// splitSignature splits a tag object into the signed payload and the
// signature, as git does: at the last line that starts a signature.
func splitSignature(raw []byte) (payload, sig []byte, format string) {
	at := -1
	for i := 0; i < len(raw); {
		for _, s := range signatureStarts {
			if bytes.HasPrefix(raw[i:], []byte(s.begin)) {
				at, format = i, s.format
			}
		}
		nl := bytes.IndexByte(raw[i:], '\n')
		if nl < 0 {
			break
		}
		i += nl + 1
	}
	if at < 0 {
		return raw, nil, ""
	}
	return raw[:at], raw[at:], format
}

// Verify establishes the tag fact for a release of commit under the
// policy: the principal whose key signed exactly this tag object, when the
// object names itself t.Name, is of a commit, points at commit, and its
// signature verifies with a key the principal holds. Otherwise the fact
// has no signer, and the evidence says why.
func Verify(t *Tag, commit string, p *signpolicy.Policy) (signpolicy.TagFact, signpolicy.Evidence) {
	fact := signpolicy.TagFact{Name: t.Name}
	ev := signpolicy.Evidence{Fact: "tag", Source: "tag " + t.Name, Result: signpolicy.Rejected}
	reject := func(format string, args ...any) (signpolicy.TagFact, signpolicy.Evidence) {
		ev.Detail = fmt.Sprintf(format, args...)
		return fact, ev
	}
	if t.Object == "" {
		return reject("lightweight tag: a ref to commit %s with no tag object, so nothing is signed", t.Target)
	}
	ev.Source = fmt.Sprintf("tag %s (object %s)", t.Name, t.Object)
	h, err := parseHeaders(t.Raw)
	if err != nil {
		return reject("%v", err)
	}
	switch {
	case h.tag != t.Name:
		return reject("the tag object names itself %s, not %s: a tag object signed for another name", h.tag, t.Name)
	case h.typ != "commit":
		return reject("the tag object is of a %s, not a commit", h.typ)
	case h.object != commit:
		return reject("the tag points at commit %s, not %s (the commit being released)", h.object, commit)
	}
	payload, sig, format := splitSignature(t.Raw)
	verifySig := verifyOpenPGP
	switch format {
	case "":
		return reject("annotated tag without a signature")
	case FormatX509:
		return reject("X.509 (gitsign) tag signatures are not verified by hallmark: sign tags with gpg.format=ssh or openpgp")
	case FormatSSH:
		verifySig = verifySSH
	}
	name, how, err := verifySig(payload, sig, p)
	if err != nil {
		return reject("%v", err)
	}
	fact.Signer, ev.Principal = name, name
	ev.Result, ev.Detail = signpolicy.Verified, fmt.Sprintf("signed by %s: %s, over the tag object, which points at commit %s", name, how, commit)
	return fact, ev
}

func verifySSH(payload, armored []byte, p *signpolicy.Policy) (name, how string, err error) {
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return "", "", fmt.Errorf("SSH signature: %v", err)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	var key ssh.PublicKey
	for _, pr := range p.Principals() {
		for _, k := range pr.Keys {
			if k.SSH != nil && bytes.Equal(k.SSH.Marshal(), sig.PublicKey.Marshal()) {
				name, key = pr.Name, k.SSH
			}
		}
	}
	if key == nil {
		return "", "", fmt.Errorf("SSH signature by key %s %s, which no principal holds (unnamed key)", sig.PublicKey.Type(), fp)
	}
	if sig.Namespace != sshNamespace {
		return "", "", fmt.Errorf("SSH signature by %s's key %s in namespace %q, not git's %q: it was not made as a git signature", name, fp, sig.Namespace, sshNamespace)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), sig, key, sig.HashAlgorithm, sshNamespace); err != nil {
		return "", "", fmt.Errorf("SSH signature by %s's key %s does not verify over the tag object: %v", name, fp, err)
	}
	return name, fmt.Sprintf("SSH signature (sshsig, namespace git, %s) by key %s %s", sig.HashAlgorithm, sig.PublicKey.Type(), fp), nil
}

func verifyOpenPGP(payload, armored []byte, p *signpolicy.Policy) (name, how string, err error) {
	var ring openpgp.EntityList
	owner := map[string]string{}
	for _, pr := range p.Principals() {
		for _, k := range pr.Keys {
			for _, e := range k.OpenPGP {
				ring = append(ring, e)
				owner[hex.EncodeToString(e.PrimaryKey.Fingerprint)] = pr.Name
			}
		}
	}
	signer, err := openpgp.CheckArmoredDetachedSignature(ring, bytes.NewReader(payload), bytes.NewReader(armored), nil)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return "", "", errors.New("OpenPGP signature by a key no principal holds (unnamed key)")
	case err != nil:
		return "", "", fmt.Errorf("OpenPGP signature does not verify over the tag object: %v", err)
	}
	fp := hex.EncodeToString(signer.PrimaryKey.Fingerprint)
	name = owner[fp]
	if name == "" {
		return "", "", errors.New("OpenPGP signature by a key no principal holds (unnamed key)")
	}
	return name, "OpenPGP signature by key " + strings.ToUpper(fp), nil
}
