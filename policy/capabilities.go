package policy

import "github.com/open-policy-agent/opa/v1/ast"

// SafeRegoCapabilities returns the OPA capabilities hallmark evaluates Rego
// with: OPA's own, less the builtins that reach outside the evaluation
// (http.send, net.lookup_ip_addr, opa.runtime) and with no network host
// allowed. Other Rego evaluators in hallmark (the signing policy) use the
// same set. The value is shared: callers must not modify it.
func SafeRegoCapabilities() *ast.Capabilities { return capabilities() }
