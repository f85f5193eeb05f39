package verify_test

import (
	"strings"
	"testing"

	"hallmark.dev/internal/testkit/lite"
	"hallmark.dev/verify"
)

// TestTimestampThresholdMessage: a bundle whose signed timestamps were
// stripped is refused at the timestamp step, with sigstore-go's count of
// verified timestamps and no formatting residue (sigstore-go wraps an
// empty list of causes, which prints as %!w(<nil>)).
func TestTimestampThresholdMessage(t *testing.T) {
	st := startStack(t)
	strip := func(b []byte) []byte {
		return lite.EditJSON(t, b, func(m map[string]any) {
			delete(m["verificationMaterial"].(map[string]any), "timestampVerificationData")
		})
	}
	set := signKeylessBlobs(t, st, 1)
	k, err := verify.NewKeyless(st.tr, set.id)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := k.TimestampOnly()
	if err != nil {
		t.Fatal(err)
	}
	keyed, _, ks := st.timestampedWithKey(t, []byte("artifact 0\n"))
	kts, err := ks.WithTrustedRoot(st.tr).TimestampOnly()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		bundle    []byte
		authority verify.Authority
		want      string
	}{
		{"keyless, log", strip(set.bundles[0]), k, "threshold not met for verified signed & log entry integrated timestamps: 0 < 1"},
		{"keyless, timestamp only", strip(set.bundles[0]), tk, "threshold not met for verified signed timestamps: 0 < 1"},
		{"key, timestamp only", strip(keyed), kts, "threshold not met for verified signed timestamps: 0 < 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify.Blob("b", c.bundle, verify.Artifact{Digest: set.digests[0]}, verify.BlobPolicy{Authority: c.authority})
			if step := stepOf(t, err); step != verify.StepTimestamp {
				t.Errorf("step %s (%v), want timestamp", step, err)
			}
			if msg := err.Error(); !strings.HasSuffix(msg, c.want) || strings.Contains(msg, "%!") {
				t.Errorf("got %q, want it to end with %q", msg, c.want)
			}
		})
	}
}
