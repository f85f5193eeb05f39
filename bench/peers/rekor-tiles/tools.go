//go:build tools

// Package tools pins rekor-tiles (Rekor v2) for bench/tlog: the POSIX server
// is built from the Go module proxy into a cache, never vendored.
package tools

import _ "github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix"
