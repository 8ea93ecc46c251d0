package main

import (
	"fmt"
	"io"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// ui writes every line the user sees. Errors and hints go to stderr as
// "mailmerge: error: ..." and "mailmerge: hint: ..."; results to stdout.
type ui struct {
	stdout, stderr io.Writer
	quiet          bool
}

func newUI(stdout, stderr io.Writer) *ui { return &ui{stdout: stdout, stderr: stderr} }

func (u *ui) errorf(format string, args ...any) {
	fmt.Fprintf(u.stderr, "mailmerge: error: "+format+"\n", args...)
}

func (u *ui) warnf(format string, args ...any) {
	fmt.Fprintf(u.stderr, "mailmerge: warning: "+format+"\n", args...)
}

func (u *ui) hint(h string) {
	if h != "" {
		fmt.Fprintf(u.stderr, "mailmerge: hint: %s\n", h)
	}
}

func (u *ui) infof(format string, args ...any) {
	if !u.quiet {
		fmt.Fprintf(u.stderr, format+"\n", args...)
	}
}

// problem prints one problem check found.
func (u *ui) problem(p campaign.Problem) {
	if p.Severity == campaign.Warning {
		u.warnf("%s", p.Message)
	} else {
		u.errorf("%s", p.Message)
	}
	u.hint(p.Hint)
}

// loadError prints every problem of a campaign that did not load.
func (u *ui) loadError(err error) {
	for _, p := range campaign.Problems(err) {
		u.problem(p)
	}
}

// checkSummary is the last line of check, render and the check part of send.
func (u *ui) checkSummary(verb string, s campaign.CheckSummary) {
	line := fmt.Sprintf("%s: %d %s, %d valid, %d %s, %d %s", verb,
		s.Rows, plural(s.Rows, "row", "rows"), s.Valid,
		s.Errors, plural(s.Errors, "error", "errors"),
		s.Warnings, plural(s.Warnings, "warning", "warnings"))
	if s.Errors > campaign.MaxReported {
		line += fmt.Sprintf(" (the first %d shown)", campaign.MaxReported)
	}
	fmt.Fprintln(u.stdout, line)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
