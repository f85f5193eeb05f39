package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"hallmark.dev/internal/ops"
)

// This file is the only one that prints. Results go to stdout; errors,
// hints and progress go to stderr, prefixed "hallmark: ".

type ui struct {
	out io.Writer
	err io.Writer
}

// userError is an error with a hint for the user.
type userError struct {
	err  error
	hint string
}

func (e *userError) Error() string { return e.err.Error() }
func (e *userError) Unwrap() error { return e.err }

func withHint(err error, format string, args ...any) error {
	return &userError{err: err, hint: fmt.Sprintf(format, args...)}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// fail prints an error (each line prefixed) and its hint.
func (u *ui) fail(err error) {
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(u.err, "hallmark: error: %s\n", line)
	}
	var ue *userError
	if errors.As(err, &ue) && ue.hint != "" {
		fmt.Fprintf(u.err, "hallmark: hint: %s\n", ue.hint)
	}
}

func (u *ui) warn(format string, args ...any) {
	fmt.Fprintf(u.err, "hallmark: warning: "+format+"\n", args...)
}

func (u *ui) info(format string, args ...any) {
	fmt.Fprintf(u.err, "hallmark: "+format+"\n", args...)
}

func (u *ui) printf(format string, args ...any) {
	fmt.Fprintf(u.out, format, args...)
}

// raw writes bytes to stdout as they are (a downloaded document).
func (u *ui) raw(b []byte) error {
	_, err := u.out.Write(b)
	return err
}

func (u *ui) json(v any) error {
	enc := json.NewEncoder(u.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// report prints a verification report: a verdict line, then each
// attestation with every check made on it.
func (e *env) report(r *ops.Report) {
	n := 0
	for _, a := range r.Attestations {
		if a.Result == "verified" {
			n++
		}
	}
	subject := r.Subject
	if r.Success {
		e.printf("Verified %d %s attestation(s) for %s\n", n, r.PredicateType, subject)
	} else {
		e.printf("FAILED: %s attestations for %s (%d verified)\n", r.PredicateType, subject, n)
	}
	for _, a := range r.Attestations {
		if a.Signer != nil {
			e.printf("  %s, %s\n", a.Source, describeSigner(*a.Signer))
		} else {
			e.printf("  %s: %s\n", a.Source, a.Result)
		}
		for _, c := range a.Checks {
			line := fmt.Sprintf("    %-12s %-22s %s", c.Result, c.Name, c.Detail)
			e.printf("%s\n", strings.TrimRight(line, " "))
			for _, m := range c.Messages {
				e.printf("      %s\n", m)
			}
		}
	}
}

// table prints rows as aligned columns, each line indented.
func (u *ui) table(indent string, rows [][]string) {
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s%s\n", indent, strings.Join(r, "\t"))
	}
	tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Fprintln(u.out, strings.TrimRight(line, " "))
	}
}
