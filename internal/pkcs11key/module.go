//go:build cgo

package pkcs11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"hallmark.dev/keys"
)

// Values of PKCS #11 v3.0 that miekg/pkcs11 v1.1.2 does not define.
const (
	ckkECEdwards           = 0x40
	ckmECEdwardsKeyPairGen = 0x1055
)

// module is a loaded, initialised PKCS#11 module, shared by every key of
// the process that uses it.
type module struct {
	path string
	ctx  *pkcs11.Ctx
	refs int
}

// modules are the modules loaded, by absolute path. A module is
// initialised once per process (C_Initialize) and finalised when its last
// user releases it.
var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

func loadModule(path string) (*module, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrModule, path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w %s: no such file", ErrModule, path)
	case err != nil:
		return nil, fmt.Errorf("%w %s: %v", ErrModule, path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%w %s: a directory, not a module", ErrModule, path)
	}
	modules.Lock()
	defer modules.Unlock()
	if m := modules.m[abs]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := pkcs11.New(abs)
	if ctx == nil {
		return nil, fmt.Errorf("%w %s: not a PKCS#11 module (it does not load as a shared library, or has no C_GetFunctionList)", ErrModule, path)
	}
	if err := ctx.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		ctx.Destroy()
		return nil, fmt.Errorf("%w %s: C_Initialize: %s", ErrModule, path, codeName(err))
	}
	m := &module{path: path, ctx: ctx, refs: 1}
	modules.m[abs] = m
	return m, nil
}

func (m *module) release() {
	modules.Lock()
	defer modules.Unlock()
	if m.refs--; m.refs > 0 {
		return
	}
	for k, v := range modules.m {
		if v == m {
			delete(modules.m, k)
		}
	}
	m.ctx.Finalize()
	m.ctx.Destroy()
}

// isCode reports whether err is the PKCS#11 return value code.
func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

// codeName names a PKCS#11 error by its CKR_ constant.
func codeName(err error) string {
	var e pkcs11.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	if s := strings.TrimPrefix(e.Error(), fmt.Sprintf("pkcs11: 0x%X: ", uint(e))); s != "" {
		return s
	}
	return fmt.Sprintf("CKR 0x%X", uint(e))
}

// gone reports whether err says the session or the token went away.
func gone(err error) bool {
	for _, c := range []uint{pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_ERROR,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_USER_NOT_LOGGED_IN,
		pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_TOKEN_NOT_RECOGNIZED} {
		if isCode(err, c) {
			return true
		}
	}
	return false
}

// tokenError turns an error of the module into one of the package's.
func tokenError(err error) error {
	var e pkcs11.Error
	switch {
	case !errors.As(err, &e):
		return err
	case gone(err):
		return fmt.Errorf("%w (%s)", ErrTokenGone, codeName(err))
	case isCode(err, pkcs11.CKR_PIN_INCORRECT), isCode(err, pkcs11.CKR_PIN_INVALID), isCode(err, pkcs11.CKR_PIN_LEN_RANGE):
		return fmt.Errorf("%w (%s)", ErrWrongPIN, codeName(err))
	case isCode(err, pkcs11.CKR_PIN_LOCKED):
		return fmt.Errorf("%w: the PIN is locked (%s)", ErrWrongPIN, codeName(err))
	}
	return fmt.Errorf("the module answered %s", codeName(err))
}

// session is a session with the token a URI selects, logged in if the
// token needs it.
type session struct {
	mod   *module
	slot  uint
	token string // its label
	h     pkcs11.SessionHandle
}

// moduleFor loads the module the URI (or else opts) names.
func moduleFor(u *URI, opts Options) (*module, error) {
	if u.ModuleName != "" && u.ModulePath == "" {
		return nil, fmt.Errorf("module-name=%s: looking modules up by name is not supported; give module-path", u.ModuleName)
	}
	path := u.ModulePath
	if path == "" {
		path = opts.ModulePath
	}
	if path == "" {
		return nil, ErrNoModule
	}
	return loadModule(path)
}

