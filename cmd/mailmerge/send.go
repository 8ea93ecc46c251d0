package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// sendFlags are the flags of send.
type sendFlags struct {
	sandbox                    string
	limit, workers             int
	rate                       string
	resume, restart            bool
	retryFailed, resendUnknown bool
	skipInvalid, quiet, asJSON bool
	debug                      bool
}

func cmdSend(args []string, stdin io.Reader, ui *ui) int {
	f, path, ok := parseSendFlags(args, ui)
	if !ok {
		return exitUsage
	}
	c, err := campaign.Load(path, campaign.Options{Mailer: mailer()})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	ctx, stop, release := onInterrupt(ui)
	defer release()

	opts := campaign.SendOptions{
		Resume: f.resume, Restart: f.restart, RetryFailed: f.retryFailed, ResendUnknown: f.resendUnknown,
		SkipInvalid: f.skipInvalid, Limit: f.limit, Rate: f.rate, Workers: f.workers,
		Stop: stop, Report: ui.problem,
	}
	if f.debug {
		opts.Debug = ui.stderr
	}
	if f.sandbox != "" {
		srv, err := startSandbox(f.sandbox, &opts, ui)
		if err != nil {
			ui.errorf("sandbox: %v", err)
			return exitUsage
		}
		defer srv.Close()
	} else {
		opts.Password = func() (string, error) { return password(ctx, c, stdin, ui) }
	}
	defer tuneGC(c.QueuedBytes(ctx, opts))()
	progress := newProgress(ui, f.quiet || f.asJSON && !isTerminal(ui.stderr))
	if !progress.off {
		opts.Progress = progress.update // else the run need not describe itself after every message
	}
	sum, err := c.Send(ctx, opts)
	progress.finish()
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitStopped // quit at once before the run began; onInterrupt said so
	case err != nil:
		return sendError(ui, c, path, sum, err)
	}
	ui.sendSummary(sum, f.asJSON)
	switch {
	case sum.Stopped:
		return exitStopped
	case sum.Failed > 0 || sum.Unknown > 0 || sum.Partial > 0:
		return exitPartial
	}
	return exitOK
}

// parseSendFlags reads send's flags and refuses combinations that make no sense.
func parseSendFlags(args []string, ui *ui) (f sendFlags, path string, ok bool) {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.StringVar(&f.sandbox, "sandbox", "", "")
	fs.IntVar(&f.limit, "limit", 0, "")
	fs.StringVar(&f.rate, "rate", "", "")
	fs.IntVar(&f.workers, "workers", 0, "")
	fs.BoolVar(&f.resume, "resume", false, "")
	fs.BoolVar(&f.restart, "restart", false, "")
	fs.BoolVar(&f.retryFailed, "retry-failed", false, "")
	fs.BoolVar(&f.resendUnknown, "resend-unknown", false, "")
	fs.BoolVar(&f.skipInvalid, "skip-invalid", false, "")
	fs.BoolVar(&f.quiet, "quiet", false, "")
	fs.BoolVar(&f.asJSON, "json", false, "")
	fs.BoolVar(&f.debug, "debug", false, "")
	if path, ok = parseFlags(fs, args, ui); !ok {
		return f, "", false
	}
	ui.quiet = f.quiet
	switch {
	case f.resume && f.restart:
		ui.errorf("--resume and --restart exclude each other")
		return f, "", false
	case (f.retryFailed || f.resendUnknown) && !f.resume:
		ui.errorf("--retry-failed and --resend-unknown go with --resume")
		ui.hint("mailmerge send " + path + " --resume --retry-failed")
		return f, "", false
	case f.limit < 0 || f.workers < 0:
		ui.errorf("--limit and --workers must be positive numbers")
		return f, "", false
	}
	return f, path, true
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
