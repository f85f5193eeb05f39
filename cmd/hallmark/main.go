// Command hallmark signs container images and blobs, stores the signatures
// next to the images in OCI registries, verifies them, and serves the
// private trust stack they rely on. See the README.
package main

import (
	"flag"
	"io"
	"os"

	"k8s.io/klog/v2"
)

func main() {
	quietLibraries()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}

// quietLibraries stops libraries that log through klog (tessera) from
// writing to stderr: hallmark's own logger reports what matters.
func quietLibraries() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}