// openSession finds the URI's token in mod and opens a session (read-write
// if rw), logging in with *pin, else the URI's PIN, else opts.PIN; it
// sets *pin to the PIN it used.
func openSession(mod *module, u *URI, opts Options, rw bool, pin *string) (*session, error) {
	s := &session{mod: mod}
	ti, err := s.findToken(u)
	if err != nil {
		return nil, err
	}
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if rw {
		flags |= pkcs11.CKF_RW_SESSION
	}
	if s.h, err = mod.ctx.OpenSession(s.slot, flags); err != nil {
		return nil, fmt.Errorf("token %q: opening a session: %w", s.token, tokenError(err))
	}
	if ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0 {
		if err := s.login(u, opts, pin); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// findToken selects the one token present that the URI's token, slot and
// library attributes match.
func (s *session) findToken(u *URI) (pkcs11.TokenInfo, error) {
	ctx := s.mod.ctx
	if u.LibraryManufacturer != "" || u.LibraryDescription != "" || u.LibraryVersion != "" {
		info, err := ctx.GetInfo()
		if err != nil {
			return pkcs11.TokenInfo{}, fmt.Errorf("C_GetInfo: %w", tokenError(err))
		}
		if !libraryMatches(u, info) {
			return pkcs11.TokenInfo{}, fmt.Errorf("%w %s: the module %s is %q %q %d.%d", ErrNoToken, u.tokenSelector(), s.mod.path,
				trim(info.ManufacturerID), trim(info.LibraryDescription), info.LibraryVersion.Major, info.LibraryVersion.Minor)
		}
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return pkcs11.TokenInfo{}, fmt.Errorf("listing slots: %w", tokenError(err))
	}
	var found []uint
	var foundInfo pkcs11.TokenInfo
	var labels []string
	for _, slot := range slots {
		ti, err := ctx.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // removed meanwhile, or a free slot
		}
		labels = append(labels, fmt.Sprintf("%q", trim(ti.Label)))
		if !tokenMatches(u, slot, ti) {
			continue
		}
		if u.SlotDescription != "" || u.SlotManufacturer != "" {
			si, err := ctx.GetSlotInfo(slot)
			if err != nil || (u.SlotDescription != "" && trim(si.SlotDescription) != u.SlotDescription) ||
				(u.SlotManufacturer != "" && trim(si.ManufacturerID) != u.SlotManufacturer) {
				continue
			}
		}
		found = append(found, slot)
		foundInfo = ti
	}
	switch len(found) {
	case 0:
		if len(labels) == 0 {
			return pkcs11.TokenInfo{}, fmt.Errorf("%w %s: the module %s has no token present", ErrNoToken, u.tokenSelector(), s.mod.path)
		}
		return pkcs11.TokenInfo{}, fmt.Errorf("%w %s (the module's tokens: %s)", ErrNoToken, u.tokenSelector(), strings.Join(labels, ", "))
	case 1:
		s.slot, s.token = found[0], trim(foundInfo.Label)
		return foundInfo, nil
	}
	return pkcs11.TokenInfo{}, fmt.Errorf("%w: %d tokens match %s (%s); name one with token= or slot-id=", ErrAmbiguous, len(found), u.tokenSelector(), strings.Join(labels, ", "))
}

func libraryMatches(u *URI, info pkcs11.Info) bool {
	if u.LibraryManufacturer != "" && trim(info.ManufacturerID) != u.LibraryManufacturer {
		return false
	}
	if u.LibraryDescription != "" && trim(info.LibraryDescription) != u.LibraryDescription {
		return false
	}
	if u.LibraryVersion != "" {
		major, minor, err := parseVersion(u.LibraryVersion)
		if err != nil || info.LibraryVersion.Major != major || (strings.Contains(u.LibraryVersion, ".") && info.LibraryVersion.Minor != minor) {
			return false
		}
	}
	return true
}

func tokenMatches(u *URI, slot uint, ti pkcs11.TokenInfo) bool {
	return (u.SlotID == nil || *u.SlotID == slot) &&
		(u.Token == "" || trim(ti.Label) == u.Token) &&
		(u.Manufacturer == "" || trim(ti.ManufacturerID) == u.Manufacturer) &&
		(u.Model == "" || trim(ti.Model) == u.Model) &&
		(u.Serial == "" || trim(ti.SerialNumber) == u.Serial)
}

// trim removes the padding of a CK_UTF8CHAR field.
func trim(s string) string { return strings.TrimRight(s, " \x00") }

// login logs the session's application in as the token's user.
func (s *session) login(u *URI, opts Options, pin *string) error {
	if *pin == "" {
		p, ok, err := u.pin()
		if err != nil {
			return fmt.Errorf("token %q: %w", s.token, err)
		}
		if !ok && opts.PIN != nil {
			if p, err = opts.PIN(s.token); err != nil {
				return fmt.Errorf("token %q: %w", s.token, err)
			}
			ok = true
		}
		if !ok {
			return fmt.Errorf("token %q: %w", s.token, ErrNoPIN)
		}
		*pin = p
	}
	err := s.mod.ctx.Login(s.h, pkcs11.CKU_USER, *pin)
	if err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		return fmt.Errorf("token %q: %w", s.token, tokenError(err))
	}
	return nil
}

