package tlog

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Errors of witness policies. Callers branch with errors.Is.
var (
	// ErrMalformedPolicy means the policy text breaks C2SP tlog-policy.
	ErrMalformedPolicy = errors.New("malformed witness policy")
	// ErrQuorumNotMet means a checkpoint does not carry valid cosignatures
	// from the policy's quorum of witnesses.
	ErrQuorumNotMet = errors.New("witness quorum not met")
	// ErrUnknownLog means a checkpoint's origin is not one of the policy's
	// logs, or carries no valid signature by that log's key.
	ErrUnknownLog = errors.New("checkpoint not signed by a log of the policy")
)

// Signed-note signature types of the verifier keys a policy holds
// (C2SP signed-note, tlog-cosignature, static-ct-api).
const (
	vkeyEd25519       = 0x01
	vkeyCosignatureV1 = 0x04
	vkeyRFC6962       = 0x05
)

// VerifierKey returns the vkey (C2SP signed-note verifier key) of the
// Ed25519 checkpoint key of the log named origin: what a witness or a
// policy's log line names the log with. Other key types have no vkey form
// that witnesses accept.
func VerifierKey(origin string, pub crypto.PublicKey) (string, error) {
	k, ok := pub.(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("%w: only an ed25519 log key has a verifier key, not %T", ErrUnsupportedKey, pub)
	}
	id, err := LogID(origin, k)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s+%08x+%s", origin, binary.BigEndian.Uint32(id), base64.StdEncoding.EncodeToString(append([]byte{vkeyEd25519}, k...))), nil
}

// NewCosignatureSigner returns the C2SP tlog-cosignature v1 signer of the
// witness named name with Ed25519 key priv (timestamped cosignatures,
// type 0x04), and its verifier key.
func NewCosignatureSigner(name string, priv ed25519.PrivateKey) (note.Signer, string, error) {
	if !validName(name) {
		return nil, "", ErrInvalidOrigin
	}
	vkey, err := CosignatureVerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, "", err
	}
	hash := keyHash(name, append([]byte{vkeyCosignatureV1}, priv.Public().(ed25519.PublicKey)...))
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(append([]byte{vkeyCosignatureV1}, priv.Seed()...)))
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, "", fmt.Errorf("cosignature key for %q: %w", name, err)
	}
	return s, vkey, nil
}

// CosignatureVerifierKey returns the verifier key (type 0x04) of the
// Ed25519 cosignatures of the witness named name with public key pub.
func CosignatureVerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	if !validName(name) {
		return "", ErrInvalidOrigin
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("%w: ed25519 key is %d bytes", ErrUnsupportedKey, len(pub))
	}
	typed := append([]byte{vkeyCosignatureV1}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, typed), base64.StdEncoding.EncodeToString(typed)), nil
}

// ParseLogVerifierKey returns the verifier of a log's checkpoints from its
// vkey: an Ed25519 note key (type 0x01) or an RFC 6962 tree head key (type
// 0x05, static-ct-api).
func ParseLogVerifierKey(vkey string) (note.Verifier, error) {
	switch alg, err := vkeyType(vkey); {
	case err != nil:
		return nil, err
	case alg == vkeyEd25519:
		return note.NewVerifier(vkey)
	case alg == vkeyRFC6962:
		return fnote.NewRFC6962Verifier(vkey)
	default:
		return nil, fmt.Errorf("log verifier key of type %#x: want an ed25519 (0x01) or rfc 6962 (0x05) key", alg)
	}
}

// ParseWitnessVerifierKey returns the verifier of a witness's Ed25519
// cosignatures (C2SP tlog-cosignature, type 0x04) from its vkey.
func ParseWitnessVerifierKey(vkey string) (note.Verifier, error) {
	switch alg, err := vkeyType(vkey); {
	case err != nil:
		return nil, err
	case alg != vkeyCosignatureV1:
		return nil, fmt.Errorf("witness verifier key of type %#x: want an ed25519 cosignature key (0x04)", alg)
	}
	if err := checkKeyHash(vkey); err != nil {
		return nil, err
	}
	return fnote.NewVerifierForCosignatureV1(vkey)
}

// vkeyType returns the signature type byte of a vkey.
func vkeyType(vkey string) (byte, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || !validName(parts[0]) || len(parts[1]) != 8 {
		return 0, fmt.Errorf("verifier key %q: want name+hash+key", vkey)
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) < 2 {
		return 0, fmt.Errorf("verifier key %q: key is not base64", vkey)
	}
	return key[0], nil
}

// checkKeyHash checks a vkey's key hash: SHA-256(name || "\n" || key)[:4],
// the key with its type byte.
func checkKeyHash(vkey string) error {
	parts := strings.SplitN(vkey, "+", 3)
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	want := keyHash(parts[0], key)
	if got, err := strconv.ParseUint(parts[1], 16, 32); err != nil || uint32(got) != want {
		return fmt.Errorf("verifier key %q: key hash %s, want %08x", vkey, parts[1], want)
	}
	return nil
}

