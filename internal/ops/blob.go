package ops

import (
	"fmt"

	"hallmark.dev/internal/buildenv"
	"hallmark.dev/oci"
	"hallmark.dev/verify"
)

// ReadBundleFile reads a Sigstore bundle file, refusing one over the
// bundle size limit before reading it.
func ReadBundleFile(path string) ([]byte, error) {
	b, err := readLimited(path, oci.MaxBundleSize)
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	return b, nil
}

// VerifyBlob verifies the Sigstore bundle in the file bundlePath over an
// artifact: a file, read as a stream, or its digest.
func VerifyBlob(bundlePath string, a Artifact, p verify.BlobPolicy) (*verify.BlobResult, error) {
	b, err := ReadBundleFile(bundlePath)
	if err != nil {
		return nil, err
	}
	va := verify.Artifact{Digest: a.Digest}
	if a.Path != "" {
		f, err := buildenv.OpenArtifact(a.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		va = verify.Artifact{Content: f}
	}
	return verify.Blob(bundlePath, b, va, p)
}
