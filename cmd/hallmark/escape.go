package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Text from outside (annotations, identities, subjects, registry names and
// messages, bundle and report fields, policy messages) must not drive the
// terminal: an escape sequence in it could recolour, erase or overwrite
// what hallmark prints, and fake a "Verified" line. Every printer in tui.go
// passes what it prints through escapeControl.

// multiline is a document printed with its line breaks and tabs kept (a
// signed note, a JSON statement); its other control characters are still
// escaped.
type multiline string

// escapeControl returns s with every control character written as a
// visible escape: C0 (line breaks and tabs too, unless keepLines), DEL and
// C1 as \u00XX, the form JSON also reads, and each byte that is not UTF-8
// as \xXX. Other text, backslashes included, is kept as it is.
func escapeControl(s string, keepLines bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escapeArgs wraps printf arguments so that each is formatted as fmt
// would (same verb, width and flags) and then escaped; a multiline keeps
// its line breaks.
func escapeArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if m, ok := a.(multiline); ok {
			out[i] = escapedArg{string(m), true}
		} else {
			out[i] = escapedArg{a, false}
		}
	}
	return out
}

// escapedArg formats its value with the verb it is printed with, then
// escapes the result.
type escapedArg struct {
	v         any
	keepLines bool
}

func (e escapedArg) Format(f fmt.State, verb rune) {
	io.WriteString(f, escapeControl(fmt.Sprintf(fmt.FormatString(f, verb), e.v), e.keepLines))
}
