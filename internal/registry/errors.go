package registry

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes of the OCI distribution specification
// (https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md#error-codes)
// that this layer answers with itself.
const (
	codeDigestInvalid   = "DIGEST_INVALID"
	codeManifestInvalid = "MANIFEST_INVALID"
	codeNameInvalid     = "NAME_INVALID"
	codeUnsupported     = "UNSUPPORTED"
	codeUnknown         = "UNKNOWN"
)

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

// writeError answers with status and the specification's error body.
func writeError(w http.ResponseWriter, status int, code, message, detail string) {
	b, err := json.Marshal(errorBody{Errors: []errorEntry{{Code: code, Message: message, Detail: detail}}})
	if err != nil {
		// Strings always marshal; this is unreachable.
		b = []byte(`{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}`)
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b) // An error means the client went away; nothing to do.
}
