package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/mail"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/dkim"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/starter"
)

// ui writes every line the user sees. Errors and hints go to stderr as
// "mailmerge: error: ..." and "mailmerge: hint: ..."; results to stdout.
type ui struct {
	stdout, stderr io.Writer
	quiet          bool
	// report, with --json, keeps the errors, hints and problems printed,
	// so that the JSON object on stdout says them too.
	report *report
}

// report is what a run told the user, for --json.
type report struct {
	errors, hints []string
	problems      []jsonProblem
}

type jsonProblem struct {
	Severity string `json:"severity"`
	Row      int    `json:"row"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
}

func newUI(stdout, stderr io.Writer) *ui { return &ui{stdout: stdout, stderr: stderr} }

func (u *ui) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(u.stderr, "mailmerge: error: %s\n", msg)
	if u.report != nil {
		u.report.errors = append(u.report.errors, msg)
	}
}

func (u *ui) warnf(format string, args ...any) {
	fmt.Fprintf(u.stderr, "mailmerge: warning: "+format+"\n", args...)
}

func (u *ui) hint(h string) {
	if h == "" {
		return
	}
	fmt.Fprintf(u.stderr, "mailmerge: hint: %s\n", h)
	if u.report != nil {
		u.report.hints = append(u.report.hints, h)
	}
}

func (u *ui) infof(format string, args ...any) {
	if !u.quiet {
		fmt.Fprintf(u.stderr, format+"\n", args...)
	}
}

// problem prints one problem check found; --json lists it with the others.
func (u *ui) problem(p campaign.Problem) {
	severity := "error"
	if p.Severity == campaign.Warning {
		severity = "warning"
	}
	fmt.Fprintf(u.stderr, "mailmerge: %s: %s\n", severity, p.Message)
	if p.Hint != "" {
		fmt.Fprintf(u.stderr, "mailmerge: hint: %s\n", p.Hint)
	}
	if u.report != nil {
		u.report.problems = append(u.report.problems, jsonProblem{severity, p.Row, p.Message, p.Hint})
	}
}

// loadError prints every problem of a campaign that did not load.
func (u *ui) loadError(err error) {
	for _, p := range campaign.Problems(err) {
		u.problem(p)
	}
}

// checkSummary is the last line of check, render and the check part of send.
func (u *ui) checkSummary(verb string, s campaign.CheckSummary) {
	rows := fmt.Sprintf("%d %s", s.Rows, plural(s.Rows, "row", "rows"))
	if s.Selected != "" {
		rows += fmt.Sprintf(" (%s of %d)", s.Selected, s.ListRows)
	}
	line := fmt.Sprintf("%s: %s, %d valid", verb, rows, s.Valid)
	if s.Suppressed > 0 {
		line += fmt.Sprintf(", %d suppressed", s.Suppressed)
	}
	line += fmt.Sprintf(", %d %s, %d %s",
		s.Errors, plural(s.Errors, "error", "errors"),
		s.Warnings, plural(s.Warnings, "warning", "warnings"))
	if s.Errors > campaign.MaxReported {
		line += fmt.Sprintf(" (the first %d shown)", campaign.MaxReported)
	}
	out := u.stdout
	if u.report != nil {
		out = u.stderr // stdout is the JSON object's
	}
	fmt.Fprintln(out, line)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sendSummary prints what a send run did: a table of the first results,
// the counts, speed and the most common failures, then what to do next,
// each step as the exact command (whole is the results file as it now is;
// nil when it cannot be read).
func (u *ui) sendSummary(s campaign.SendSummary, whole *journal.Summary, f sendFlags, path string) {
	u.damaged(s)
	if s.NothingSent {
		u.errorf("%s", s.StopReason)
		if s.StopHint != "" {
			u.hint(s.StopHint)
		} else {
			u.hint("check [smtp] host, port and security")
		}
		u.hint("nothing was sent; once that is fixed, run again: " + f.command(path))
		return
	}
	out := u.stdout
	if u.report != nil {
		out = u.stderr // stdout is the JSON object's
	}
	if done := s.Sent + s.Failed + s.Skipped + s.Unknown; !u.quiet && done > 0 {
		u.resultsTable(out, whole, s.Results)
	}
	fmt.Fprintf(out, "sent %d, failed %d, skipped %d", s.Sent, s.Failed, s.Skipped)
	if s.Suppressed > 0 {
		fmt.Fprintf(out, " (%d suppressed)", s.Suppressed)
	}
	fmt.Fprintf(out, ", unknown %d", s.Unknown)
	if s.Remaining > 0 {
		fmt.Fprintf(out, ", not sent yet %d", s.Remaining)
	}
	fmt.Fprintf(out, " in %s (%.1f msg/s)\n", s.Elapsed.Round(time.Millisecond), perSecond(s))
	u.relayLines(out, s.Relays)
	if s.Partial > 0 {
		fmt.Fprintf(out, "%d sent %s did not reach every recipient: the reply column names who was refused\n",
			s.Partial, plural(s.Partial, "message", "messages"))
	}
	if prev := s.Previous; len(prev) > 0 {
		fmt.Fprintf(out, "left as earlier runs recorded them: sent %d, failed %d, skipped %d, unknown %d",
			prev["sent"], prev["failed"], prev["skipped"], prev["unknown"])
		if n := prev[string(journal.Bounced)]; n > 0 {
			fmt.Fprintf(out, ", bounced %d", n) // found by mailmerge bounces; never sent again
		}
		fmt.Fprintln(out)
	}
	if s.Recovered > 0 {
		fmt.Fprintf(out, "%d %s in flight when the last run stopped: recorded as unknown\n",
			s.Recovered, plural(s.Recovered, "message was", "messages were"))
	}
	if c := s.Check; c.Selected != "" {
		fmt.Fprintf(out, "rows %s of %d; the other %d %s left alone\n", c.Selected, c.ListRows,
			c.ListRows-c.Rows, plural(c.ListRows-c.Rows, "was", "were"))
	}
	if c := s.Check; s.Shard != "" {
		fmt.Fprintf(out, "shard %s: %d of the %d rows; the other %d %s to the other shards\n", s.Shard, c.Rows, c.ListRows,
			c.ListRows-c.Rows, plural(c.ListRows-c.Rows, "belongs", "belong"))
	}
	if whole != nil && len(whole.Classes) > 0 {
		fmt.Fprintf(out, "failed or unknown: %s\n", classLine(whole.Classes))
	}
	fmt.Fprintf(out, "results: %s\n", s.Results)
	if s.RotatedTo != "" {
		fmt.Fprintf(out, "the earlier results were kept in %s\n", s.RotatedTo)
	}
	u.nextSteps(s, whole, f, path)
}

// relayLines says, when the run had several relays, what each did:
// "  relay b  127.0.0.1:10026  sent 6512, failed 0, unknown 1; out 2 times (last: …)".
func (u *ui) relayLines(out io.Writer, relays []campaign.RelaySummary) {
	if len(relays) < 2 {
		return
	}
	rows := [][]string{}
	for _, r := range relays {
		line := fmt.Sprintf("sent %d, failed %d, unknown %d", r.Sent, r.Failed, r.Unknown)
		if r.Outages > 0 {
			line += fmt.Sprintf("; out %d %s (last: %s)", r.Outages, plural(r.Outages, "time", "times"), human.Clip(r.OutReason, 80))
		}
		if r.Out {
			line += "; out at the end"
		}
		rows = append(rows, []string{"  relay " + r.Name, r.Server, line})
	}
	writeTable(out, rows)
}

// shownClasses is how many classes of failure the summary names; the
// rest it counts.
const shownClasses = 5

// classLine is the failed and unknown rows of the campaign by class, most
// frequent first: "5.1.1 user unknown ×12, 4.2.2 mailbox full ×1".
func classLine(classes []journal.ClassCount) string {
	var parts []string
	for _, c := range classes[:min(len(classes), shownClasses)] {
		parts = append(parts, fmt.Sprintf("%s ×%d", c.Class, c.Rows))
	}
	if rest := classes[min(len(classes), shownClasses):]; len(rest) > 0 {
		rows := 0
		for _, c := range rest {
			rows += c.Rows
		}
		parts = append(parts, fmt.Sprintf("… and %d more (%d %s)", len(rest), rows, plural(rows, "row", "rows")))
	}
	return strings.Join(parts, ", ")
}

// nextSteps says why the campaign is not done, if it is not, and the
// command for each way on: continue, retry the failed rows, resend the
// unknown ones.
func (u *ui) nextSteps(s campaign.SendSummary, whole *journal.Summary, f sendFlags, path string) {
	failed, unknown := openRows(s, whole)
	switch {
	case s.Stopped:
		u.errorf("stopped early: %s", s.StopReason)
		u.hint(s.StopHint)
		u.hint("nobody is sent twice; continue with: " + f.resumeCommand(path, false, false))
	case failed+unknown > 0 && s.Check.Selected != "":
		u.errorf("not everyone got the message: %d failed, %d unknown in rows %s of %s", failed, unknown, s.Check.Selected, s.Results)
	case failed+unknown > 0:
		u.errorf("not everyone got the message: %d failed, %d unknown in %s", failed, unknown, s.Results)
	}
	// A test send to oneself covers the first rows on purpose; the rest
	// are not waiting for it.
	if !s.Stopped && s.Remaining > 0 && f.redirectTo == "" {
		u.hint(fmt.Sprintf("%d %s not sent yet; send %s with: %s", s.Remaining, plural(s.Remaining, "row is", "rows are"),
			plural(s.Remaining, "it", "them"), f.resumeCommand(path, false, false)))
	}
	// Rows refused for good by earlier runs count too: --retry-failed
	// would only fail them again.
	lasting := s.Unfixable
	if whole != nil {
		lasting = max(lasting, whole.Lasting)
	}
	if lasting > 0 {
		u.hint(fmt.Sprintf("%d %s refused for the address alone (no such mailbox, mailbox full): sending again would fail again",
			lasting, plural(lasting, "row was", "rows were")))
	}
	if c := s.Check; !s.Stopped && s.Remaining == 0 && f.redirectTo == "" && c.Selected != "" && (whole == nil || whole.Rows < c.ListRows) {
		g := f.next()
		g.rows = ""
		u.hint("to send the rows outside --rows " + c.Selected + " that no run has sent yet: " + g.resumeCommand(path, false, false))
	}
	if fixable := failed - lasting; fixable > 0 {
		u.hint(fmt.Sprintf("once the cause in %s is fixed, send the %d failed %s again: %s", s.Results,
			fixable, plural(fixable, "row", "rows"), f.resumeCommand(path, true, false)))
	}
	if unknown > 0 {
		u.hint(fmt.Sprintf("%d %s unknown: the server may have the message; check those mailboxes, then resend (they may get a second copy): %s",
			unknown, plural(unknown, "row is", "rows are"), f.resumeCommand(path, false, true)))
	}
}

// openRows are the rows of the whole campaign, this run and earlier ones,
// whose message has not surely arrived: failed and unknown. The results
// file counts rows this run left alone; the run's own counts win when the
// file could not take them all (the in-flight ones of a failed write).
// With --rows, the campaign is the rows selected: the run's counts.
func openRows(s campaign.SendSummary, whole *journal.Summary) (failed, unknown int) {
	failed, unknown = s.Failed+s.Previous["failed"], s.Unknown+s.Previous["unknown"]
	if whole != nil && s.Check.Selected == "" {
		failed, unknown = max(failed, whole.Counts[journal.Failed]), max(unknown, whole.Counts[journal.Unknown])
	}
	return failed, unknown
}

// damaged warns about lines of the results file that a crash left torn:
// their rows count as not sent, so --resume sends them.
func (u *ui) damaged(s campaign.SendSummary) {
	if n := len(s.DamagedLines); n > 0 {
		lines := make([]string, n)
		for i, l := range s.DamagedLines {
			lines[i] = strconv.Itoa(l)
		}
		u.warnf("%s: skipped damaged %s %s (cut short by a crash or power loss): %s as not sent",
			s.Results, plural(n, "line", "lines"), strings.Join(lines, ", "), plural(n, "its row counts", "their rows count"))
	}
}

// writeTable prints rows in columns two spaces apart, padded by the width
// the text takes on screen (text/tabwriter counts runes, which puts a
// column after Chinese text out of line). The last column is not padded.
func writeTable(out io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], human.Width(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		b.Reset()
		for i, cell := range r {
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-human.Width(cell)+2))
			}
		}
		b.WriteByte('\n')
		io.WriteString(out, b.String())
	}
}

// tableRows is how many results the summary shows.
const tableRows = 20

// resultsTable shows the results file at path, read as sum: every row
// when they fit, else those not sent first. A file that could not be read
// (nil) shows no table; the counts below it still say what happened.
func (u *ui) resultsTable(out io.Writer, sum *journal.Summary, path string) {
	if sum == nil || len(sum.Shown) == 0 {
		return
	}
	if sum.Rows > len(sum.Shown) {
		fmt.Fprintf(out, "%d of %d results, those not sent first:\n", len(sum.Shown), sum.Rows)
	}
	table := [][]string{{"ROW", "EMAIL", "STATUS", "REPLY"}}
	for _, e := range sum.Shown {
		reply := e.Reply
		if e.Code != 0 {
			reply = fmt.Sprintf("%d %s", e.Code, reply)
		}
		table = append(table, []string{strconv.Itoa(e.Row), e.Email, string(e.Status), human.Clip(reply, 60)})
	}
	writeTable(out, table)
	if sum.Rows > len(sum.Shown) {
		fmt.Fprintf(out, "… and %d more (%d sent) in %s\n", sum.Rows-len(sum.Shown), sum.Counts[journal.Sent], path)
	}
	fmt.Fprintln(out)
}

// perSecond is the rate of messages that went to the server.
func perSecond(s campaign.SendSummary) float64 {
	return float64(s.Sent+s.Failed+s.Unknown) / max(s.Elapsed.Seconds(), 0.001)
}

// suppressedRows names the rows check found suppressed, the first
// campaign.MaxSuppressedShown of them, and counts the rest.
func (u *ui) suppressedRows(s campaign.CheckSummary) {
	for _, r := range s.SuppressedRows {
		fmt.Fprintf(u.stderr, "mailmerge: row %d is suppressed: %s is in %s; send skips it\n", r.Row, r.Address, r.File)
	}
	if more := s.Suppressed - len(s.SuppressedRows); more > 0 {
		fmt.Fprintf(u.stderr, "mailmerge: … and %d more suppressed %s\n", more, plural(more, "row", "rows"))
	}
}

// jsonCheck is the part of the JSON objects that check fills.
type jsonCheck struct {
	Rows       int `json:"rows"`
	Valid      int `json:"valid"`
	Errors     int `json:"errors"`
	Warnings   int `json:"warnings"`
	Suppressed int `json:"suppressed"` // valid rows send skips: a suppress file holds an address of theirs
	// The first campaign.MaxSuppressedShown of them.
	SuppressedRows []jsonSuppressed `json:"suppressed_rows,omitempty"`
	// With --rows: the selection and the rows of the whole list.
	Selected string `json:"selected,omitempty"`
	ListRows int    `json:"list_rows,omitempty"`
}

// jsonSuppressed is a suppressed row in check's JSON.
type jsonSuppressed struct {
	Row   int    `json:"row"`
	Email string `json:"email"`
	File  string `json:"file"`
}

func checkJSON(c campaign.CheckSummary) jsonCheck {
	v := jsonCheck{Rows: c.Rows, Valid: c.Valid, Errors: c.Errors, Warnings: c.Warnings, Suppressed: c.Suppressed}
	for _, r := range c.SuppressedRows {
		v.SuppressedRows = append(v.SuppressedRows, jsonSuppressed{r.Row, r.Address, r.File})
	}
	if c.Selected != "" {
		v.Selected, v.ListRows = c.Selected, c.ListRows
	}
	return v
}

// sendJSON is send --json: one object on stdout whatever happened, with
// the run's counts, the results file's counts (campaign), and what went
// wrong and what to do (the error and hint lines stderr got, one a line).
func (u *ui) sendJSON(s campaign.SendSummary, whole *journal.Summary, status int) {
	type failure struct {
		Reply string `json:"reply"`
		Count int    `json:"count"`
	}
	type class struct {
		Class string `json:"class"`
		Rows  int    `json:"rows"`
	}
	v := struct {
		Sent         int            `json:"sent"`
		Failed       int            `json:"failed"`
		Skipped      int            `json:"skipped"`
		Unknown      int            `json:"unknown"`
		Partial      int            `json:"partial"`
		Remaining    int            `json:"remaining"`
		Previous     map[string]int `json:"previous"`
		Recovered    int            `json:"recovered_unknown"`
		Elapsed      float64        `json:"elapsed_seconds"`
		PerSecond    float64        `json:"messages_per_second"`
		Stopped      bool           `json:"stopped"`
		StopReason   string         `json:"stop_reason,omitempty"`
		TopFailures  []failure      `json:"top_failures"`
		Results      string         `json:"results"`
		Shard        string         `json:"shard,omitempty"` // send --shard I/N, "2/4"
		Unfixable    int            `json:"unfixable"`
		Suppressed   int            `json:"suppressed"`      // of skipped: a suppress file holds an address of the row
		Classes      []class        `json:"failure_classes"` // the campaign's failed and unknown rows, every class
		Relays       []jsonRelay    `json:"relays"`          // what each relay did
		DamagedLines []int          `json:"damaged_lines,omitempty"`
		Check        jsonCheck      `json:"check"`
		Campaign     map[string]int `json:"campaign,omitempty"`
		ExitStatus   int            `json:"exit_status"`
		Error        string         `json:"error,omitempty"`
		Hint         string         `json:"hint,omitempty"`
		Problems     []jsonProblem  `json:"problems,omitempty"`
	}{
		Sent: s.Sent, Failed: s.Failed, Skipped: s.Skipped, Suppressed: s.Suppressed, Unknown: s.Unknown, Partial: s.Partial, Remaining: s.Remaining,
		Previous: s.Previous, Recovered: s.Recovered, Elapsed: s.Elapsed.Seconds(), Stopped: s.Stopped,
		StopReason: s.StopReason, Results: s.Results, Shard: s.Shard, TopFailures: []failure{}, Classes: []class{}, Unfixable: s.Unfixable,
		DamagedLines: s.DamagedLines, Check: checkJSON(s.Check), ExitStatus: status,
	}
	if v.Previous == nil {
		v.Previous = map[string]int{}
	}
	v.PerSecond = perSecond(s)
	v.Relays = []jsonRelay{}
	for _, r := range s.Relays {
		v.Relays = append(v.Relays, jsonRelay{r.Name, r.Server, r.Sent, r.Failed, r.Unknown, r.Outages, r.OutReason, r.Out})
	}
	for _, f := range s.TopFailures {
		v.TopFailures = append(v.TopFailures, failure{f.Reply, f.Count})
	}
	if whole != nil {
		for _, c := range whole.Classes {
			v.Classes = append(v.Classes, class{c.Class, c.Rows})
		}
		v.Campaign = map[string]int{}
		for st, n := range whole.Counts {
			v.Campaign[string(st)] = n
		}
	}
	v.Error, v.Hint, v.Problems = u.report.lines()
	_ = json.NewEncoder(u.stdout).Encode(v)
}

// jsonRelay is what one relay did, in send --json.
type jsonRelay struct {
	Name      string `json:"name"`
	Server    string `json:"server"`
	Sent      int    `json:"sent"`
	Failed    int    `json:"failed"`
	Unknown   int    `json:"unknown"`
	Outages   int    `json:"outages"`
	OutReason string `json:"out_reason,omitempty"`
	Out       bool   `json:"out_at_end"`
}

// withJSON runs a command whose --json ends, whatever happened, with one
// JSON object on stdout: run fills in the summary, and emit writes it with
// the exit status and every error and hint the run reported.
func withJSON[S any](args []string, ui *ui, run func(*S) int, emit func(S, int)) int {
	if slices.Contains(args, "--json") || slices.Contains(args, "-json") {
		ui.report = &report{}
	}
	var sum S
	status := run(&sum)
	if ui.report != nil {
		emit(sum, status)
	}
	return status
}

// checkJSONSummary is check --json: the counts and every problem reported.
func (u *ui) checkJSONSummary(s campaign.CheckSummary, status int) {
	v := struct {
		jsonCheck
		ExitStatus int           `json:"exit_status"`
		Error      string        `json:"error,omitempty"`
		Hint       string        `json:"hint,omitempty"`
		Problems   []jsonProblem `json:"problems"`
	}{jsonCheck: checkJSON(s), ExitStatus: status}
	v.Error, v.Hint, v.Problems = u.report.lines()
	if s.Rows == 0 && status != exitOK {
		// The campaign did not load: its problems are all there is to count.
		v.Errors = len(v.Problems)
	}
	if v.Problems == nil {
		v.Problems = []jsonProblem{}
	}
	_ = json.NewEncoder(u.stdout).Encode(v)
}

// lines are the errors and hints, one a line, and the problems reported.
// A run that failed on problems alone (a campaign that did not load) has
// the first of them as its error.
func (r *report) lines() (errs, hints string, problems []jsonProblem) {
	errs = strings.Join(r.errors, "\n")
	for _, p := range r.problems {
		if errs == "" && p.Severity == "error" {
			errs = p.Message
		}
	}
	return errs, strings.Join(r.hints, "\n"), r.problems
}

// showRule is the line above and below each message render --show prints.
var showRule = strings.Repeat("=", 72)

// showMessage prints one message for render --show: From, To, Cc and
// Subject, then the text part, between rules that name the row. Control
// characters from the list are shown escaped, not sent to the terminal.
func (u *ui) showMessage(r campaign.Rendered) {
	m := r.Message
	var b strings.Builder
	head := fmt.Sprintf("=== row %d ", r.Row)
	b.WriteString(head + showRule[len(head):] + "\n")
	fmt.Fprintf(&b, "From:    %s\n", printable(addressList(m.From)))
	fmt.Fprintf(&b, "To:      %s\n", printable(addressList(m.To...)))
	if len(m.Cc) > 0 {
		fmt.Fprintf(&b, "Cc:      %s\n", printable(addressList(m.Cc...)))
	}
	fmt.Fprintf(&b, "Subject: %s\n", printable(m.Subject))
	if m.TextFromHTML {
		b.WriteString("(no text template: this is the text part made from the HTML part)\n")
	}
	// Blank lines at the end would only push the rule away.
	b.WriteString("\n" + printable(strings.TrimRightFunc(m.Text, unicode.IsSpace)) + "\n")
	b.WriteString(showRule + "\n")
	io.WriteString(u.stdout, b.String())
}

// addressList writes addresses as a reader sees them: "Name <address>".
func addressList(list ...*mail.Address) string {
	parts := make([]string, 0, len(list))
	for _, a := range list {
		switch {
		case a == nil:
		case a.Name == "":
			parts = append(parts, a.Address)
		default:
			parts = append(parts, a.Name+" <"+a.Address+">")
		}
	}
	return strings.Join(parts, ", ")
}

// printable escapes the control characters of s other than line breaks
// and tabs, as Go writes them ("\x1b"), so that text from the list cannot
// move the cursor or recolour the terminal.
func printable(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	clean := func(r rune) bool { return r == '\n' || r == '\t' || !unicode.IsControl(r) }
	if !strings.ContainsFunc(s, func(r rune) bool { return !clean(r) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if clean(r) {
			b.WriteRune(r)
		} else {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// initNext tells what init wrote into dir and the commands to run next,
// each complete for that folder so that it can be pasted.
func (u *ui) initNext(dir string, names []string, list string) {
	where := "in " + dir
	if dir == "." {
		where = "in this folder"
	}
	in := func(name string) string { return shellQuote(filepath.Join(dir, name)) }
	path := filepath.Join(dir, starter.CampaignFile)
	inbox := filepath.Join(dir, "inbox")
	fmt.Fprintf(u.stdout, "wrote a campaign %s: %s\n\n", where, strings.Join(names, ", "))
	fmt.Fprintf(u.stdout, `next steps:
  1. check it (this sends nothing) and see each message in your browser:
       mailmerge check %[1]s
       mailmerge preview %[1]s --open
  2. send it to a test server on this machine, which keeps the mail in %[2]s:
       %[3]s
  3. set from and [smtp] in %[1]s, put your recipients in %[4]s,
     and send the first messages to yourself:
       %[5]s
  4. send for real:
       %[6]s
`, in(starter.CampaignFile), shellQuote(inbox), sendFlags{sandbox: inbox}.command(path),
		in(list), sendFlags{redirectTo: "you@example.com"}.command(path), sendFlags{}.command(path))
}

// keygenDone says where the new key is, the record to publish and the
// [dkim] table that uses it.
func (u *ui) keygenDone(out string, key *dkim.Key, rec dkim.Record, domain, selector string) {
	u.infof("wrote %s: a new %s key, readable only by you; keep it secret, and out of version control", out, key)
	u.dkimRecord(rec)
	u.infof("then add this to the campaign file (key_file is relative to it):\n\n[dkim]\ndomain   = %q\nselector = %q\nkey_file = %q\n", domain, selector, out)
}

// dkimRecord prints a record: the zone-file line on stdout, how to enter
// it in a web form on stderr.
func (u *ui) dkimRecord(rec dkim.Record) {
	u.infof("publish this DNS TXT record:")
	fmt.Fprintln(u.stdout, rec.Zone())
	u.infof("(in a DNS provider's web form for %s: type TXT, name %s, value %s)", strings.TrimSuffix(strings.TrimPrefix(rec.Name, rec.Host+"."), "."), rec.Host, rec.Value)
	u.infof("check it once published: dig +short TXT %s", rec.Name)
}
