package verify_test

import (
	"os"
	"testing"

	"hallmark.dev/internal/quietlog"
)

// TestMain silences the klog output of the in-process log that the
// keyless tests and benchmarks start.
func TestMain(m *testing.M) {
	quietlog.Klog()
	os.Exit(m.Run())
}
