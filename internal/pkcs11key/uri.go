package pkcs11key

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Scheme is the prefix of every PKCS#11 URI (RFC 7512 §2.3).
const Scheme = "pkcs11:"

// IsURI reports whether ref is a PKCS#11 URI rather than a file name.
func IsURI(ref string) bool { return strings.HasPrefix(ref, Scheme) }

// URI is a parsed PKCS#11 URI (RFC 7512): its path attributes select a
// token and an object in it, its query attributes say how to reach them.
// Attributes that are absent match anything.
type URI struct {
	// Token attributes (CK_TOKEN_INFO): label, manufacturerID, serialNumber
	// and model.
	Token, Manufacturer, Serial, Model string
	// Library attributes (CK_INFO): manufacturerID, libraryDescription and
	// libraryVersion ("M" or "M.N").
	LibraryManufacturer, LibraryDescription, LibraryVersion string
	// Slot attributes (CK_SLOT_INFO and the slot's ID).
	SlotDescription, SlotManufacturer string
	SlotID                            *uint
	// Object attributes: CKA_LABEL, CKA_ID and the object class (public,
	// private, cert, secret-key or data).
	Object string
	ID     []byte
	Type   string
	// Query attributes: the module to load and the user PIN, given or read
	// from a file (pin-source: "file:" URI or a path).
	ModulePath, ModuleName string
	PINValue, PINSource    string
}

// The attribute names of RFC 7512 §2.3, in the order String writes them.
var (
	pathAttrs = []string{"token", "manufacturer", "serial", "model", "library-manufacturer",
		"library-description", "library-version", "slot-description", "slot-manufacturer", "slot-id",
		"object", "id", "type"}
	queryAttrs = []string{"module-path", "module-name", "pin-source", "pin-value"}
	objectType = []string{"public", "private", "cert", "secret-key", "data"}
)

// ErrInvalidURI is wrapped by every error of ParseURI.
var ErrInvalidURI = errors.New("invalid PKCS#11 URI")

// ParseURI parses a PKCS#11 URI. It refuses an attribute it does not know
// (vendor attributes, "x-…", are ignored), one given twice, a value that is
// not percent-encoded properly, and both pin-value and pin-source.
func ParseURI(s string) (*URI, error) {
	if !IsURI(s) {
		return nil, fmt.Errorf("%w: want the prefix %q", ErrInvalidURI, Scheme)
	}
	rest := strings.TrimPrefix(s, Scheme)
	path, query, _ := strings.Cut(rest, "?")
	if strings.Contains(query, "#") || strings.Contains(path, "#") {
		return nil, fmt.Errorf("%w: a fragment (#) is not allowed", ErrInvalidURI)
	}
	u := &URI{}
	seen := map[string]bool{}
	parse := func(part, sep string, known []string) error {
		if part == "" {
			return nil
		}
		for attr := range strings.SplitSeq(part, sep) {
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return fmt.Errorf("%w: attribute %q: want name=value", ErrInvalidURI, redactAttr(attr))
			}
			value, err := url.PathUnescape(raw)
			if err != nil {
				return fmt.Errorf("%w: attribute %s: bad percent-encoding", ErrInvalidURI, name)
			}
			if strings.HasPrefix(name, "x-") {
				continue // vendor-specific: RFC 7512 §2.3 lets a consumer ignore it
			}
			if !slices.Contains(known, name) {
				if slices.Contains(pathAttrs, name) || slices.Contains(queryAttrs, name) {
					return fmt.Errorf("%w: attribute %s is in the wrong part (path attributes before '?', query attributes after)", ErrInvalidURI, name)
				}
				return fmt.Errorf("%w: unknown attribute %q", ErrInvalidURI, name)
			}
			if seen[name] {
				return fmt.Errorf("%w: attribute %s given twice", ErrInvalidURI, name)
			}
			seen[name] = true
			if err := u.set(name, value); err != nil {
				return err
			}
		}
		return nil
	}
	if err := parse(path, ";", pathAttrs); err != nil {
		return nil, err
	}
	if err := parse(query, "&", queryAttrs); err != nil {
		return nil, err
	}
	if u.PINValue != "" && u.PINSource != "" {
		return nil, fmt.Errorf("%w: pin-value and pin-source are mutually exclusive", ErrInvalidURI)
	}
	return u, nil
}

func (u *URI) set(name, v string) error {
	switch name {
	case "token":
		u.Token = v
	case "manufacturer":
		u.Manufacturer = v
	case "serial":
		u.Serial = v
	case "model":
		u.Model = v
	case "library-manufacturer":
		u.LibraryManufacturer = v
	case "library-description":
		u.LibraryDescription = v
	case "library-version":
		if _, _, err := parseVersion(v); err != nil {
			return err
		}
		u.LibraryVersion = v
	case "slot-description":
		u.SlotDescription = v
	case "slot-manufacturer":
		u.SlotManufacturer = v
	case "slot-id":
		n, err := strconv.ParseUint(v, 10, 0)
		if err != nil {
			return fmt.Errorf("%w: slot-id %q is not a decimal number", ErrInvalidURI, v)
		}
		id := uint(n)
		u.SlotID = &id
	case "object":
		u.Object = v
	case "id":
		u.ID = []byte(v)
	case "type":
		if !slices.Contains(objectType, v) {
			return fmt.Errorf("%w: type %q: want one of %s", ErrInvalidURI, v, strings.Join(objectType, ", "))
		}
		u.Type = v
	case "module-path":
		u.ModulePath = v
	case "module-name":
		u.ModuleName = v
	case "pin-source":
		u.PINSource = v
	case "pin-value":
		u.PINValue = v
	}
	return nil
}