// close closes the session; the module stays loaded.
func (s *session) close() error {
	if s == nil || s.h == 0 {
		return nil
	}
	err := s.mod.ctx.CloseSession(s.h)
	s.h = 0
	if err != nil && !gone(err) {
		return tokenError(err)
	}
	return nil
}

// find returns the objects that template matches.
func (s *session) find(template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	ctx := s.mod.ctx
	if err := ctx.FindObjectsInit(s.h, template); err != nil {
		return nil, tokenError(err)
	}
	var all []pkcs11.ObjectHandle
	for {
		objs, _, err := ctx.FindObjects(s.h, 64)
		if err != nil {
			ctx.FindObjectsFinal(s.h)
			return nil, tokenError(err)
		}
		if len(objs) == 0 {
			break
		}
		all = append(all, objs...)
	}
	if err := ctx.FindObjectsFinal(s.h); err != nil {
		return nil, tokenError(err)
	}
	return all, nil
}

// attr returns one attribute of an object, nil if the object has none.
func (s *session) attr(o pkcs11.ObjectHandle, typ uint) []byte {
	a, err := s.mod.ctx.GetAttributeValue(s.h, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil || len(a) != 1 {
		return nil
	}
	return a[0].Value
}

// selection returns the template of the URI's object attributes for a
// class of object.
func selection(u *URI, class uint) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
	if u.Object != "" {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object))
	}
	if u.ID != nil {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID))
	}
	return t
}

// privateKey returns the one private key the URI selects.
func (s *session) privateKey(u *URI) (pkcs11.ObjectHandle, error) {
	if u.Type != "" && u.Type != "private" {
		return 0, fmt.Errorf("type=%s: a signing key is a private key (type=private)", u.Type)
	}
	objs, err := s.find(selection(u, pkcs11.CKO_PRIVATE_KEY))
	if err != nil {
		return 0, fmt.Errorf("token %q: finding the key: %w", s.token, err)
	}
	switch len(objs) {
	case 1:
		return objs[0], nil
	case 0:
		var labels []string
		if all, err := s.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}); err == nil {
			for _, o := range all {
				labels = append(labels, fmt.Sprintf("%q", s.attr(o, pkcs11.CKA_LABEL)))
			}
		}
		has := "it holds no private key"
		if len(labels) > 0 {
			has = "its private keys: " + strings.Join(labels, ", ")
		}
		return 0, fmt.Errorf("%w %s in token %q (%s)", ErrNoKey, u.objectSelector(), s.token, has)
	}
	return 0, fmt.Errorf("%w: %d private keys match %s in token %q; name one with object= and id=", ErrAmbiguous, len(objs), u.objectSelector(), s.token)
}

