package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/term"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// sendFlags are the flags of send.
type sendFlags struct {
	sandbox, redirectTo        string
	rows                       string // --rows as ParseSelection writes it back
	shard                      campaign.Shard
	limit, workers             int
	rate                       string
	resume, restart            bool
	retryFailed, resendUnknown bool
	skipInvalid, quiet, asJSON bool
	debug, yes                 bool
}

// defaultTestLimit is how many rows send --redirect-to sends without
// --limit: enough to see a few rows' messages, few enough to read them.
const defaultTestLimit = 3

// cmdSend runs send; with --json it ends, whatever happened, with one
// JSON object on stdout.
func cmdSend(args []string, stdin io.Reader, ui *ui) int {
	return withJSON(args, ui, func(s *campaign.SendSummary) int { return send(args, stdin, ui, s) },
		func(s campaign.SendSummary, status int) { ui.sendJSON(s, readWhole(s.Results), status) })
}

func send(args []string, stdin io.Reader, ui *ui, sum *campaign.SendSummary) int {
	f, path, ok := parseSendFlags(args, ui)
	if !ok {
		return exitUsage
	}
	sel, _ := campaign.ParseSelection(f.rows) // parseSendFlags checked it
	c, ok := loadForSend(f, sel, path, ui)
	if !ok {
		return exitUsage
	}
	ctx, stop, release := onInterrupt(ui, f.resumeCommand(path, false, false))
	defer release()

	opts := campaign.SendOptions{
		Resume: f.resume, Restart: f.restart, RetryFailed: f.retryFailed, ResendUnknown: f.resendUnknown,
		SkipInvalid: f.skipInvalid, Limit: f.limit, Rate: f.rate, Workers: f.workers,
		Stop: stop, Report: ui.problem,
	}
	if f.debug {
		opts.Debug = ui.stderr
	}
	if f.redirectTo != "" && f.limit == 0 && f.rows == "" {
		opts.Limit = defaultTestLimit // --rows chose the test rows itself
	}
	if f.sandbox != "" {
		srv, err := startSandbox(f.sandbox, &opts, ui)
		if err != nil {
			ui.errorf("sandbox: %v", err)
			return exitUsage
		}
		defer srv.Close()
	} else {
		opts.Password = func(l campaign.Login) (string, error) { return password(ctx, c, l, stdin, ui) }
		opts.Confirm = confirmation(ctx, f, stop, stdin, ui)
	}
	defer tuneGC(c.QueuedBytes(ctx, opts))()
	progress := newProgress(ui, f.quiet || f.asJSON && !isTerminal(ui.stderr))
	if !progress.off {
		opts.Progress = progress.update // else the run need not describe itself after every message
	}
	opts.RelayOut = progress.relayOut
	var err error
	*sum, err = c.Send(ctx, opts)
	progress.finish()
	if err != nil {
		switch {
		case errors.Is(err, errDeclined):
			ui.errorf("%v", err)
			unstarted(sum)
			return exitUsage
		case errors.Is(err, errUnconfirmed):
			unconfirmed(args, ui)
			unstarted(sum)
			return exitUsage
		}
		return sendError(ui, f, path, sum, err, ctx.Err() != nil)
	}
	whole := readWhole(sum.Results)
	ui.sendSummary(*sum, whole, f, path)
	failed, unknown := openRows(*sum, whole)
	switch {
	case sum.Stopped:
		return exitStopped
	case failed > 0 || unknown > 0 || sum.Partial > 0:
		return exitPartial
	}
	return exitOK
}

// readWhole reads the counts of the results file as it now is, which
// include the runs before this one, and the rows the summary table shows;
// nil when there is none to read.
func readWhole(path string) *journal.Summary {
	if path == "" {
		return nil
	}
	s, err := journal.ReadSummary(path, tableRows, campaign.Lasting, campaign.FailureClass)
	if err != nil {
		return nil
	}
	return &s
}

// parseSendFlags reads send's flags and refuses combinations that make no sense.
func parseSendFlags(args []string, ui *ui) (f sendFlags, path string, ok bool) {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.StringVar(&f.sandbox, "sandbox", "", "")
	fs.StringVar(&f.redirectTo, "redirect-to", "", "")
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
	fs.BoolVar(&f.yes, "yes", false, "")
	rows := rowsFlag(fs)
	shard := fs.String("shard", "", "")
	if path, ok = parseFlags(fs, args, ui); !ok {
		return f, "", false
	}
	sel, ok := selection(fs, *rows, ui)
	if !ok {
		return f, "", false
	}
	f.rows = sel.String()
	if f.shard, ok = shardFlag(fs, *shard, f, ui); !ok {
		return f, "", false
	}
	ui.quiet = f.quiet
	if !counted(fs, ui, map[string]string{
		"limit":   "leave --limit out to send every row",
		"workers": "leave --workers out to use [send] workers (default 4)",
	}) {
		return f, "", false
	}
	switch {
	case f.resume && f.restart:
		ui.errorf("--resume and --restart exclude each other")
		return f, "", false
	case (f.retryFailed || f.resendUnknown) && !f.resume:
		ui.errorf("--retry-failed and --resend-unknown go with --resume")
		ui.hint(f.resumeCommand(path, f.retryFailed, f.resendUnknown))
		return f, "", false
	}
	return f, path, true
}

