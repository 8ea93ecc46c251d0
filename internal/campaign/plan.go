package campaign

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// Plan is what a send run is about to do, shown before anything connects
// so that the user can still say no (SendOptions.Confirm).
type Plan struct {
	Rows     int           // messages this run sends: after an earlier run's rows, --limit, skipped and suppressed rows
	Server   string        // "smtp.example.com:465"
	Security string        // "ssl", "starttls" or "none"
	Account  string        // the [smtp] username, or "no login"
	From     string        // the From of the first message, as its reader sees it
	Rate     string        // the rate in force, "unlimited" when none
	Estimate time.Duration // how long Rows take at Rate, not counting the server's time
	Results  string        // the results file
	// Selected is Options.Rows, "" for every row, and ListRows the rows
	// of the whole list: "rows 2-10,15 of 500".
	Selected string
	ListRows int
	// Relays, when there are several, say where each goes: "a
	// 127.0.0.1:10025 (starttls), 100/s, weight 2"; Server and the rest
	// are then the first relay's.
	Relays []string
	Shard  string // Options.Shard, "2/4"; "" for the whole list
}

// confirm is what openResults asks before it changes anything: the plan
// goes to opts.Confirm, when set and when the run sends anything.
func (c *Campaign) confirm(ctx context.Context, set sendSettings, opts SendOptions, results string) func(prev *journal.Journal) error {
	return func(prev *journal.Journal) error {
		if opts.Confirm == nil {
			return nil
		}
		p, err := c.plan(ctx, prev, set, opts, results)
		if err != nil || p.Rows == 0 {
			return err
		}
		return opts.Confirm(p)
	}
}

// plan reads the list once more, as the producer will, to count the rows
// this run sends: prev holds an earlier run's outcomes when resuming (nil
// otherwise). It costs a walk of the list, so Send makes it only when
// someone will look at it.
func (c *Campaign) plan(ctx context.Context, prev *journal.Journal, set sendSettings, opts SendOptions, results string) (Plan, error) {
	first := set.relays[0]
	p := Plan{Rate: first.rate.String(), Results: results, Selected: c.rows.String(), Shard: c.shard.String(), Account: first.delivery.Username, Security: first.delivery.Security.String()}
	if p.Account == "" {
		p.Account = "no login"
	}
	p.Server = serverOf(first.delivery)
	if c.Config.Send.Rate == "" && opts.Rate == "" && c.Config.SMTP.Provider != "" && len(first.rate) > 0 && len(set.relays) == 1 {
		p.Rate += fmt.Sprintf(" (the %s preset)", strings.ToLower(c.Config.SMTP.Provider))
	}
	if len(set.relays) > 1 {
		for _, r := range set.relays {
			p.Relays = append(p.Relays, fmt.Sprintf("%s %s (%s), %s, weight %d", r.name, serverOf(r.delivery), r.delivery.Security, r.rate, r.weight))
		}
	}
	var settled func(int) bool
	if prev != nil && !c.redirect {
		settled = func(row int) bool {
			e, ok := prev.Lookup(row)
			return ok && !resends(e.Status, opts)
		}
	}
	_, err := c.eachSettled(ctx, validate, settled, func(rw row) error {
		p.ListRows = max(p.ListRows, rw.rec.Row)
		if rw.outside {
			return c.unchanged(prev, rw)
		}
		if rw.err != nil {
			return nil // recorded skipped, or refused before this
		}
		send, _, err := c.sendsRow(prev, opts, rw.rec.Row, rw.email)
		if err != nil || !send || rw.suppressed > 0 || opts.Limit > 0 && p.Rows >= opts.Limit {
			return err
		}
		if p.Rows++; p.From == "" {
			p.From = c.fromOf(rw)
		}
		return nil
	})
	if err != nil {
		return Plan{}, err
	}
	if p.From == "" {
		p.From = c.Config.From
	}
	p.Estimate = estimate(set.relays, p.Rows)
	return p, nil
}

// serverOf is a relay's "host:port".
func serverOf(cfg delivery.Config) string {
	port := cfg.Port
	if port == 0 {
		port = cfg.Security.DefaultPort()
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(port))
}

// estimate is how long rows take over the relays: each gets its weight's
// share, so the run lasts as long as the slowest share at its rate.
func estimate(relays []relaySettings, rows int) time.Duration {
	total := 0
	for _, r := range relays {
		total += r.weight
	}
	var longest time.Duration
	for _, r := range relays {
		share := (rows*r.weight + total - 1) / total
		longest = max(longest, r.rate.Duration(share))
	}
	return longest
}

// fromOf renders the From of one row, "Name <address>" with the name as
// written rather than MIME-encoded; the template's text when it fails.
func (c *Campaign) fromOf(rw row) string {
	msg, err := c.composer.Compose(rw.rec.Row, rw.rec.Fields)
	if err != nil || msg.From == nil {
		return c.Config.From
	}
	if msg.From.Name == "" {
		return "<" + msg.From.Address + ">"
	}
	return msg.From.Name + " <" + msg.From.Address + ">"
}

// sendsRow says whether this run sends the (valid) row, going by an
// earlier run's outcome in prev (nil: no earlier run counts); when it does
// not, status is that outcome. A row whose address changed since is
// ErrListChanged, except a skipped one: nobody got its message, and its
// user has just corrected it, perhaps its address, so this run sends it.
func (c *Campaign) sendsRow(prev *journal.Journal, opts SendOptions, row int, email string) (send bool, status journal.Status, err error) {
	if prev == nil {
		return true, "", nil
	}
	e, ok := prev.Lookup(row)
	if !ok || e.Status == journal.Skipped {
		return true, "", nil
	}
	if e.EmailHash != journal.HashEmail(email) {
		return false, "", fmt.Errorf("%s: row %d is now %s: %w", c.listPath, row, email, ErrListChanged)
	}
	if resends(e.Status, opts) {
		return true, "", nil
	}
	return false, e.Status, nil
}

// resends says whether a run sends again a row an earlier run recorded
// with status: a skipped one (corrected since, or out of the suppress
// files), a failed one with --retry-failed, an unknown one with
// --resend-unknown.
func resends(status journal.Status, opts SendOptions) bool {
	switch {
	case status == journal.Skipped,
		status == journal.Failed && opts.RetryFailed,
		status == journal.Unknown && opts.ResendUnknown:
		return true
	}
	return false
}

// unchanged checks a row outside Options.Rows against an earlier run's
// outcome in prev (nil: none counts): a row whose address changed means
// rows moved, and a selected row may now be someone already sent to.
func (c *Campaign) unchanged(prev *journal.Journal, rw row) error {
	if rw.err != nil {
		return nil // its address is unknown; the row is not this run's
	}
	_, _, err := c.sendsRow(prev, SendOptions{}, rw.rec.Row, rw.email)
	return err
}