// parseVersion parses a library-version value, "M" or "M.N".
func parseVersion(v string) (major, minor uint8, err error) {
	ma, mi, hasMinor := strings.Cut(v, ".")
	a, err := strconv.ParseUint(ma, 10, 8)
	if err == nil && hasMinor {
		var b uint64
		b, err = strconv.ParseUint(mi, 10, 8)
		minor = uint8(b)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: library-version %q: want M or M.N", ErrInvalidURI, v)
	}
	return uint8(a), minor, nil
}

// String returns the URI with its attributes in a fixed order and the PIN
// value replaced by "redacted": fit for messages and logs.
func (u *URI) String() string { return u.encode(true) }

// Encode returns the URI with its attributes in a fixed order, the PIN
// value included.
func (u *URI) Encode() string { return u.encode(false) }

func (u *URI) encode(redact bool) string {
	var b strings.Builder
	b.WriteString(Scheme)
	write := func(sep *string, name, value string, isID bool) {
		b.WriteString(*sep)
		*sep = ";"
		b.WriteString(name)
		b.WriteByte('=')
		if isID {
			for _, c := range []byte(value) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
			return
		}
		b.WriteString(escape(value, false))
	}
	sep := ""
	for _, name := range pathAttrs {
		if v, ok := u.get(name); ok {
			write(&sep, name, v, name == "id")
		}
	}
	first := true
	for _, name := range queryAttrs {
		v, ok := u.get(name)
		if !ok {
			continue
		}
		if name == "pin-value" && redact {
			v = "redacted"
		}
		if first {
			b.WriteByte('?')
			first = false
		} else {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(escape(v, true))
	}
	return b.String()
}

func (u *URI) get(name string) (string, bool) {
	var v string
	switch name {
	case "token":
		v = u.Token
	case "manufacturer":
		v = u.Manufacturer
	case "serial":
		v = u.Serial
	case "model":
		v = u.Model
	case "library-manufacturer":
		v = u.LibraryManufacturer
	case "library-description":
		v = u.LibraryDescription
	case "library-version":
		v = u.LibraryVersion
	case "slot-description":
		v = u.SlotDescription
	case "slot-manufacturer":
		v = u.SlotManufacturer
	case "slot-id":
		if u.SlotID == nil {
			return "", false
		}
		return strconv.FormatUint(uint64(*u.SlotID), 10), true
	case "object":
		v = u.Object
	case "id":
		return string(u.ID), u.ID != nil
	case "type":
		v = u.Type
	case "module-path":
		v = u.ModulePath
	case "module-name":
		v = u.ModuleName
	case "pin-source":
		v = u.PINSource
	case "pin-value":
		v = u.PINValue
	}
	return v, v != ""
}

// escape percent-encodes every byte of v but RFC 3986's unreserved
// characters and ':', which RFC 7512 (pk11-pchar, pk11-qchar) allows in
// both parts, and '/', which it allows in the query (so that module paths
// stay readable).
func escape(v string, query bool) string {
	var b strings.Builder
	for _, c := range []byte(v) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == ':', c == '/' && query:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// redactAttr hides the value of a malformed attribute, which may be a PIN.
func redactAttr(attr string) string {
	if len(attr) > 16 {
		return attr[:16] + "…"
	}
	return attr
}

// pin returns the user PIN the URI carries: pin-value, or the contents of
// the pin-source file (a "file:" URI or a path) without its final line
// break. ok is false when the URI carries none.
func (u *URI) pin() (pin string, ok bool, err error) {
	if u.PINValue != "" {
		return u.PINValue, true, nil
	}
	if u.PINSource == "" {
		return "", false, nil
	}
	src := u.PINSource
	if strings.HasPrefix(src, "|") {
		return "", false, errors.New("pin-source: running a command (|…) is not supported; give a file")
	}
	if strings.HasPrefix(src, "file:") {
		p, err := url.Parse(src)
		if err != nil || p.Path == "" || (p.Host != "" && p.Host != "localhost") {
			return "", false, fmt.Errorf("pin-source %q: want a file: URI of a local file, or a path", src)
		}
		src = p.Path
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", false, fmt.Errorf("pin-source: %w", err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), true, nil
}

// tokenSelector describes, for messages, the token attributes of the URI.
func (u *URI) tokenSelector() string {
	return u.selector([]string{"token", "manufacturer", "serial", "model", "library-manufacturer",
		"library-description", "library-version", "slot-description", "slot-manufacturer", "slot-id"}, "any token")
}

// objectSelector describes, for messages, the object attributes of the URI.
func (u *URI) objectSelector() string {
	return u.selector([]string{"object", "id", "type"}, "(any)")
}

func (u *URI) selector(names []string, none string) string {
	var parts []string
	for _, name := range names {
		v, ok := u.get(name)
		if !ok {
			continue
		}
		if name == "id" {
			parts = append(parts, fmt.Sprintf("id=%X", u.ID))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%q", name, v))
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, " ")
}
