package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/rogpeppe/go-internal/testscript"

	"hallmark.dev/keys"
	"hallmark.dev/sign"
)

// signstmt [-dsse] KEY STATEMENT OUT: sign an in-toto statement file
// with a cosign key file (password $HALLMARK_PASSWORD) and write the
// Sigstore bundle to OUT, or with -dsse append the bare DSSE envelope to
// OUT as one line, as .intoto.jsonl files hold them.
func cmdSignStatement(ts *testscript.TestScript, neg bool, args []string) {
	dsse := len(args) > 0 && args[0] == "-dsse"
	if dsse {
		args = args[1:]
	}
	if neg || len(args) != 3 {
		ts.Fatalf("usage: signstmt [-dsse] KEY STATEMENT OUT")
	}
	keyPEM, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	s, err := keys.DecryptPrivateKey(keyPEM, []byte(ts.Getenv("HALLMARK_PASSWORD")))
	ts.Check(err)
	kp, err := sign.NewKeySigner(s)
	ts.Check(err)
	statement, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	bundle, err := sign.Statement(context.Background(), kp, statement, sign.Options{})
	ts.Check(err)
	if !dsse {
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), bundle, 0o644))
		return
	}
	var b struct {
		DSSEEnvelope json.RawMessage `json:"dsseEnvelope"`
	}
	ts.Check(json.Unmarshal(bundle, &b))
	f, err := os.OpenFile(ts.MkAbs(args[2]), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	ts.Check(err)
	_, err = f.Write(append(b.DSSEEnvelope, '\n'))
	ts.Check(err)
	ts.Check(f.Close())
}
