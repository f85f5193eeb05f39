package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"hallmark.dev/internal/pkcs11key"
)

// password returns the key password from HALLMARK_PASSWORD, else
// COSIGN_PASSWORD, else a terminal prompt (twice when confirm). It never
// prompts when stdin is not a terminal.
func (e *env) password(prompt string, confirm bool) ([]byte, error) {
	for _, name := range []string{"HALLMARK_PASSWORD", "COSIGN_PASSWORD"} {
		if v, ok := e.lookupEnv(name); ok {
			return []byte(v), nil
		}
	}
	return e.prompt(prompt, confirm, withHint(errors.New("a key password is needed and standard input is not a terminal"),
		"set HALLMARK_PASSWORD (or COSIGN_PASSWORD; empty is allowed)"))
}

// pkcs11Options are what a PKCS#11 URI may leave out, from cosign's
// environment variables: the module from HALLMARK_PKCS11_MODULE_PATH, else
// COSIGN_PKCS11_MODULE_PATH; the PIN from HALLMARK_PKCS11_PIN, else
// COSIGN_PKCS11_PIN (an empty one is no PIN), else a terminal prompt.
func (e *env) pkcs11Options() pkcs11key.Options {
	var o pkcs11key.Options
	for _, name := range []string{"HALLMARK_PKCS11_MODULE_PATH", "COSIGN_PKCS11_MODULE_PATH"} {
		if v, _ := e.lookupEnv(name); v != "" && o.ModulePath == "" {
			o.ModulePath = v
		}
	}
	o.PIN = func(token string) (string, error) {
		for _, name := range []string{"HALLMARK_PKCS11_PIN", "COSIGN_PKCS11_PIN"} {
			if v, _ := e.lookupEnv(name); v != "" {
				return v, nil
			}
		}
		pin, err := e.prompt(fmt.Sprintf("Enter PIN for PKCS#11 token %q", token), false,
			errors.New("the token needs a PIN and standard input is not a terminal"))
		return string(pin), err
	}
	return o
}

// prompt reads a secret from the terminal (twice when confirm); notTTY is
// the error when standard input is not a terminal.
func (e *env) prompt(prompt string, confirm bool, notTTY error) ([]byte, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, notTTY
	}
	fmt.Fprint(e.err, prompt+": ")
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.err)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if confirm {
		fmt.Fprint(e.err, "Enter password again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.err)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(p, p2) {
			return nil, errors.New("passwords do not match")
		}
	}
	return p, nil
}
