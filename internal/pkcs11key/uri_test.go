package pkcs11key

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func uintp(n uint) *uint { return &n }

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *URI
	}{
		// cosign's form.
		{"pkcs11:token=T;object=O;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=P",
			&URI{Token: "T", Object: "O", ID: []byte{1}, ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINValue: "P"}},
		// RFC 7512 §3's examples.
		{"pkcs11:", &URI{}},
		{"pkcs11:object=my-pubkey;type=public", &URI{Object: "my-pubkey", Type: "public"}},
		{"pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
			&URI{Object: "my-key", Type: "private", PINSource: "file:/etc/token"}},
		{"pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
			&URI{Token: "The Software PKCS#11 Softtoken", Manufacturer: "Snake Oil, Inc.", Model: "1.0", Object: "my-certificate",
				Type: "cert", ID: []byte{0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91}, PINSource: "file:/etc/token_pin"}},
		{"pkcs11:object=my-sign-key;type=private?module-name=mypkcs11", &URI{Object: "my-sign-key", Type: "private", ModuleName: "mypkcs11"}},
		{"pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
			&URI{Object: "my-sign-key", Type: "private", ModulePath: "/mnt/libmypkcs11.so.1"}},
		{"pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
			&URI{Token: "Software PKCS#11 softtoken", Manufacturer: "Snake Oil, Inc.", PINValue: "the-pin"}},
		{"pkcs11:slot-description=Sun%20Metaslot", &URI{SlotDescription: "Sun Metaslot"}},
		{"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
			&URI{LibraryManufacturer: "Snake Oil, Inc.", LibraryDescription: "Soft Token Library", LibraryVersion: "1.23"}},
		{"pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b", nil},
		{"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
			&URI{Token: "A name with a substring %;", Object: "my-certificate", Type: "cert"}},
		{"pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
			&URI{Token: "Name with a small A with acute: á", Object: "my-certificate", Type: "cert"}},
		{"pkcs11:token=my-token;object=my-certificate;type=cert;x-vend-aaa=value-a?pin-source=file:/etc/token_pin&x-vend-bbb=value-b",
			&URI{Token: "my-token", Object: "my-certificate", Type: "cert", PINSource: "file:/etc/token_pin"}},
		{"pkcs11:slot-id=3;slot-manufacturer=Acme", &URI{SlotID: uintp(3), SlotManufacturer: "Acme"}},
		// '+' is a plus (RFC 3986), not a space as in a form.
		{"pkcs11:object=a+b", &URI{Object: "a+b"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseURI(tc.in)
			if tc.want == nil {
				if !errors.Is(err, ErrInvalidURI) || !strings.Contains(err.Error(), `unknown attribute "vendor-aaa"`) {
					t.Fatalf("got %v, want a refusal of vendor-aaa (vendor attributes start with x-)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseURI mismatch (-want +got):\n%s", diff)
			}
			again, err := ParseURI(got.Encode())
			if err != nil {
				t.Fatalf("ParseURI(Encode()) = %v", err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("Encode does not round-trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestParseURIRefusals(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"file:/etc/key", `invalid PKCS#11 URI: want the prefix "pkcs11:"`},
		{"pkcs11:token", `invalid PKCS#11 URI: attribute "token": want name=value`},
		{"pkcs11:token=a;token=b", "invalid PKCS#11 URI: attribute token given twice"},
		{"pkcs11:token=%zz", "invalid PKCS#11 URI: attribute token: bad percent-encoding"},
		{"pkcs11:module-path=/x.so", "invalid PKCS#11 URI: attribute module-path is in the wrong part"},
		{"pkcs11:?token=a", "invalid PKCS#11 URI: attribute token is in the wrong part"},
		{"pkcs11:slot-id=one", `invalid PKCS#11 URI: slot-id "one" is not a decimal number`},
		{"pkcs11:type=secret", `invalid PKCS#11 URI: type "secret": want one of public, private, cert, secret-key, data`},
		{"pkcs11:library-version=1.x", `invalid PKCS#11 URI: library-version "1.x": want M or M.N`},
		{"pkcs11:?pin-value=1&pin-source=/p", "invalid PKCS#11 URI: pin-value and pin-source are mutually exclusive"},
		{"pkcs11:object=k#frag", "invalid PKCS#11 URI: a fragment (#) is not allowed"},
		{"pkcs11:?pin-value", `invalid PKCS#11 URI: attribute "pin-value": want name=value`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseURI(tc.in)
			if !errors.Is(err, ErrInvalidURI) || !strings.HasPrefix(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestURIStringRedactsPIN(t *testing.T) {
	u, err := ParseURI("pkcs11:token=T;object=O?module-path=/m.so&pin-value=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), "pkcs11:token=T;object=O?module-path=/m.so&pin-value=redacted"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := u.Encode(), "pkcs11:token=T;object=O?module-path=/m.so&pin-value=s3cret"; got != want {
		t.Errorf("Encode() = %q, want %q", got, want)
	}
}

func TestPIN(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"lf": "1234\n", "crlf": "1234\r\n", "bare": "1234", "two": "1234\n\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		u       URI
		pin     string
		ok      bool
		wantErr string
	}{
		{URI{}, "", false, ""},
		{URI{PINValue: "1234"}, "1234", true, ""},
		{URI{PINSource: filepath.Join(dir, "lf")}, "1234", true, ""},
		{URI{PINSource: filepath.Join(dir, "crlf")}, "1234", true, ""},
		{URI{PINSource: filepath.Join(dir, "bare")}, "1234", true, ""},
		{URI{PINSource: filepath.Join(dir, "two")}, "1234\n", true, ""},
		{URI{PINSource: "file:" + filepath.Join(dir, "lf")}, "1234", true, ""},
		{URI{PINSource: "file://" + filepath.Join(dir, "lf")}, "1234", true, ""},
		{URI{PINSource: "file://host" + filepath.Join(dir, "lf")}, "", false, "want a file: URI of a local file"},
		{URI{PINSource: "|/usr/bin/pinentry"}, "", false, "pin-source: running a command (|…) is not supported"},
		{URI{PINSource: filepath.Join(dir, "missing")}, "", false, "pin-source: open "},
	} {
		pin, ok, err := tc.u.pin()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: got %v, want an error with %q", tc.u, err, tc.wantErr)
			}
			continue
		}
		if err != nil || pin != tc.pin || ok != tc.ok {
			t.Errorf("%+v: got %q, %v, %v; want %q, %v", tc.u, pin, ok, err, tc.pin, tc.ok)
		}
	}
}

// FuzzParseURI checks that ParseURI never panics, and that Encode of what
// it accepts parses to the same URI.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=T;object=O;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=P",
		"pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
		"pkcs11:slot-id=3;library-version=2.6?pin-source=file:/etc/pin&x-a=b",
		"pkcs11:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidURI) {
				t.Fatalf("error %v does not wrap ErrInvalidURI", err)
			}
			return
		}
		again, err := ParseURI(u.Encode())
		if err != nil {
			t.Fatalf("ParseURI(%q) = %v", u.Encode(), err)
		}
		if diff := cmp.Diff(u, again); diff != "" {
			t.Fatalf("Encode does not round-trip (-first +second):\n%s", diff)
		}
	})
}
