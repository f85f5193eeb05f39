//go:build tools

// This file pins the modules the trust services are being built on, so that
// go mod tidy keeps them while the packages that use them are written.
package hallmark

import (
	_ "github.com/CycloneDX/cyclonedx-go"
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/digitorus/timestamp"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/in-toto/attestation/go/predicates/provenance/v1"
	_ "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	_ "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	_ "github.com/spdx/tools-golang/json"
	_ "github.com/transparency-dev/formats/log"
	_ "github.com/transparency-dev/merkle/proof"
	_ "github.com/transparency-dev/tessera"
	_ "github.com/transparency-dev/tessera/storage/posix"
	_ "golang.org/x/mod/sumdb/note"
)
