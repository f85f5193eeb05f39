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
// hints and progress go to stderr, prefixed "hallmark: ". Every printer
// escapes the control characters of what it prints (escape.go), except raw,
// which writes a downloaded document as it is.

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
		fmt.Fprintf(u.err, "hallmark: error: %s\n", escapeControl(line, false))
	}
	var ue *userError
	if errors.As(err, &ue) && ue.hint != "" {
		fmt.Fprintf(u.err, "hallmark: hint: %s\n", escapeControl(ue.hint, false))
	}
}

func (u *ui) warn(format string, args ...any) {
	fmt.Fprintf(u.err, "hallmark: warning: "+format+"\n", escapeArgs(args)...)
}

func (u *ui) info(format string, args ...any) {
	fmt.Fprintf(u.err, "hallmark: "+format+"\n", escapeArgs(args)...)
}

// printf prints to stdout; each argument is one line of text unless it is
// a multiline.
func (u *ui) printf(format string, args ...any) {
	fmt.Fprintf(u.out, format, escapeArgs(args)...)
}

// raw writes bytes to stdout as they are (a downloaded document).
func (u *ui) raw(b []byte) error {
	_, err := u.out.Write(b)
	return err
}

// json prints v as indented JSON. encoding/json escapes C0 but not DEL or
// C1; those are escaped too, as \u00XX, which keeps the document's value.
func (u *ui) json(v any) error {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(u.out, escapeControl(buf.String(), true))
	return err
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
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = escapeControl(c, false)
		}
		fmt.Fprintf(tw, "%s%s\n", indent, strings.Join(cells, "\t"))
	}
	tw.Flush()
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		fmt.Fprintln(u.out, strings.TrimRight(line, " "))
	}
}

// printRelease prints what a release attached and what it did not.
func (e *env) printRelease(r *ops.ReleaseResult) {
	if r.Digest == "" {
		return
	}
	if len(r.Attached) == 0 {
		e.printf("\nNot released: %s (nothing was signed)\n", r.Image)
		return
	}
	e.printf("\nReleased %s\n", r.Image)
	if r.SBOM != nil {
		e.printf("  sbom: %s %s, %d components\n", r.SBOM.Format, r.SBOM.SpecVersion, r.SBOM.Components)
	}
	rows := [][]string{{"ATTACHED", "PREDICATE TYPE", "REFERRER", ""}}
	for _, a := range r.Attached {
		note := ""
		if a.TimestampOnly {
			note = fmt.Sprintf("timestamp only (%d bytes, over the log limit)", a.Size)
		}
		if p := a.SigningPolicy; p != nil {
			note = fmt.Sprintf("records signing policy version %d (%s)", p.Version, p.Digest)
		}
		rows = append(rows, []string{a.Kind, a.PredicateType, a.Referrer, note})
	}
	e.table("  ", rows)
	if len(r.NotAttached) > 0 {
		e.printf("\nNOT attached:\n")
		rows := [][]string{{"KIND", "PREDICATE TYPE", "ERROR"}}
		for _, a := range r.NotAttached {
			rows = append(rows, []string{a.Kind, a.PredicateType, a.Error})
		}
		e.table("  ", rows)
	}
}
