package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/mailbox"
)

const bouncesHelp = `Usage: mailmerge bounces CAMPAIGN.toml [--since DATE] [--move-to FOLDER] [--json]

Reads the sender's mailbox over IMAP for the reports that came back after
a send: delivery status notifications (RFC 3464) and the plain reports of
Postfix, Exim, Sendmail, qmail, Exchange/Outlook, Gmail, QQ, Exmail and
163, and the replies a mailto: unsubscribe link produces.

Each report is matched to its row of the results file by the Message-ID of
the message it returns, else by the address it names. A hard bounce (a
5.x.x status) of a row the server had accepted is recorded in the results
file as bounced, with the code and the reason, and its address is added
to bounced.csv beside the campaign file: put suppress = ["bounced.csv"] in
the next campaign. A later send --resume never sends a bounced row again.
Soft bounces (4.x.x), delays and refusals aimed at the sender rather than
the address (blocked: a 5.x.x for a block-listed IP, SPF, DMARC, spam) are
reported, not recorded: the address may be fine. Reports about
addresses that no row has are counted as unmatched and left alone.
A mailto: unsubscribe reply (Subject "unsubscribe TOKEN") whose token
the campaign's [unsubscribe] secret made adds the address the token names
to the unsubscribe file ([unsubscribe] file); a forged token adds nobody.

The mailbox is [imap] (host, port, security, username, folder), else the
provider's IMAP server, else [smtp] host, over TLS on port 993, logging in
as [smtp] username with the same password as send ([smtp] password_env,
password_command, or a prompt). It only reads: the folder is opened with
EXAMINE and no message is flagged, moved or deleted, unless --move-to is
given. Messages over 10 MB are skipped. Running it again over the same
mailbox changes nothing.

Exit status 0 when it read the mailbox; 2 bad input or usage; 3 the
mailbox could not be read (connection, login, folder): nothing was
recorded, run it again.

Flags:
    --since DATE       read only messages received on or after DATE (2026-11-01)
    --move-to FOLDER   move the reports read (not other mail) to FOLDER afterwards
    --json             print one JSON object on stdout: the counts, every bounce
                       and unsubscribe reply, exit_status, error and hint

Examples:
    mailmerge bounces campaign.toml
    mailmerge bounces campaign.toml --since 2026-11-01
    mailmerge bounces campaign.toml --move-to Bounces --json
`

func cmdBounces(args []string, stdin io.Reader, ui *ui) int {
	return withJSON(args, ui, func(s *campaign.BounceSummary) int { return bounces(args, stdin, ui, s) },
		func(s campaign.BounceSummary, status int) { ui.bouncesJSON(s, status) })
}