// publicKey reads the public half of a private key: from the key itself
// (RSA, or CKA_PUBLIC_KEY_INFO), else from the public key object, else
// the certificate, with the same CKA_ID (or label, without one).
func (s *session) publicKey(priv pkcs11.ObjectHandle) (crypto.PublicKey, string, error) {
	kt := s.attr(priv, pkcs11.CKA_KEY_TYPE)
	if len(kt) == 0 {
		return nil, "", errors.New("the key has no CKA_KEY_TYPE")
	}
	keyType := bytesToUint(kt)
	if info := s.attr(priv, pkcs11.CKA_PUBLIC_KEY_INFO); len(info) > 0 {
		if pub, err := x509.ParsePKIXPublicKey(info); err == nil {
			return pub, keyTypeName(keyType), nil
		}
	}
	switch keyType {
	case pkcs11.CKK_RSA:
		pub, err := rsaPublicKey(s.attr(priv, pkcs11.CKA_MODULUS), s.attr(priv, pkcs11.CKA_PUBLIC_EXPONENT))
		return pub, "RSA", err
	case pkcs11.CKK_EC, ckkECEdwards:
	default:
		return nil, keyTypeName(keyType), fmt.Errorf("%w: %s key (want EC, RSA or Ed25519)", keys.ErrUnsupportedKey, keyTypeName(keyType))
	}
	params := s.attr(priv, pkcs11.CKA_EC_PARAMS)
	if _, _, name, err := curveOf(params); errors.Is(err, keys.ErrUnsupportedKey) {
		return nil, "EC " + name, err
	}
	id, label := s.attr(priv, pkcs11.CKA_ID), s.attr(priv, pkcs11.CKA_LABEL)
	class := pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)
	byID, byLabel := pkcs11.NewAttribute(pkcs11.CKA_ID, id), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)
	// The public key object of the pair: the one with the same ID and
	// label, else the same ID, else (a key without an ID) the same label.
	for _, match := range [][]*pkcs11.Attribute{{class, byID, byLabel}, {class, byID}, {class, byLabel}} {
		if len(id) == 0 && match[1] == byID {
			continue
		}
		objs, err := s.find(match)
		if err != nil || len(objs) != 1 {
			continue
		}
		p := s.attr(objs[0], pkcs11.CKA_EC_PARAMS)
		if len(p) == 0 {
			p = params
		}
		pub, err := ecPublicKey(p, s.attr(objs[0], pkcs11.CKA_EC_POINT))
		return pub, keyTypeName(keyType), err
	}
	if len(id) > 0 {
		certs, err := s.find([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE), pkcs11.NewAttribute(pkcs11.CKA_ID, id)})
		if err == nil && len(certs) == 1 {
			if c, err := x509.ParseCertificate(s.attr(certs[0], pkcs11.CKA_VALUE)); err == nil {
				return c.PublicKey, keyTypeName(keyType), nil
			}
		}
	}
	return nil, keyTypeName(keyType), errors.New("the token holds no public key for it (no public key object or certificate with its CKA_ID)")
}

func keyTypeName(t uint) string {
	switch t {
	case pkcs11.CKK_RSA:
		return "RSA"
	case pkcs11.CKK_EC:
		return "EC"
	case ckkECEdwards:
		return "EC_EDWARDS"
	case pkcs11.CKK_DSA:
		return "DSA"
	case pkcs11.CKK_DH:
		return "DH"
	case 0x41:
		return "EC_MONTGOMERY"
	}
	return fmt.Sprintf("CKK 0x%X", t)
}

// bytesToUint decodes a CK_ULONG attribute (host byte order).
func bytesToUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}

// tokenKey is a private key in a token, with the session it signs in. It
// holds its module loaded until closed.
type tokenKey struct {
	u    *URI
	opts Options
	pin  string
	mod  *module
	s    *session
	obj  pkcs11.ObjectHandle
	pub  crypto.PublicKey
	has  func(uint) bool
}

var _ backend = (*tokenKey)(nil)

// Open opens the private key a PKCS#11 URI names, for signing. The key
// must be ECDSA on P-256, P-384 or P-521, RSA of 2048 to 4096 bits, or
// Ed25519; others give keys.ErrUnsupportedKey.
func Open(ref string, opts Options) (*Signer, error) {
	u, err := ParseURI(ref)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	return OpenURI(u, opts)
}

