package sharedstore_test

import (
	"os"
	"testing"

	"hallmark.dev/internal/quietlog"
)

// TestMain silences tessera's klog output.
func TestMain(m *testing.M) {
	quietlog.Klog()
	os.Exit(m.Run())
}
