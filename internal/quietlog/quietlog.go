// Package quietlog stops libraries that log through klog (tessera) from
// writing to stderr: hallmark reports what matters through its own logger.
// It changes process-wide state, so only main packages and tests call it.
package quietlog

import (
	"flag"
	"io"

	"k8s.io/klog/v2"
)

// Klog discards klog's output.
func Klog() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for _, kv := range [][2]string{{"logtostderr", "false"}, {"alsologtostderr", "false"}, {"stderrthreshold", "FATAL"}} {
		if err := fs.Set(kv[0], kv[1]); err != nil {
			panic("quietlog: " + err.Error()) // the flags are klog's own: a failure is a programming error
		}
	}
	klog.SetOutput(io.Discard)
}
