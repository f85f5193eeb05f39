package tlog_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/tlogtest"
	"hallmark.dev/tlog"
)

// testLog is a log key and a checkpoint it signed.
func testLog(t testing.TB, origin string) (note.Signer, string, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewNoteSigner(origin, priv)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := tlog.VerifierKey(origin, priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	text := tlog.Checkpoint{Origin: origin, Size: 7, Hash: make([]byte, 32)}.Marshal()
	return s, vkey, []byte(text)
}

// TestPolicyQuorum evaluates the spec's two-level example policy against
// every way its witnesses may have cosigned.
func TestPolicyQuorum(t *testing.T) {
	logSigner, logVKey, text := testLog(t, "log.example")
	ws := map[string]tlogtest.Witness{}
	for _, n := range []string{"X1", "X2", "X3", "Y1", "Y2"} {
		ws[n] = tlogtest.NewWitness(t, "witness.example/"+strings.ToLower(n))
	}
	policy := fmt.Sprintf(`# the example of C2SP tlog-policy
log %s https://log.example/

witness X1 %s
witness X2 %s https://w2.example/
witness X3 %s
group X-witnesses 2 X1 X2 X3
	witness Y1 %s
witness Y2 %s
group Y-witnesses any Y1 Y2
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`, logVKey, ws["X1"].VKey, ws["X2"].VKey, ws["X3"].VKey, ws["Y1"].VKey, ws["Y2"].VKey)
	p, err := tlog.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatalf("ParsePolicy: %v", err)
	}
	if got := len(p.Witnesses); got != 5 || p.Witnesses[1].URL != "https://w2.example/" || p.Logs[0].URL != "https://log.example/" {
		t.Fatalf("parsed %+v", p)
	}
	for _, tc := range []struct {
		signers []string
		ok      bool
	}{
		{[]string{"X1", "X2", "Y1"}, true},
		{[]string{"X2", "X3", "Y2"}, true},
		{[]string{"X1", "X2", "X3", "Y1", "Y2"}, true},
		{[]string{"X1", "Y1"}, false},
		{[]string{"X1", "X2"}, false},
		{nil, false},
	} {
		t.Run(strings.Join(tc.signers, "+"), func(t *testing.T) {
			var signers []note.Signer
			signers = append(signers, logSigner)
			for _, n := range tc.signers {
				signers = append(signers, ws[n].Signer)
			}
			signed, err := note.Sign(&note.Note{Text: string(text)}, signers...)
			if err != nil {
				t.Fatal(err)
			}
			cp, names, err := p.VerifyWitnessed(signed)
			if tc.ok {
				if err != nil {
					t.Fatalf("VerifyWitnessed: %v", err)
				}
				if diff := cmp.Diff(sorted(tc.signers), names); diff != "" {
					t.Errorf("cosigners (-want +got):\n%s", diff)
				}
				if cp.Size != 7 {
					t.Errorf("size %d, want 7", cp.Size)
				}
				return
			}
			if !errors.Is(err, tlog.ErrQuorumNotMet) || !strings.Contains(err.Error(), "quorum X-and-Y needs 2 of (X-witnesses Y-witnesses)") {
				t.Fatalf("got %v, want ErrQuorumNotMet naming the quorum", err)
			}
		})
	}

	// A checkpoint by another log, or a forged one, is refused before the
	// quorum is counted.
	other, _, otherText := testLog(t, "other.example")
	signed, err := note.Sign(&note.Note{Text: string(otherText)}, other, ws["X1"].Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.VerifyWitnessed(signed); !errors.Is(err, tlog.ErrUnknownLog) {
		t.Errorf("another log: got %v, want ErrUnknownLog", err)
	}
	forger, _, _ := testLog(t, "log.example")
	signed, err = note.Sign(&note.Note{Text: string(text)}, forger, ws["X1"].Signer, ws["X2"].Signer, ws["Y1"].Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.VerifyWitnessed(signed); !errors.Is(err, tlog.ErrUnverifiedCheckpoint) {
		t.Errorf("a checkpoint signed by another key of the same name: got %v, want ErrUnverifiedCheckpoint", err)
	}
	// A cosignature line that names a known witness but does not verify
	// makes the note malformed.
	good, err := note.Sign(&note.Note{Text: string(text)}, logSigner, ws["X1"].Signer, ws["X2"].Signer, ws["Y1"].Signer)
	if err != nil {
		t.Fatal(err)
	}
	bad := flipSignature(t, good, ws["Y1"].Name)
	if _, _, err := p.VerifyWitnessed(bad); !errors.Is(err, tlog.ErrQuorumNotMet) {
		t.Errorf("a broken cosignature: got %v, want ErrQuorumNotMet", err)
	}
}

// flipSignature flips a bit in the signature by the key named name.
func flipSignature(t *testing.T, signed []byte, name string) []byte {
	t.Helper()
	lines := strings.Split(string(signed), "\n")
	for i, l := range lines {
		if b64, ok := strings.CutPrefix(l, "— "+name+" "); ok {
			sig, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			sig[len(sig)-1] ^= 1
			lines[i] = "— " + name + " " + base64.StdEncoding.EncodeToString(sig)
			return []byte(strings.Join(lines, "\n"))
		}
	}
	t.Fatalf("no signature by %s", name)
	return nil
}

// withKeyHash replaces a vkey's key hash (its base64 key may hold '+').
func withKeyHash(vkey, hash string) string {
	parts := strings.SplitN(vkey, "+", 3)
	return parts[0] + "+" + hash + "+" + parts[2]
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestParsePolicyRefusals checks that malformed policies are refused and
// why.
func TestParsePolicyRefusals(t *testing.T) {
	_, logVKey, _ := testLog(t, "log.example")
	w := tlogtest.NewWitness(t, "witness.example/w")
	w2 := tlogtest.NewWitness(t, "witness.example/w2")
	for _, tc := range []struct {
		name, policy, want string
	}{
		{"no quorum", "witness W " + w.VKey + "\n", "no quorum line"},
		{"two quorums", "quorum none\nquorum none\n", "a second quorum line"},
		{"forward reference", "quorum W\nwitness W " + w.VKey + "\n", "not defined on a line above"},
		{"unknown keyword", "quorum none\nmonitor x\n", `unknown keyword "monitor"`},
		{"threshold too high", "witness A " + w.VKey + "\ngroup G 2 A\nquorum G\n", `threshold "2"`},
		{"threshold zero", "witness A " + w.VKey + "\ngroup G 0 A\nquorum G\n", `threshold "0"`},
		{"member twice", "witness A " + w.VKey + "\ngroup G all A A\nquorum G\n", "lists A twice"},
		{"member of two groups", "witness A " + w.VKey + "\ngroup G any A\ngroup H any A\nquorum H\n", "already a member"},
		{"reserved name", "witness none " + w.VKey + "\nquorum none\n", "reserved"},
		{"duplicate name", "witness A " + w.VKey + "\nwitness A " + w2.VKey + "\nquorum A\n", "defined twice"},
		{"duplicate key", "witness A " + w.VKey + "\nwitness B " + w.VKey + "\nquorum A\n", "duplicate key"},
		{"log key as witness", "witness A " + logVKey + "\nquorum A\n", "want an ed25519 cosignature key"},
		{"witness key as log", "log " + w.VKey + "\nquorum none\n", "want an ed25519 (0x01) or rfc 6962 (0x05) key"},
		{"bad key hash", "witness A " + withKeyHash(w.VKey, "00000000") + "\nquorum A\n", "key hash"},
		{"control character", "quorum none\x01\n", "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlog.ParsePolicy([]byte(tc.policy))
			if !errors.Is(err, tlog.ErrMalformedPolicy) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformedPolicy saying %q", err, tc.want)
			}
		})
	}
	// quorum none needs no witnesses; a witness's log list needs no quorum.
	p, err := tlog.ParsePolicy([]byte("log " + logVKey + "\nquorum none\n"))
	if err != nil || p.RequiresCosignatures() {
		t.Fatalf("quorum none: %v, requires cosignatures %v", err, p != nil && p.RequiresCosignatures())
	}
	if _, err := tlog.ParseLogPolicy([]byte("log " + logVKey + "\n")); err != nil {
		t.Errorf("a log list without a quorum: %v", err)
	}
	if _, err := tlog.ParseLogPolicy([]byte("quorum none\n")); err == nil || !strings.Contains(err.Error(), "no log lines") {
		t.Errorf("a log list without logs: got %v", err)
	}
}

// FuzzParsePolicy checks that ParsePolicy never panics and that whatever it
// accepts evaluates a checkpoint without panicking.
func FuzzParsePolicy(f *testing.F) {
	_, logVKey, text := testLog(f, "log.example")
	w := tlogtest.NewWitness(f, "witness.example/w")
	for _, s := range []string{
		"quorum none\n",
		"log " + logVKey + "\nwitness A " + w.VKey + " https://w.example\ngroup G any A\nquorum G\n",
		"witness A " + w.VKey + "\nquorum A\n",
		"# comment\n\n  \tquorum none  \n",
	} {
		f.Add([]byte(s))
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, w.Signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := tlog.ParsePolicy(data)
		if err != nil {
			return
		}
		p.CheckQuorum(signed)
		p.VerifyWitnessed(signed)
	})
}