func keyHash(name string, typedKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(typedKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// A Policy is a C2SP tlog-policy
// (https://github.com/C2SP/C2SP/blob/main/tlog-policy.md): the logs it
// knows, the witnesses it knows, and the quorum of witnesses whose
// cosignatures make a checkpoint valid.
type Policy struct {
	// Logs are the policy's logs, in file order.
	Logs []PolicyLog
	// Witnesses are the policy's witnesses, in file order.
	Witnesses []PolicyWitness
	quorum    *member // nil: quorum none
	hasQuorum bool
}

// PolicyLog is a log line: `log <vkey> [<url>]`.
type PolicyLog struct {
	VKey     string
	URL      string
	Origin   string
	Verifier note.Verifier
}

// PolicyWitness is a witness line: `witness <name> <vkey> [<url>]`.
type PolicyWitness struct {
	Name     string
	VKey     string
	URL      string
	Verifier note.Verifier
}

// member is a witness or a group of the quorum.
type member struct {
	name    string
	witness *PolicyWitness
	k       int
	members []*member
}

// Limits this implementation imposes, at tlog-policy's recommended minimum
// and well above it.
const maxPolicyItems = 256

// ParsePolicy parses a tlog-policy file. It must define exactly one
// quorum. Errors wrap ErrMalformedPolicy and name the line.
func ParsePolicy(data []byte) (*Policy, error) {
	p, err := parsePolicy(data)
	if err != nil {
		return nil, err
	}
	if !p.hasQuorum {
		return nil, fmt.Errorf("%w: no quorum line (write \"quorum none\" to require no cosignatures)", ErrMalformedPolicy)
	}
	return p, nil
}

// ParseLogPolicy parses a tlog-policy file for its log lines, as a
// witness's list of the logs it accepts: the quorum line is optional.
func ParseLogPolicy(data []byte) (*Policy, error) {
	p, err := parsePolicy(data)
	if err != nil {
		return nil, err
	}
	if len(p.Logs) == 0 {
		return nil, fmt.Errorf("%w: no log lines", ErrMalformedPolicy)
	}
	return p, nil
}

func parsePolicy(data []byte) (*Policy, error) {
	p := &Policy{}
	names := map[string]*member{}
	used := map[string]bool{}
	keys := map[string]bool{}
	for i, raw := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrMalformedPolicy, n, fmt.Sprintf(format, args...))
		}
		for _, c := range raw {
			if c < 0x20 && c != '\t' && c != '\r' || c == 0x7f {
				return nil, bad("control character %#x", c)
			}
		}
		line := strings.TrimRight(string(raw), "\r")
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(p.Logs)+len(p.Witnesses)+len(names) > maxPolicyItems {
			return nil, bad("more than %d logs, witnesses and groups", maxPolicyItems)
		}
		switch fields[0] {
		case "log":
			if len(fields) < 2 || len(fields) > 3 {
				return nil, bad("want: log <vkey> [<url>]")
			}
			v, err := ParseLogVerifierKey(fields[1])
			if err != nil {
				return nil, bad("%v", err)
			}
			k := keyMaterial(fields[1])
			if keys[k] {
				return nil, bad("duplicate key")
			}
			keys[k] = true
			l := PolicyLog{VKey: fields[1], Origin: v.Name(), Verifier: v}
			if len(fields) == 3 {
				l.URL = fields[2]
			}
			p.Logs = append(p.Logs, l)
		case "witness":
			if len(fields) < 3 || len(fields) > 4 {
				return nil, bad("want: witness <name> <vkey> [<url>]")
			}
			name := fields[1]
			if err := newName(names, name); err != nil {
				return nil, bad("%v", err)
			}
			v, err := ParseWitnessVerifierKey(fields[2])
			if err != nil {
				return nil, bad("%v", err)
			}
			k := keyMaterial(fields[2])
			if keys[k] {
				return nil, bad("duplicate key")
			}
			keys[k] = true
			w := PolicyWitness{Name: name, VKey: fields[2], Verifier: v}
			if len(fields) == 4 {
				w.URL = fields[3]
			}
			p.Witnesses = append(p.Witnesses, w)
			names[name] = &member{name: name, witness: &p.Witnesses[len(p.Witnesses)-1]}
		case "group":
			if len(fields) < 4 {
				return nil, bad("want: group <name> <all|any|k> <name>...")
			}
			name := fields[1]
			if err := newName(names, name); err != nil {
				return nil, bad("%v", err)
			}
			g := &member{name: name}
			seen := map[string]bool{}
			for _, m := range fields[3:] {
				c, ok := names[m]
				if !ok {
					return nil, bad("group %s: %q is not defined on a line above", name, m)
				}
				if seen[m] {
					return nil, bad("group %s lists %s twice", name, m)
				}
				if used[m] {
					return nil, bad("%s is already a member of a group", m)
				}
				seen[m] = true
				used[m] = true
				g.members = append(g.members, c)
			}
			switch k := fields[2]; k {
			case "all":
				g.k = len(g.members)
			case "any":
				g.k = 1
			default:
				v, err := strconv.Atoi(k)
				if err != nil || strconv.Itoa(v) != k || v < 1 || v > len(g.members) {
					return nil, bad("group %s: threshold %q, want all, any or 1 to %d", name, k, len(g.members))
				}
				g.k = v
			}
			names[name] = g
		case "quorum":
			if len(fields) != 2 {
				return nil, bad("want: quorum <name>")
			}
			if p.hasQuorum {
				return nil, bad("a second quorum line")
			}
			p.hasQuorum = true
			if fields[1] == "none" {
				continue
			}
			q, ok := names[fields[1]]
			if !ok {
				return nil, bad("quorum %q is not defined on a line above", fields[1])
			}
			p.quorum = q
		default:
			return nil, bad("unknown keyword %q", fields[0])
		}
	}
	// The witness pointers taken above stay valid only if Witnesses did not
	// grow after them: rebuild them from the final slice.
	for i := range p.Witnesses {
		names[p.Witnesses[i].Name].witness = &p.Witnesses[i]
	}
	return p, nil
}

