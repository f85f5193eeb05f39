package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MissingToolError is returned when a program a test needs is not
// installed.
type MissingToolError struct{ Tool string }

func (e *MissingToolError) Error() string {
	return fmt.Sprintf("%s is not installed (Debian: apt-get install softhsm2 opensc openssh-client git gnupg; scripts/install-peers does it)", e.Tool)
}

// RequireTools skips the test when one of the programs is missing, or
// fails it when HALLMARK_REQUIRE_PEERS=1 (as CI sets).
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	if err := LookTools(tools...); err != nil {
		SkipOrFail(t, err)
	}
}

// SkipOrFail skips the test for err, or fails it when
// HALLMARK_REQUIRE_PEERS=1.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("HALLMARK_REQUIRE_PEERS") == "1" {
		t.Fatalf("HALLMARK_REQUIRE_PEERS=1: %v", err)
	}
	t.Skip(err)
}

// LookTools returns a *MissingToolError for the first program not on
// PATH. "softhsm2" stands for the SoftHSM2 PKCS#11 module.
func LookTools(tools ...string) error {
	for _, tool := range tools {
		if tool == "softhsm2" {
			if _, err := SoftHSMModule(); err != nil {
				return err
			}
			continue
		}
		if _, err := exec.LookPath(tool); err != nil {
			return &MissingToolError{Tool: tool}
		}
	}
	return nil
}

// SoftHSMModule returns the path of SoftHSM2's PKCS#11 module.
func SoftHSMModule() (string, error) {
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", &MissingToolError{Tool: "softhsm2 (libsofthsm2.so)"}
}

// HSMAgentTools are the programs [StartHSMAgent] runs.
var HSMAgentTools = []string{"softhsm2", "softhsm2-util", "pkcs11-tool", "ssh-agent", "ssh-add"}

// HSMAgent is an ssh-agent holding an ECDSA P-256 key that lives in a
// SoftHSM2 token, loaded through the agent's PKCS#11 support (ssh-add -s):
// the private key never leaves the token. git signs with it through the
// agent: git -c gpg.format=ssh -c user.signingkey="key::<PublicKey>" tag -s.
type HSMAgent struct {
	// Socket is the agent's socket, for SSH_AUTH_SOCK.
	Socket string
	// PublicKey is the key's authorized_keys line.
	PublicKey string
	agent     *exec.Cmd
	sockDir   string
}

// StartHSMAgent creates a SoftHSM2 token in dir, generates a key in it
// with pkcs11-tool, starts an ssh-agent and loads the token into it. Close
// stops the agent.
func StartHSMAgent(dir string) (*HSMAgent, error) {
	if err := LookTools(HSMAgentTools...); err != nil {
		return nil, err
	}
	module, err := SoftHSMModule()
	if err != nil {
		return nil, err
	}
	const pin = "1234"
	tokens := filepath.Join(dir, "softhsm-tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "SOFTHSM2_CONF="+conf)
	run := func(env []string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Stdin = nil
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String(), nil
	}
	if _, err := run(env, "softhsm2-util", "--init-token", "--free", "--label", "hallmark", "--so-pin", "5678", "--pin", pin); err != nil {
		return nil, err
	}
	if _, err := run(env, "pkcs11-tool", "--module", module, "--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "01", "--label", "release-hsm"); err != nil {
		return nil, err
	}
	// A socket path is limited to about 100 bytes: keep it short.
	sockDir, err := os.MkdirTemp("", "hsm")
	if err != nil {
		return nil, err
	}
	a := &HSMAgent{Socket: filepath.Join(sockDir, "agent.sock"), sockDir: sockDir}
	a.agent = exec.Command("ssh-agent", "-D", "-a", a.Socket)
	a.agent.Env = env
	var agentLog bytes.Buffer
	a.agent.Stdout, a.agent.Stderr = &agentLog, &agentLog
	if err := a.agent.Start(); err != nil {
		os.RemoveAll(sockDir)
		return nil, fmt.Errorf("ssh-agent: %w", err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(a.Socket); err == nil {
			break
		}
		if i == 200 {
			a.Close()
			return nil, fmt.Errorf("ssh-agent did not create its socket: %s", agentLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	askpass := filepath.Join(dir, "askpass.sh")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho "+pin+"\n"), 0o700); err != nil {
		a.Close()
		return nil, err
	}
	agentEnv := append(os.Environ(), "SSH_AUTH_SOCK="+a.Socket, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	if _, err := run(agentEnv, "ssh-add", "-s", module); err != nil {
		a.Close()
		return nil, err
	}
	out, err := run(agentEnv, "ssh-add", "-L")
	if err != nil {
		a.Close()
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ecdsa-sha2-nistp256 ") {
			f := strings.Fields(line)
			a.PublicKey = f[0] + " " + f[1]
		}
	}
	if a.PublicKey == "" {
		a.Close()
		return nil, fmt.Errorf("ssh-add -L lists no ECDSA key from the token: %s", out)
	}
	return a, nil
}

// Env returns the environment entry that points ssh clients at the agent.
func (a *HSMAgent) Env() string { return "SSH_AUTH_SOCK=" + a.Socket }

// Close stops the agent and removes its socket.
func (a *HSMAgent) Close() error {
	var errs []error
	if a.agent != nil && a.agent.Process != nil {
		if err := a.agent.Process.Kill(); err != nil {
			errs = append(errs, err)
		}
		_ = a.agent.Wait() // killed: the exit status says so
	}
	errs = append(errs, os.RemoveAll(a.sockDir))
	return errors.Join(errs...)
}
