package verify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/internal/tlogtest"
	"hallmark.dev/tlog"
	"hallmark.dev/verify"
)

// cosignBundle returns the bundle with the checkpoint of its log entry
// cosigned by ws, as a witnessed log would have served it.
func cosignBundle(t *testing.T, b []byte, ws ...tlogtest.Witness) []byte {
	t.Helper()
	return lite.EditJSON(t, b, func(m map[string]any) {
		cp := m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)["inclusionProof"].(map[string]any)["checkpoint"].(map[string]any)
		env := cp["envelope"].(string)
		text, _, _ := strings.Cut(env, "\n\n")
		for _, w := range ws {
			signed, err := note.Sign(&note.Note{Text: text + "\n"}, w.Signer)
			if err != nil {
				t.Fatal(err)
			}
			_, sig, _ := strings.Cut(string(signed), "\n\n")
			env += sig
		}
		cp["envelope"] = env
	})
}

// TestWitnessed verifies a keyless bundle under a witness policy: accepted
// when its checkpoint carries the quorum's cosignatures, refused at the log
// step (and why) when it does not, when a cosignature is forged, or when
// the authority would accept it without a policy.
func TestWitnessed(t *testing.T) {
	st := startStack(t)
	set := signKeylessBlobs(t, st, 1)
	k, err := verify.NewKeyless(st.tr, set.id)
	if err != nil {
		t.Fatal(err)
	}
	w1, w2, stranger := tlogtest.NewWitness(t, "w1.example/w"), tlogtest.NewWitness(t, "w2.example/w"), tlogtest.NewWitness(t, "w1.example/w")
	policy, err := tlog.ParsePolicy(fmt.Appendf(nil, "witness W1 %s\nwitness W2 %s\ngroup both all W1 W2\nquorum both\n", w1.VKey, w2.VKey))
	if err != nil {
		t.Fatal(err)
	}
	wk, err := verify.Witnessed(k, policy)
	if err != nil {
		t.Fatal(err)
	}
	plain := set.bundles[0]
	for _, tc := range []struct {
		name   string
		bundle []byte
		want   string // empty: verifies
	}{
		{"cosigned by the quorum", cosignBundle(t, plain, w1, w2), ""},
		{"not cosigned", plain, "quorum both needs 2 of (W1 W2); cosigned by: none"},
		{"one of two", cosignBundle(t, plain, w1), "cosigned by: W1"},
		{"a stranger with a witness's name", cosignBundle(t, plain, stranger, w2), "cosigned by: W2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := verify.Blob("b", tc.bundle, verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: wk})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Blob: %v", err)
				}
				if diff := cmp.Diff([]string{"W1", "W2"}, res.Signer.Witnesses); diff != "" {
					t.Errorf("witnesses (-want +got):\n%s", diff)
				}
				return
			}
			var se *verify.SignatureError
			if !errors.As(err, &se) || se.Step != verify.StepLog || !errors.Is(err, tlog.ErrQuorumNotMet) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a log-step refusal saying %q", err, tc.want)
			}
			// Without the policy the same bundle verifies: the refusal is
			// the policy's.
			if _, err := verify.Blob("b", tc.bundle, verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: k}); err != nil {
				t.Errorf("without a policy: %v", err)
			}
		})
	}
	if _, err := verify.Witnessed(k, nil); !errors.Is(err, verify.ErrNoWitnessPolicy) {
		t.Errorf("Witnessed without a policy: got %v", err)
	}
}

// TestSCTRequired verifies a keyless bundle from the server, whose CA logs
// to its CT log, under its trusted root (which lists that log), and under
// the same root listing another CT log: the SCT check fails then, at the
// certificate step.
func TestSCTRequired(t *testing.T) {
	st := startStack(t)
	set := signKeylessBlobs(t, st, 1)
	k, err := verify.NewKeyless(st.tr, set.id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Blob("b", set.bundles[0], verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: k}); err != nil {
		t.Fatalf("under the server's root: %v", err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(other.Public())
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	b := lite.EditJSON(t, st.srv.TrustedRoot(), func(m map[string]any) {
		ctlogs, _ := m["ctlogs"].([]any)
		if len(ctlogs) != 1 {
			t.Fatalf("the server's trusted root lists %d CT logs, want 1", len(ctlogs))
		}
		l := ctlogs[0].(map[string]any)
		l["publicKey"].(map[string]any)["rawBytes"] = der
		l["logId"] = map[string]any{"keyId": id[:]}
	})
	tr, err := verify.ParseTrustedRoot(b)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := verify.NewKeyless(tr, set.id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify.Blob("b", set.bundles[0], verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: k2})
	var se *verify.SignatureError
	if !errors.As(err, &se) || se.Step != verify.StepCertificate || !strings.Contains(err.Error(), "SCT") {
		t.Fatalf("under a root listing another CT log: got %v, want a certificate-step SCT failure", err)
	}
	// Waived by name, the same root verifies the bundle.
	k3, err := verify.NewAuthority(verify.AuthorityConfig{Identities: []verify.Identity{set.id}, TrustedRoot: tr, InsecureIgnoreSCTUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Blob("b", set.bundles[0], verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: k3}); err != nil {
		t.Fatalf("under a root listing another CT log, SCT waived: %v", err)
	}
}
