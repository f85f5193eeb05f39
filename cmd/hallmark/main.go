// Command hallmark signs container images and blobs, stores the signatures
// next to the images in OCI registries, verifies them, and serves the
// private trust stack they rely on. See the README.
package main

import (
	"os"

	"hallmark.dev/internal/quietlog"
)

func main() {
	quietlog.Klog()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}