// OpenURI is Open for a parsed URI.
func OpenURI(u *URI, opts Options) (*Signer, error) {
	mod, err := moduleFor(u, opts)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	k := &tokenKey{u: u, opts: opts, mod: mod}
	if err := k.open(); err != nil {
		mod.release()
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	if err := checkSupported(k.pub); err != nil {
		k.close()
		return nil, fmt.Errorf("pkcs11: %s: %w", describeKey(u), err)
	}
	return &Signer{uri: u, pub: k.pub, b: k}, nil
}

// open opens a session, finds the key and reads its public half and the
// token's mechanisms.
func (k *tokenKey) open() error {
	s, err := openSession(k.mod, k.u, k.opts, false, &k.pin)
	if err != nil {
		return err
	}
	obj, err := s.privateKey(k.u)
	if err != nil {
		s.close()
		return err
	}
	pub, _, err := s.publicKey(obj)
	if err != nil {
		s.close()
		return fmt.Errorf("%s: %w", describeKey(k.u), err)
	}
	if k.pub != nil {
		if eq, ok := k.pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
			s.close()
			return fmt.Errorf("%s: the key is not the one opened before", describeKey(k.u))
		}
	}
	var list []uint
	if ms, err := s.mod.ctx.GetMechanismList(s.slot); err == nil {
		list = []uint{}
		for _, m := range ms {
			list = append(list, m.Mechanism)
		}
	}
	k.s, k.obj, k.pub, k.has = s, obj, pub, mechanismSet(list)
	return nil
}

func (k *tokenKey) sign(in []byte, opts crypto.SignerOpts, message bool) ([]byte, error) {
	st, err := plan(k.pub, k.has, in, opts, message)
	if err != nil {
		return nil, err
	}
	sig, err := k.signOnce(st)
	if err != nil && gone(err) {
		// The session (or login) was lost: the token may have been
		// re-inserted. Try once more in a new session; the old one is
		// closed after, so that the module stays loaded meanwhile.
		old := k.s
		rerr := k.open()
		old.close()
		if rerr != nil {
			k.s = nil
			return nil, tokenError(err)
		}
		sig, err = k.signOnce(st)
	}
	if err != nil {
		return nil, tokenError(err)
	}
	if st.rawECDSA {
		return ecdsaDER(k.pub.(*ecdsa.PublicKey), sig)
	}
	return sig, nil
}

func (k *tokenKey) signOnce(st step) ([]byte, error) {
	if k.s == nil {
		return nil, pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)
	}
	var param any
	if p := st.mech.pss; p != nil {
		param = pkcs11.NewPSSParams(p.hash, p.mgf, p.saltLen)
	}
	ctx := k.s.mod.ctx
	if err := ctx.SignInit(k.s.h, []*pkcs11.Mechanism{pkcs11.NewMechanism(st.mech.typ, param)}, k.obj); err != nil {
		return nil, err
	}
	return ctx.Sign(k.s.h, st.data)
}

func (k *tokenKey) close() error {
	err := k.s.close()
	k.s = nil
	if k.mod != nil {
		k.mod.release()
		k.mod = nil
	}
	return err
}

// ListTokens lists the tokens present in the module at modulePath.
func ListTokens(modulePath string) ([]TokenInfo, error) {
	mod, err := loadModule(modulePath)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	defer mod.release()
	slots, err := mod.ctx.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: listing slots: %w", tokenError(err))
	}
	var out []TokenInfo
	for _, slot := range slots {
		ti, err := mod.ctx.GetTokenInfo(slot)
		if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		info := TokenInfo{SlotID: slot, Label: trim(ti.Label), Manufacturer: trim(ti.ManufacturerID),
			Model: trim(ti.Model), Serial: trim(ti.SerialNumber), LoginRequired: ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0}
		info.URI = (&URI{Token: info.Label, Serial: info.Serial, ModulePath: modulePath}).String()
		out = append(out, info)
	}
	return out, nil
}

// ListKeys lists the private keys of the token the URI selects (its object
// attributes, if any, filter them), with a URI for each.
func ListKeys(u *URI, opts Options) ([]KeyInfo, error) {
	mod, err := moduleFor(u, opts)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	defer mod.release()
	var pin string
	s, err := openSession(mod, u, opts, false, &pin)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	defer s.close()
	objs, err := s.find(selection(u, pkcs11.CKO_PRIVATE_KEY))
	if err != nil {
		return nil, fmt.Errorf("pkcs11: token %q: %w", s.token, err)
	}
	modulePath := u.ModulePath
	if modulePath == "" {
		modulePath = opts.ModulePath
	}
	var out []KeyInfo
	for _, o := range objs {
		label, id := string(s.attr(o, pkcs11.CKA_LABEL)), s.attr(o, pkcs11.CKA_ID)
		ki := KeyInfo{Label: label, ID: fmt.Sprintf("%x", id)}
		pub, typ, err := s.publicKey(o)
		if err == nil {
			err = checkSupported(pub)
		}
		if err != nil {
			ki.Type, ki.Unsupported = typ, err.Error()
		} else {
			ki.Type = keys.Describe(pub)
		}
		ku := &URI{Token: s.token, Object: label, ModulePath: modulePath}
		if len(id) > 0 {
			ku.ID = id
		}
		ki.URI = ku.String()
		out = append(out, ki)
	}
	slices.SortFunc(out, func(a, b KeyInfo) int { return strings.Compare(a.Label+a.ID, b.Label+b.ID) })
	return out, nil
}

