package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// terminalIn says whether standard input is a terminal, where send can ask
// before it sends for real. Tests replace it: the question needs a
// terminal, and a test has none.
var terminalIn = func(stdin io.Reader) bool { return isTerminal(stdin) }

// errDeclined ends a run whose plan the user did not answer yes to.
var errDeclined = errors.New("nothing was sent: the answer was not yes")

// errUnconfirmed ends a run to a real server that nobody can confirm.
var errUnconfirmed = errors.New("no --yes and no terminal to ask on")

// unconfirmed refuses a send to a real server that nobody can confirm: no
// --yes and no terminal to ask on. args are send's, as they were run.
func unconfirmed(args []string, ui *ui) {
	ui.errorf("send to a real server needs --yes when standard input is not a terminal: nothing was sent")
	cmd := []string{"mailmerge", "send"}
	for _, a := range args {
		cmd = append(cmd, shellQuote(a))
	}
	ui.hint(strings.Join(append(cmd, "--yes"), " "))
}

// confirmation is the SendOptions.Confirm of a send to a real server:
// none with --yes, the question on a terminal, and otherwise a refusal once
// the plan is known, so that check's findings and the true counts come
// first, and before anything connects.
func confirmation(ctx context.Context, f sendFlags, stop <-chan struct{}, stdin io.Reader, ui *ui) func(campaign.Plan) error {
	switch {
	case f.yes:
		return nil
	case terminalIn(stdin):
		return askFirst(ctx, stop, stdin, ui)
	}
	return func(campaign.Plan) error { return errUnconfirmed }
}

// askFirst is a SendOptions.Confirm that shows the plan on stderr and asks
// on stdin, a terminal; only "y" or "yes" sends. An interrupt while it
// waits is a no.
func askFirst(ctx context.Context, stop <-chan struct{}, stdin io.Reader, ui *ui) func(campaign.Plan) error {
	return func(p campaign.Plan) error {
		printPlan(ui.stderr, p)
		fmt.Fprintf(ui.stderr, "Send %d messages? [y/N] ", p.Rows)
		got := make(chan string, 1)
		go func() { got <- readLine(stdin) }() // a read cannot be interrupted; the process ends soon after a no
		var answer string
		select {
		case answer = <-got:
		case <-stop:
		case <-ctx.Done():
		}
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
			return nil
		}
		return errDeclined
	}
}

// readLine reads up to the end of one line, a byte at a time so that
// nothing after it is taken from the terminal (the password prompt reads
// there next).
func readLine(r io.Reader) string {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return string(line)
			}
			line = append(line, b[0])
		}
		if err != nil {
			return string(line)
		}
	}
}

// printPlan shows what a send run is about to do.
func printPlan(w io.Writer, p campaign.Plan) {
	account := "as " + p.Account
	if p.Account == "no login" {
		account = "no login"
	}
	estimate := "as fast as the server takes them"
	if p.Rate != "unlimited" {
		estimate = "about " + roughly(p.Estimate)
		if p.Estimate < time.Second {
			estimate = "under a second"
		}
	}
	fmt.Fprintf(w, "About to send for real:\n")
	fmt.Fprintf(w, "  messages  %d\n", p.Rows)
	if p.Selected != "" {
		fmt.Fprintf(w, "  rows      %s of %d (the others are left alone)\n", p.Selected, p.ListRows)
	}
	if p.Shard != "" {
		fmt.Fprintf(w, "  shard     %s of the %d rows (the other shards' are left alone)\n", p.Shard, p.ListRows)
	}
	if len(p.Relays) == 0 {
		fmt.Fprintf(w, "  server    %s (%s), %s\n", p.Server, p.Security, account)
	}
	for i, r := range p.Relays {
		label := "relays   "
		if i > 0 {
			label = "         "
		}
		fmt.Fprintf(w, "  %s %s\n", label, r)
	}
	fmt.Fprintf(w, "  from      %s\n", p.From)
	if len(p.Relays) > 0 {
		fmt.Fprintf(w, "  time      %s, at the relays' rates and weights\n", estimate)
	} else {
		fmt.Fprintf(w, "  rate      %s: %s\n", p.Rate, estimate)
	}
	fmt.Fprintf(w, "  results   %s\n", p.Results)
}

// roughly writes an estimate to the precision it deserves: "40s",
// "12m 30s", "3h 05m", "2d 4h", "2d".
func roughly(d time.Duration) string {
	switch {
	case d < time.Second:
		return "under a second"
	case d < time.Minute:
		return fmt.Sprintf("%ds", d.Round(time.Second)/time.Second)
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm %02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh %02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	d = d.Round(time.Hour)
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}