// keyMaterial is a vkey's key without its name and hash: two vkeys are
// duplicates when they wrap the same key.
func keyMaterial(vkey string) string {
	parts := strings.SplitN(vkey, "+", 3)
	key, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(key) < 1 {
		return vkey
	}
	return string(key[1:])
}

func newName(names map[string]*member, name string) error {
	switch name {
	case "none", "all", "any", "log", "witness", "group", "quorum":
		return fmt.Errorf("%q is a reserved name", name)
	}
	if _, dup := names[name]; dup {
		return fmt.Errorf("%q is defined twice", name)
	}
	return nil
}

// RequiresCosignatures reports whether the quorum names any witness.
func (p *Policy) RequiresCosignatures() bool { return p.quorum != nil }

// Log returns the policy's log named origin.
func (p *Policy) Log(origin string) (PolicyLog, bool) {
	for _, l := range p.Logs {
		if l.Origin == origin {
			return l, true
		}
	}
	return PolicyLog{}, false
}

// CheckQuorum checks that signed, a checkpoint in signed-note form, carries
// valid cosignatures of the policy's quorum of witnesses, and returns the
// names of the witnesses whose cosignatures verified. Signatures by keys
// the policy does not know are ignored; a signature by a known key that
// does not verify is an error, as C2SP signed-note requires. It does not
// check the log's own signature: see [VerifyCheckpoint]. A failure wraps
// ErrQuorumNotMet.
func (p *Policy) CheckQuorum(signed []byte) ([]string, error) {
	if len(p.Witnesses) == 0 {
		if p.quorum != nil {
			return nil, fmt.Errorf("%w: the policy lists no witnesses", ErrQuorumNotMet)
		}
		return nil, nil
	}
	vs := make([]note.Verifier, len(p.Witnesses))
	for i, w := range p.Witnesses {
		vs[i] = w.Verifier
	}
	signedBy := map[string]bool{}
	n, err := note.Open(signed, note.VerifierList(vs...))
	var unverified *note.UnverifiedNoteError
	switch {
	case err == nil:
	case errors.As(err, &unverified):
		n = nil
	default:
		return nil, fmt.Errorf("%w: %v", ErrQuorumNotMet, err)
	}
	if n != nil {
		for _, s := range n.Sigs {
			for _, w := range p.Witnesses {
				if w.Verifier.Name() == s.Name && w.Verifier.KeyHash() == s.Hash {
					signedBy[w.Name] = true
				}
			}
		}
	}
	var names []string
	for name := range signedBy {
		names = append(names, name)
	}
	sort.Strings(names)
	if p.quorum != nil && !p.quorum.satisfied(signedBy) {
		got := "none"
		if len(names) > 0 {
			got = strings.Join(names, ", ")
		}
		return names, fmt.Errorf("%w: quorum %s needs %s; cosigned by: %s", ErrQuorumNotMet, p.quorum.name, p.quorum.describe(), got)
	}
	return names, nil
}

func (m *member) satisfied(signedBy map[string]bool) bool {
	if m.witness != nil {
		return signedBy[m.witness.Name]
	}
	n := 0
	for _, c := range m.members {
		if c.satisfied(signedBy) {
			n++
		}
	}
	return n >= m.k
}

func (m *member) describe() string {
	if m.witness != nil {
		return m.name
	}
	names := make([]string, len(m.members))
	for i, c := range m.members {
		names[i] = c.name
	}
	return fmt.Sprintf("%d of (%s)", m.k, strings.Join(names, " "))
}

// VerifyWitnessed opens signed with the policy's log named by its origin
// and checks the quorum: the log signed it and enough witnesses cosigned
// it. Errors wrap ErrUnknownLog, ErrQuorumNotMet or those of
// [VerifyCheckpoint].
func (p *Policy) VerifyWitnessed(signed []byte) (Checkpoint, []string, error) {
	origin, _, _ := bytes.Cut(signed, []byte("\n"))
	l, ok := p.Log(string(origin))
	if !ok {
		return Checkpoint{}, nil, fmt.Errorf("%w: no log line for origin %q", ErrUnknownLog, origin)
	}
	cp, err := VerifyCheckpoint(signed, l.Verifier)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	names, err := p.CheckQuorum(signed)
	return cp, names, err
}
