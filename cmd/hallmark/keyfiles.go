package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
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
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, withHint(errors.New("a key password is needed and standard input is not a terminal"),
			"set HALLMARK_PASSWORD (or COSIGN_PASSWORD; empty is allowed)")
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
