//go:build tools

// Package tools pins sigstore's timestamp-authority for bench/tsa: the server
// is built from the Go module proxy into a cache, never vendored.
package tools

import _ "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server"
