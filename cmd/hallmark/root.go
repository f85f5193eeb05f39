package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"hallmark.dev/oci/store"
)

// env is what a command may read from outside its flags.
type env struct {
	ui
	stdin     io.Reader
	lookupEnv func(string) (string, bool)
	// closers release what the command opened (keys in tokens) when it
	// ends.
	closers []func() error
}

// onExit has f run when the command ends.
func (e *env) onExit(f func() error) { e.closers = append(e.closers, f) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	e := &env{ui: ui{out: stdout, err: stderr}, stdin: stdin, lookupEnv: lookupEnv}
	root := &cobra.Command{
		Use:           "hallmark",
		Short:         "Sign what you build; let everyone downstream check it.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	root.AddCommand(
		generateKeyPairCmd(e),
		importKeyPairCmd(e),
		signCmd(e),
		verifyCmd(e),
		signBlobCmd(e),
		verifyBlobCmd(e),
		serveCmd(e),
		quickstartCmd(e),
		devTokenCmd(e),
		trustCmd(e),
		logCmd(e),
		witnessCmd(e),
		monitorCmd(e),
		attestCmd(e),
		verifyAttestationCmd(e),
		attestBlobCmd(e),
		verifyBlobAttestationCmd(e),
		provenanceCmd(e),
		gateCmd(e),
		releaseCmd(e),
		downloadCmd(e),
		verifyProvenanceCmd(e),
		approveCmd(e), policyCmd(e),
		adminCmd(e),
		publicKeyCmd(e), pkcs11Cmd(e),
		admissionCmd(e),
	)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := root.ExecuteContext(ctx)
	for i := len(e.closers) - 1; i >= 0; i-- {
		if cerr := e.closers[i](); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		e.fail(err)
		return 1
	}
	return 0
}

// registryFlags are the flags of every command that talks to a registry.
type registryFlags struct {
	allowHTTP bool
	timeout   time.Duration
}

func (r *registryFlags) bind(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&r.allowHTTP, "allow-http-registry", false, "allow plain HTTP to registries that are not on loopback")
	cmd.Flags().DurationVar(&r.timeout, "timeout", store.DefaultTimeout, "how long to wait for a registry to answer each request")
}

func (r *registryFlags) client() *store.Client {
	return store.New(store.Options{AllowHTTP: r.allowHTTP, Timeout: r.timeout})
}

// repository returns --repository, else HALLMARK_REPOSITORY, else
// COSIGN_REPOSITORY.
func (e *env) repository(flag string) string {
	if flag != "" {
		return flag
	}
	for _, name := range []string{"HALLMARK_REPOSITORY", "COSIGN_REPOSITORY"} {
		if v, _ := e.lookupEnv(name); v != "" {
			return v
		}
	}
	return ""
}
