package testkit

import (
	"bytes"
	_ "embed"
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
	const pin = "1234"
	h, err := NewSoftHSM(dir, "hallmark", pin)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), h.Env())
	if err := h.KeyGen("EC:prime256v1", "release-hsm", "01"); err != nil {
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
	if _, err := run(agentEnv, "ssh-add", "-s", h.Module); err != nil {
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

// run runs a program with env and returns its combined output.
func run(env []string, name string, args ...string) (string, error) {
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

// SoftHSMTools are the programs [NewSoftHSM] and [SoftHSM.KeyGen] run.
var SoftHSMTools = []string{"softhsm2", "softhsm2-util", "pkcs11-tool"}

// SoftHSM is a SoftHSM2 token with a configuration and a token directory
// of its own. SoftHSM2 finds its configuration through the SOFTHSM2_CONF
// environment variable ([SoftHSM.Env]), read when the module is
// initialised.
type SoftHSM struct {
	// Module is the path of SoftHSM2's PKCS#11 module.
	Module string
	// Conf is the configuration file.
	Conf string
	// Label and PIN are the token's label and user PIN.
	Label, PIN string
}

// NewSoftHSM writes a SoftHSM2 configuration in dir and initialises a
// token labelled label, with user PIN pin, with softhsm2-util.
func NewSoftHSM(dir, label, pin string) (*SoftHSM, error) {
	if err := LookTools(SoftHSMTools...); err != nil {
		return nil, err
	}
	module, err := SoftHSMModule()
	if err != nil {
		return nil, err
	}
	tokens := filepath.Join(dir, "softhsm-tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, err
	}
	h := &SoftHSM{Module: module, Conf: filepath.Join(dir, "softhsm2.conf"), Label: label, PIN: pin}
	if err := os.WriteFile(h.Conf, fmt.Appendf(nil, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens), 0o600); err != nil {
		return nil, err
	}
	if _, err := run(append(os.Environ(), h.Env()), "softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "5678", "--pin", pin); err != nil {
		return nil, err
	}
	return h, nil
}

// Env returns the environment entry that points SoftHSM2 at the
// configuration.
func (h *SoftHSM) Env() string { return "SOFTHSM2_CONF=" + h.Conf }

// KeyGen generates a key pair in the token with pkcs11-tool: keyType is
// pkcs11-tool's (EC:prime256v1, EC:secp384r1, EC:secp256k1,
// EC:edwards25519, rsa:2048…), id its hexadecimal CKA_ID.
func (h *SoftHSM) KeyGen(keyType, label, id string) error {
	_, err := run(append(os.Environ(), h.Env()), "pkcs11-tool", "--module", h.Module, "--token-label", h.Label,
		"--login", "--pin", h.PIN, "--keypairgen", "--key-type", keyType, "--id", id, "--label", label)
	return err
}

// URI returns the PKCS#11 URI of the key labelled label, with the module
// path and the PIN.
func (h *SoftHSM) URI(label string) string {
	return "pkcs11:token=" + h.Label + ";object=" + label + "?module-path=" + h.Module + "&pin-value=" + h.PIN
}

// StartSoftHSM is NewSoftHSM for a test: in a temporary directory, with
// SOFTHSM2_CONF set for the test (which therefore cannot be parallel).
// It skips the test when SoftHSM2 or OpenSC is missing, or fails it under
// HALLMARK_REQUIRE_PEERS=1.
func StartSoftHSM(t testing.TB, label string) *SoftHSM {
	t.Helper()
	RequireTools(t, SoftHSMTools...)
	h, err := NewSoftHSM(t.TempDir(), label, "1234")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", h.Conf)
	return h
}

//go:embed testdata/pkcs11shim.c
var pkcs11Shim []byte

// BuildPKCS11Shim compiles, with gcc, a PKCS#11 module into dir and returns
// its path: it forwards to the module named by HALLMARK_SHIM_MODULE and
// can remove the token after a number of signatures
// (HALLMARK_SHIM_REMOVE_AFTER=N) or offer only mechanisms that hash
// (HALLMARK_SHIM_HASH_ONLY=1); see testdata/pkcs11shim.c. notModule is a
// shared library that is not a PKCS#11 module (it has no
// C_GetFunctionList), built beside it.
func BuildPKCS11Shim(dir string) (shim, notModule string, err error) {
	if err := LookTools("gcc", "go"); err != nil {
		return "", "", err
	}
	headers, err := run(os.Environ(), "go", "list", "-m", "-f", "{{.Dir}}", "github.com/miekg/pkcs11")
	if err != nil {
		return "", "", err
	}
	src := filepath.Join(dir, "pkcs11shim.c")
	if err := os.WriteFile(src, pkcs11Shim, 0o600); err != nil {
		return "", "", err
	}
	shim = filepath.Join(dir, "pkcs11shim.so")
	if _, err := run(os.Environ(), "gcc", "-shared", "-fPIC", "-o", shim, "-I", strings.TrimSpace(headers), src, "-ldl"); err != nil {
		return "", "", err
	}
	other := filepath.Join(dir, "other.c")
	if err := os.WriteFile(other, []byte("int hallmark_not_a_module(void) { return 0; }\n"), 0o600); err != nil {
		return "", "", err
	}
	notModule = filepath.Join(dir, "other.so")
	if _, err := run(os.Environ(), "gcc", "-shared", "-fPIC", "-o", notModule, other); err != nil {
		return "", "", err
	}
	return shim, notModule, nil
}

// PKCS11Tool runs pkcs11-tool on the token, logged in, and returns its
// output.
func (h *SoftHSM) PKCS11Tool(args ...string) (string, error) {
	return run(append(os.Environ(), h.Env()), "pkcs11-tool", append([]string{"--module", h.Module, "--token-label", h.Label, "--login", "--pin", h.PIN}, args...)...)
}
