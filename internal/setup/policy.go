package setup

import (
	"fmt"
	"os"

	"hallmark.dev/policy"
)

// LoadPolicy reads and parses the CUE or Rego policy file at path; see
// policy.Parse.
func LoadPolicy(path string) (policy.Policy, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return policy.Parse(path, src)
}
