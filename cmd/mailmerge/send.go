package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

func cmdSend(args []string, stdin io.Reader, ui *ui) int {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	sandboxDir := fs.String("sandbox", "", "")
	limit := fs.Int("limit", 0, "")
	rate := fs.String("rate", "", "")
	workers := fs.Int("workers", 0, "")
	resume := fs.Bool("resume", false, "")
	restart := fs.Bool("restart", false, "")
	retryFailed := fs.Bool("retry-failed", false, "")
	resendUnknown := fs.Bool("resend-unknown", false, "")
	skipInvalid := fs.Bool("skip-invalid", false, "")
	quiet := fs.Bool("quiet", false, "")
	jsonOut := fs.Bool("json", false, "")
	debug := fs.Bool("debug", false, "")
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	ui.quiet = *quiet
	switch {
	case *resume && *restart:
		ui.errorf("--resume and --restart exclude each other")
		return exitUsage
	case (*retryFailed || *resendUnknown) && !*resume:
		ui.errorf("--retry-failed and --resend-unknown go with --resume")
		ui.hint("mailmerge send " + path + " --resume --retry-failed")
		return exitUsage
	case *limit < 0 || *workers < 0:
		ui.errorf("--limit and --workers must be positive numbers")
		return exitUsage
	}

	c, err := campaign.Load(path, campaign.Options{Mailer: mailer()})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	defer tuneGC()()

	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		if _, ok := <-signals; !ok {
			return
		}
		fmt.Fprintln(ui.stderr, "\nmailmerge: stopping: no new messages; finishing the ones in flight (Ctrl-C again to quit at once)")
		close(stop)
		if _, ok := <-signals; ok {
			// Every outcome is already one complete line in the results file and
			// transactions in flight are in its .inflight file: quitting now
			// loses nothing that --resume cannot sort out.
			fmt.Fprintln(ui.stderr, "mailmerge: quit at once; run again with --resume (messages that were in flight are reported unknown)")
			os.Exit(exitStopped)
		}
	}()

	opts := campaign.SendOptions{
		Resume: *resume, Restart: *restart, RetryFailed: *retryFailed, ResendUnknown: *resendUnknown,
		SkipInvalid: *skipInvalid, Limit: *limit, Rate: *rate, Workers: *workers,
		Stop: stop, Report: ui.problem,
	}
	if *debug {
		opts.Debug = ui.stderr
	}
	if *sandboxDir != "" {
		srv, err := sandbox.Start(sandbox.Options{Dir: *sandboxDir})
		if err != nil {
			ui.errorf("sandbox: %v", err)
			return exitUsage
		}
		defer srv.Close()
		opts.Server = &campaign.Server{Host: "localhost", Port: srv.Port(), Security: security.SSL,
			Username: srv.Username(), Password: srv.Password(), RootCAs: srv.RootCAs()}
		// A rehearsal must never mark anyone as sent in the real results file.
		opts.Results = filepath.Join(*sandboxDir, "results.csv")
		ui.infof("sandbox: SMTP server on %s (implicit TLS, AUTH), storing a Maildir in %s", srv.Addr(), *sandboxDir)
	} else {
		opts.Password = func() (string, error) { return password(c, stdin, ui) }
	}

	progress := newProgress(ui, *quiet || *jsonOut && !isTerminal(ui.stderr))
	if !progress.off {
		opts.Progress = progress.update // else the run need not describe itself after every message
	}
	sum, err := c.Send(ctx, opts)
	progress.finish()
	if err != nil {
		return sendError(ui, c, path, sum, err)
	}
	ui.sendSummary(sum, *jsonOut)
	switch {
	case sum.Stopped:
		return exitStopped
	case sum.Failed > 0 || sum.Unknown > 0 || sum.Partial > 0:
		return exitPartial
	}
	return exitOK
}

// sendError explains why send did not run.
func sendError(ui *ui, c *campaign.Campaign, path string, sum campaign.SendSummary, err error) int {
	switch {
	case errors.Is(err, campaign.ErrInvalid):
		ui.checkSummary("check", sum.Check)
		ui.errorf("nothing was sent: fix the errors above")
		ui.hint("or send the valid rows with --skip-invalid; the others are recorded as skipped")
		return exitUsage
	case errors.Is(err, campaign.ErrResultsExist):
		ui.errorf("%v", err)
		ui.hint(fmt.Sprintf("continue that run with: mailmerge send %s --resume   (or start over with --restart; the old file is kept)", path))
		return exitUsage
	case errors.Is(err, campaign.ErrListChanged):
		ui.errorf("%v", err)
		ui.hint("rows are matched to results by position; restore the list, or use --restart to start over")
		return exitUsage
	case errors.Is(err, journal.ErrNotJournal), errors.Is(err, journal.ErrLocked):
		ui.errorf("%v", err)
		ui.hint(human.Hint(err))
		return exitUsage
	case errors.Is(err, delivery.ErrInsecureAuth):
		ui.errorf("%v", err)
		ui.hint(`use security = "ssl" or "starttls"; a password goes in clear text only to a loopback relay`)
		return exitUsage
	case errors.Is(err, delivery.ErrStartTLSUnavailable):
		ui.errorf("%v", err)
		ui.hint("nothing was sent and no password left the machine; check [smtp] port and security (465 is ssl, 587 starttls)")
		return exitStopped
	}
	ui.loadError(err)
	if sum.Sent+sum.Failed+sum.Unknown > 0 {
		return exitStopped
	}
	return exitUsage
}

// password finds the SMTP password: the environment, password_command, or
// a prompt on a terminal. It is never a flag and never printed.
func password(c *campaign.Campaign, stdin io.Reader, ui *ui) (string, error) {
	env := c.PasswordEnv()
	if p, ok := os.LookupEnv(env); ok && p != "" {
		return p, nil
	}
	if cmdline := c.Config.SMTP.PasswordCommand; cmdline != "" {
		cmd := exec.Command("sh", "-c", cmdline)
		cmd.Dir = c.Dir
		cmd.Stderr = ui.stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s: password_command failed: %w", c.Path, err)
		}
		p := strings.TrimRight(string(out), "\r\n")
		if p == "" {
			return "", fmt.Errorf("%s: password_command printed nothing", c.Path)
		}
		return p, nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(ui.stderr, "Password for %s (not shown): ", c.Config.SMTP.Username)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(ui.stderr)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", &campaign.ConfigError{File: c.Path, Err: fmt.Errorf("no password for %s: %s is not set", c.Config.SMTP.Username, env),
		Help: fmt.Sprintf("export %s=... (the app password or authorisation code), or set [smtp] password_command", env)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// tableRows is how many results the summary shows.
const tableRows = 20

// readResults returns the rows of a results file for the summary table:
// all of them when they fit, else those not sent first. It streams the
// file and also counts the rows and the sent ones.
func readResults(path string, n int) (rows [][]string, total, sent int) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	var first, notSent [][]string
	header := true
	for {
		rec, err := r.Read()
		if err != nil {
			break
		}
		if header || len(rec) < 5 {
			header = false
			continue
		}
		total++
		if rec[2] == "sent" {
			sent++
		} else if len(notSent) < n {
			notSent = append(notSent, rec)
		}
		if len(first) < n {
			first = append(first, rec)
		}
	}
	if total <= n {
		return first, total, sent
	}
	return notSent, total, sent
}