func bounces(args []string, stdin io.Reader, ui *ui, sum *campaign.BounceSummary) int {
	fs := flag.NewFlagSet("bounces", flag.ContinueOnError)
	fs.Bool("json", false, "")
	since := fs.String("since", "", "")
	moveTo := fs.String("move-to", "", "")
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	var opts campaign.BounceOptions
	if *since != "" {
		t, err := time.Parse(time.DateOnly, *since)
		if err != nil {
			ui.errorf("--since %q: not a date", *since)
			ui.hint("write it as YYYY-MM-DD: --since 2026-11-01")
			return exitUsage
		}
		opts.Since = t
	}
	opts.MoveTo = *moveTo
	c, err := campaign.Load(path, campaign.Options{Mailer: mailer(), Getenv: os.Getenv})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	if _, err := c.IMAPConfig(); err != nil {
		ui.loadError(err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.Password, err = password(ctx, c, c.SMTPLogin(), stdin, ui); err != nil {
		ui.errorf("%v", err)
		ui.hint(human.Hint(err))
		return exitUsage
	}
	*sum, err = c.Bounces(ctx, opts)
	if err != nil {
		ui.errorf("%v", err)
		ui.hint(human.Hint(err))
		var me *mailbox.Error
		if errors.As(err, &me) || ctx.Err() != nil {
			return exitStopped
		}
		return exitUsage
	}
	ui.bouncesSummary(*sum)
	return exitOK
}

// bouncesSummary prints the bounces found, then the counts.
func (u *ui) bouncesSummary(s campaign.BounceSummary) {
	out := u.stdout
	if u.report != nil {
		out = u.stderr
	}
	if len(s.Bounces) > 0 {
		table := [][]string{{"ROW", "EMAIL", "KIND", "STATUS", "REASON"}}
		for _, b := range s.Bounces {
			row := "-"
			if b.Row > 0 {
				row = strconv.Itoa(b.Row)
			}
			table = append(table, []string{row, b.Email, b.Kind, b.Status, human.Clip(b.Diagnostic, 60)})
		}
		writeTable(out, table)
		fmt.Fprintln(out)
	}
	for _, un := range s.Unsubscribes {
		switch {
		case un.New:
			fmt.Fprintf(out, "unsubscribe reply from %s: %s added to the unsubscribe file\n", un.From, un.Address)
		case un.Address != "":
			fmt.Fprintf(out, "unsubscribe reply from %s: %s was already in the unsubscribe file\n", un.From, un.Address)
		case !s.Checked:
			fmt.Fprintf(out, "unsubscribe reply from %s: not acted on: the campaign has no [unsubscribe] secret to check its token\n", un.From)
		default:
			fmt.Fprintf(out, "unsubscribe reply from %s: its token is not one of this campaign's; ignored\n", un.From)
		}
	}
	fmt.Fprintf(out, "%s: %d messages read", s.Mailbox, s.Messages)
	if s.TooLarge > 0 {
		fmt.Fprintf(out, ", %d over 10 MB skipped", s.TooLarge)
	}
	fmt.Fprintf(out, "; %d hard, %d blocked, %d soft, %d delayed, %d unmatched, %d unsubscribe replies\n",
		s.Hard, s.Blocked, s.Soft, s.Delayed, s.Unmatched, len(s.Unsubscribes))
	fmt.Fprintf(out, "%d rows newly marked bounced in %s; %d addresses added to %s", s.Recorded, s.Results, s.Suppressed, s.Bounced)
	if s.Unsubscribed > 0 {
		fmt.Fprintf(out, "; %d to the unsubscribe file", s.Unsubscribed)
	}
	if s.Moved > 0 {
		fmt.Fprintf(out, "; %d messages moved", s.Moved)
	}
	fmt.Fprintln(out)
}

// bouncesJSON is bounces --json.
func (u *ui) bouncesJSON(s campaign.BounceSummary, status int) {
	type bounce struct {
		Row        int    `json:"row"`
		Email      string `json:"email"`
		Kind       string `json:"kind"`
		Status     string `json:"status"`
		Diagnostic string `json:"diagnostic"`
		MatchedBy  string `json:"matched_by"`
		New        bool   `json:"new"`
	}
	type unsub struct {
		From    string `json:"from"`
		Token   string `json:"token"`
		Address string `json:"address"` // "" unless the token is the campaign's
		New     bool   `json:"new"`
	}
	v := struct {
		Mailbox      string        `json:"mailbox"`
		Messages     int           `json:"messages"`
		TooLarge     int           `json:"too_large"`
		Hard         int           `json:"hard"`
		Blocked      int           `json:"blocked"`
		Soft         int           `json:"soft"`
		Delayed      int           `json:"delayed"`
		Unmatched    int           `json:"unmatched"`
		Unsubscribes int           `json:"unsubscribes"`
		Unsubscribed int           `json:"unsubscribed"`
		Recorded     int           `json:"recorded"`
		Suppressed   int           `json:"suppressed"`
		Moved        int           `json:"moved"`
		Results      string        `json:"results"`
		BouncedFile  string        `json:"bounced_file"`
		Bounces      []bounce      `json:"bounces"`
		Replies      []unsub       `json:"unsubscribe_replies"`
		ExitStatus   int           `json:"exit_status"`
		Error        string        `json:"error,omitempty"`
		Hint         string        `json:"hint,omitempty"`
		Problems     []jsonProblem `json:"problems,omitempty"`
	}{Mailbox: s.Mailbox, Messages: s.Messages, TooLarge: s.TooLarge, Hard: s.Hard, Blocked: s.Blocked, Soft: s.Soft, Delayed: s.Delayed,
		Unmatched: s.Unmatched, Unsubscribes: len(s.Unsubscribes), Unsubscribed: s.Unsubscribed, Recorded: s.Recorded, Suppressed: s.Suppressed,
		Moved: s.Moved, Results: s.Results, BouncedFile: s.Bounced, Bounces: []bounce{}, Replies: []unsub{}, ExitStatus: status}
	for _, b := range s.Bounces {
		v.Bounces = append(v.Bounces, bounce{b.Row, b.Email, b.Kind, b.Status, b.Diagnostic, b.MatchedBy, b.New})
	}
	for _, r := range s.Unsubscribes {
		v.Replies = append(v.Replies, unsub{r.From, r.Token, r.Address, r.New})
	}
	v.Error, v.Hint, v.Problems = u.report.lines()
	_ = json.NewEncoder(u.stdout).Encode(v)
}
