package verify

import (
	"bytes"
	"io"

	"hallmark.dev/attest"
)

// Outcome is what verifying one statement bundle by one path gave.
type Outcome struct {
	Step      Step // "" when it verified
	Err       error
	Statement *attest.Statement
	Payload   []byte
	Signer    Signer
	// Prehashed says the signature was checked over the PAE digest.
	Prehashed bool
}

func outcome(st *attest.Statement, payload []byte, s Signer, serr *SignatureError) Outcome {
	if serr != nil {
		return Outcome{Step: serr.Step, Err: serr.Err}
	}
	return Outcome{Statement: st, Payload: payload, Signer: s}
}

// VerifyStatementInMemory is the path of a bundle held in memory: parsed
// whole, with sigstore-go's envelope checks.
func VerifyStatementInMemory(digest string, bundleJSON []byte, a Authority) Outcome {
	b, err := ParseBundle(bundleJSON)
	if err != nil {
		return Outcome{Step: StepBundle, Err: err}
	}
	return outcome(verifyParsedStatement(digest, "b", b, a))
}

// VerifyStatementStreamed is the path of a bundle read as a stream (of
// unknown size when size is false).
func VerifyStatementStreamed(digest string, bundleJSON []byte, a Authority, size bool) Outcome {
	prehashed := false
	testHookPrehashed = func() { prehashed = true }
	defer func() { testHookPrehashed = nil }()
	src := BundleSource{Source: "b", Size: -1, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(bundleJSON)), nil
	}}
	if size {
		src.Size = int64(len(bundleJSON))
	}
	o := outcome(verifyStatementSource(digest, src, a))
	o.Prehashed = prehashed
	return o
}

// ReadStreamedBundle exposes the streaming reader to its fuzz test.
var ReadStreamedBundle = readStreamedBundle