// Generate creates a key pair in the token the URI selects, labelled with
// its object attribute (required) and identified by its id attribute (8
// random bytes if none): the private key is sensitive and not extractable.
// It returns the new key, opened for signing. alg is one of keys'
// algorithms; ed25519 needs a token with CKM_EC_EDWARDS_KEY_PAIR_GEN.
func Generate(u *URI, opts Options, alg keys.Algorithm) (*Signer, error) {
	if u.Object == "" {
		return nil, errors.New("pkcs11: the URI names no object: give the new key a label with object=")
	}
	if u.Type != "" && u.Type != "private" {
		return nil, fmt.Errorf("pkcs11: type=%s: a key pair is generated from a URI without type or with type=private", u.Type)
	}
	nu := *u
	if nu.ID == nil {
		nu.ID = make([]byte, 8)
		if _, err := rand.Read(nu.ID); err != nil {
			return nil, fmt.Errorf("pkcs11: %w", err)
		}
	}
	pubT, privT, mech, err := templates(alg)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	mod, err := moduleFor(&nu, opts)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	defer mod.release()
	var pin string
	s, err := openSession(mod, &nu, opts, true, &pin)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	defer s.close()
	for _, t := range [][]*pkcs11.Attribute{
		{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nu.Object)},
		{pkcs11.NewAttribute(pkcs11.CKA_ID, nu.ID)},
	} {
		objs, err := s.find(t)
		if err != nil {
			return nil, fmt.Errorf("pkcs11: token %q: %w", s.token, err)
		}
		if len(objs) > 0 {
			return nil, fmt.Errorf("pkcs11: token %q: %w (object=%s, id=%X)", s.token, ErrExists, nu.Object, nu.ID)
		}
	}
	common := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nu.Object),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nu.ID),
	}
	pubT = append(append(pubT, common...), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
	privT = append(append(privT, common...),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true))
	if _, _, err := s.mod.ctx.GenerateKeyPair(s.h, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pubT, privT); err != nil {
		return nil, fmt.Errorf("pkcs11: token %q: generating a %s key: %w", s.token, alg, tokenError(err))
	}
	nu.PINValue, nu.PINSource = u.PINValue, u.PINSource
	key, err := OpenURI(&nu, Options{ModulePath: opts.ModulePath, PIN: func(string) (string, error) { return pin, nil }})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// templates returns the key pair templates and mechanism for alg.
func templates(alg keys.Algorithm) (pub, priv []*pkcs11.Attribute, mech uint, err error) {
	ec := func(oid []byte) ([]*pkcs11.Attribute, []*pkcs11.Attribute, uint, error) {
		return []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, oid)},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC)}, pkcs11.CKM_EC_KEY_PAIR_GEN, nil
	}
	rsa := func(bits int) ([]*pkcs11.Attribute, []*pkcs11.Attribute, uint, error) {
		return []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, bits), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA)}, pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil
	}
	switch alg {
	case "", keys.ECDSAP256:
		return ec(mustOID(oidP256))
	case keys.ECDSAP384:
		return ec(mustOID(oidP384))
	case keys.ECDSAP521:
		return ec(mustOID(oidP521))
	case keys.RSA3072:
		return rsa(3072)
	case keys.RSA4096:
		return rsa(4096)
	case keys.Ed25519:
		return []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, mustOID(oidEd25519))},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards)}, ckmECEdwardsKeyPairGen, nil
	}
	return nil, nil, 0, fmt.Errorf("%w: unknown algorithm %q", keys.ErrUnsupportedKey, alg)
}
