package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
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

// sendSummary prints what a send run did: a table of the first results, the
// counts, speed and the most common failures; with asJSON the same facts as
// one JSON object on stdout.
func (u *ui) sendSummary(s campaign.SendSummary, asJSON bool) {
	if s.NothingSent {
		if asJSON {
			defer u.jsonSummary(s)
		}
		u.errorf("%s", s.StopReason)
		if s.StopHint != "" {
			u.hint(s.StopHint)
		} else {
			u.hint("nothing was sent; check [smtp] host, port and security, then run the same command again")
		}
		return
	}
	out := u.stdout
	if asJSON {
		out = u.stderr
		defer u.jsonSummary(s)
	}
	if u.quiet && !asJSON {
		out = u.stdout
	}
	if done := s.Sent + s.Failed + s.Skipped + s.Unknown; !u.quiet && done > 0 {
		u.resultsTable(out, s.Results)
	}
	fmt.Fprintf(out, "sent %d, failed %d, skipped %d, unknown %d", s.Sent, s.Failed, s.Skipped, s.Unknown)
	if s.Remaining > 0 {
		fmt.Fprintf(out, ", not sent yet %d", s.Remaining)
	}
	fmt.Fprintf(out, " in %s (%.1f msg/s)\n", s.Elapsed.Round(time.Millisecond), perSecond(s))
	if s.Partial > 0 {
		fmt.Fprintf(out, "%d sent %s did not reach every recipient: the reply column names who was refused\n",
			s.Partial, plural(s.Partial, "message", "messages"))
	}
	if prev := s.Previous; len(prev) > 0 {
		fmt.Fprintf(out, "left as earlier runs recorded them: sent %d, failed %d, skipped %d, unknown %d\n",
			prev["sent"], prev["failed"], prev["skipped"], prev["unknown"])
	}
	if s.Recovered > 0 {
		fmt.Fprintf(out, "%d %s in flight when the last run stopped: recorded as unknown (check those mailboxes; --resend-unknown sends again)\n",
			s.Recovered, plural(s.Recovered, "message was", "messages were"))
	}
	for _, f := range s.TopFailures {
		fmt.Fprintf(out, "  %d× %s\n", f.Count, f.Reply)
	}
	fmt.Fprintf(out, "results: %s\n", s.Results)
	if s.RotatedTo != "" {
		fmt.Fprintf(out, "the earlier results were kept in %s\n", s.RotatedTo)
	}
	if s.Stopped {
		u.errorf("stopped early: %s", s.StopReason)
		u.hint(s.StopHint)
		u.hint("nobody is sent twice: run the same command with --resume to continue")
	} else if s.Unknown > 0 {
		u.hint("unknown means the server may have the message; check before resending with --resume --resend-unknown")
	}
}

// tableRows is how many results the summary shows.
const tableRows = 20

// resultsTable shows the results file: every row when they fit, else
// those not sent first. A file that cannot be read shows no table; the
// counts below it still say what happened.
func (u *ui) resultsTable(out io.Writer, path string) {
	sum, err := journal.ReadSummary(path, tableRows)
	if err != nil || len(sum.Shown) == 0 {
		return
	}
	if sum.Rows > len(sum.Shown) {
		fmt.Fprintf(out, "%d of %d results, those not sent first:\n", len(sum.Shown), sum.Rows)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROW\tEMAIL\tSTATUS\tREPLY")
	for _, e := range sum.Shown {
		reply := e.Reply
		if e.Code != 0 {
			reply = fmt.Sprintf("%d %s", e.Code, reply)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Row, e.Email, e.Status, human.Clip(reply, 60))
	}
	tw.Flush()
	if sum.Rows > len(sum.Shown) {
		fmt.Fprintf(out, "… and %d more (%d sent) in %s\n", sum.Rows-len(sum.Shown), sum.Counts[journal.Sent], path)
	}
	fmt.Fprintln(out)
}

// perSecond is the rate of messages that went to the server.
func perSecond(s campaign.SendSummary) float64 {
	return float64(s.Sent+s.Failed+s.Unknown) / max(s.Elapsed.Seconds(), 0.001)
}

func (u *ui) jsonSummary(s campaign.SendSummary) {
	type failure struct {
		Reply string `json:"reply"`
		Count int    `json:"count"`
	}
	v := struct {
		Sent        int            `json:"sent"`
		Failed      int            `json:"failed"`
		Skipped     int            `json:"skipped"`
		Unknown     int            `json:"unknown"`
		Partial     int            `json:"partial"`
		Remaining   int            `json:"remaining"`
		Previous    map[string]int `json:"previous"`
		Recovered   int            `json:"recovered_unknown"`
		Elapsed     float64        `json:"elapsed_seconds"`
		PerSecond   float64        `json:"messages_per_second"`
		Stopped     bool           `json:"stopped"`
		StopReason  string         `json:"stop_reason,omitempty"`
		TopFailures []failure      `json:"top_failures"`
		Results     string         `json:"results"`
	}{
		Sent: s.Sent, Failed: s.Failed, Skipped: s.Skipped, Unknown: s.Unknown, Partial: s.Partial, Remaining: s.Remaining,
		Previous: s.Previous, Recovered: s.Recovered, Elapsed: s.Elapsed.Seconds(), Stopped: s.Stopped,
		StopReason: s.StopReason, Results: s.Results, TopFailures: []failure{},
	}
	v.PerSecond = perSecond(s)
	for _, f := range s.TopFailures {
		v.TopFailures = append(v.TopFailures, failure{f.Reply, f.Count})
	}
	enc := json.NewEncoder(u.stdout)
	_ = enc.Encode(v)
}
