// Command hallmark signs container images and blobs and attests them,
// stores the signatures and attestations next to the images in OCI
// registries, verifies them, gates releases on vulnerability scans, checks
// them against signing policies, and serves the private trust stack they
// rely on. See the README.
package main

import (
	"os"

	"hallmark.dev/internal/quietlog"
)

func main() {
	quietlog.Klog()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}