// counted refuses a count flag given as 0 or less: left out, it means
// "all" or "the default", but written out a 0 is a mistake, and taking it
// as "all" would send every row. hints says what to write instead.
func counted(fs *flag.FlagSet, ui *ui, hints map[string]string) bool {
	ok := true
	fs.Visit(func(fl *flag.Flag) {
		h, isCount := hints[fl.Name]
		if !isCount || !ok {
			return
		}
		if n, _ := strconv.Atoi(fl.Value.String()); n < 1 {
			ui.errorf("--%s must be 1 or more, not %s", fl.Name, fl.Value)
			ui.hint(h)
			ok = false
		}
	})
	return ok
}

// sendError explains why send did not run, or stopped with an error.
// interrupted says the user quit at once.
func sendError(ui *ui, f sendFlags, path string, sum *campaign.SendSummary, err error, interrupted bool) int {
	done := sum.Sent+sum.Failed+sum.Unknown > 0
	if !done {
		unstarted(sum)
	}
	switch {
	case interrupted && errors.Is(err, context.Canceled):
		ui.errorf("interrupted")
		if done {
			ui.hint("continue with: " + f.resumeCommand(path, false, false))
		}
		return exitStopped
	case errors.Is(err, campaign.ErrInvalid):
		ui.checkSummary("check", sum.Check)
		ui.errorf("nothing was sent: fix the errors above")
		if !f.skipInvalid && sum.Check.PastEnd == "" { // skipping does not mend a selection past the end
			g := f
			g.skipInvalid = true
			ui.hint("or send the valid rows and record the others as skipped: " + g.command(path))
		}
		return exitUsage
	case errors.Is(err, campaign.ErrNothingToResume):
		ui.errorf("%v", err)
		g := f
		g.resume, g.retryFailed, g.resendUnknown = false, false, false
		ui.hint("to start the run: " + g.command(path))
		return exitUsage
	case errors.Is(err, campaign.ErrResultsExist):
		ui.errorf("%v", err)
		ui.hint("continue that run with: " + f.resumeCommand(path, false, false))
		g := f.next()
		g.restart = true
		ui.hint("or start over (the old file is kept): " + g.command(path))
		return exitUsage
	case errors.Is(err, campaign.ErrShardsUnmerged):
		ui.errorf("%v", err)
		merge := "mailmerge results merge " + shellQuote(path)
		if f.sandbox != "" {
			merge += " --results " + shellQuote(filepath.Join(f.sandbox, "results.csv"))
		}
		ui.hint("join the shards' results first, then go on from them: " + merge + " && " + f.resumeCommand(path, false, false))
		return exitUsage
	case errors.Is(err, campaign.ErrUnsharded):
		ui.errorf("%v", err)
		g := f.next()
		g.shard = campaign.Shard{}
		ui.hint("continue that run without --shard: " + g.resumeCommand(path, false, false))
		return exitUsage
	case errors.Is(err, campaign.ErrListChanged):
		ui.errorf("%v", err)
		g := f.next()
		g.restart = true
		ui.hint("rows are matched to results by position; restore the list, or start over: " + g.command(path))
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
	if done {
		ui.hint("continue with: " + f.resumeCommand(path, false, false))
		return exitStopped
	}
	return exitUsage
}

// unstarted counts, for a run refused before it sent anything, the rows
// not dealt with: those the list has and the results file does not; with
// --rows, those selected.
func unstarted(sum *campaign.SendSummary) {
	sum.Remaining = sum.Check.Rows
	if sum.Check.Selected != "" {
		return // the results file's rows may lie outside the selection
	}
	if whole := readWhole(sum.Results); whole != nil {
		sum.Remaining = max(0, sum.Check.Rows-whole.Rows)
		if sum.Previous == nil {
			sum.Previous = map[string]int{}
		}
		for st, n := range whole.Counts {
			if n > 0 {
				sum.Previous[string(st)] = n
			}
		}
	}
}

// isTerminal says whether a standard stream, stdin or stderr, is a terminal.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// loadForSend loads the campaign, with the test address of --redirect-to.
func loadForSend(f sendFlags, sel campaign.Selection, path string, ui *ui) (*campaign.Campaign, bool) {
	lo := campaign.Options{Mailer: mailer(), Rows: sel, Shard: f.shard, Getenv: os.Getenv}
	if f.redirectTo != "" {
		var err error
		if lo.RedirectTo, err = campaign.ParseAddress(f.redirectTo); err != nil {
			ui.errorf("--redirect-to: %v", err)
			return nil, false
		}
	}
	c, err := campaign.Load(path, lo)
	if err != nil {
		ui.loadError(err)
		return nil, false
	}
	if lo.RedirectTo != nil && c.Unsubscribing() {
		// A tester follows the links of a test to see them work: they must
		// unsubscribe the tester, never the row's recipient.
		ui.infof("the unsubscribe links of these tests are for %s: following one adds %s to %s", lo.RedirectTo.Address, lo.RedirectTo.Address, c.UnsubscribeFile())
	}
	return c, true
}
