package verify_test

import (
	"encoding/base64"
	"testing"

	"hallmark.dev/internal/testkit/lite"
)

func flipBase64(t *testing.T, s any) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s.(string))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	return base64.StdEncoding.EncodeToString(raw)
}

func tamperPayload(t *testing.T, b []byte) []byte {
	return lite.EditJSON(t, b, func(m map[string]any) {
		env := m["dsseEnvelope"].(map[string]any)
		env["payload"] = flipBase64(t, env["payload"])
	})
}

func tamperSignature(t *testing.T, b []byte) []byte {
	return lite.EditJSON(t, b, func(m map[string]any) {
		if env, ok := m["dsseEnvelope"].(map[string]any); ok {
			sig := env["signatures"].([]any)[0].(map[string]any)
			sig["sig"] = flipBase64(t, sig["sig"])
			return
		}
		ms := m["messageSignature"].(map[string]any)
		ms["signature"] = flipBase64(t, ms["signature"])
	})
}
