//go:build tools

package tools

import _ "github.com/sigstore/policy-controller/cmd/webhook"
