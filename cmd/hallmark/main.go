// Command hallmark signs container images and blobs, stores the signatures
// next to the images in OCI registries, and verifies them. See the README.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}
