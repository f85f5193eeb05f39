//go:build tools

// This file pins the modules the trust services are being built on, so that
// go mod tidy keeps them while the packages that use them are written.
package hallmark

import (
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/digitorus/timestamp"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	_ "github.com/transparency-dev/formats/log"
	_ "github.com/transparency-dev/merkle/proof"
	_ "github.com/transparency-dev/tessera"
	_ "github.com/transparency-dev/tessera/storage/posix"
	_ "golang.org/x/mod/sumdb/note"
)
