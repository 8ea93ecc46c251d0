package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/human"
)

// MaxReported caps how many problems Check reports one by one; the summary
// still counts them all.
const MaxReported = 100

// CheckSummary counts what Check saw.
type CheckSummary struct {
	Rows       int // data rows read: those of Options.Rows when it is set
	Valid      int // rows that render into a valid message
	ListRows   int // data rows of the whole list, selected or not
	Errors     int
	Warnings   int
	Duplicates int // rows whose recipient address appeared on an earlier row
	// Suppressed counts the valid rows a suppress file holds an address
	// of: send skips them. SuppressedRows names the first
	// MaxSuppressedShown of them.
	Suppressed     int
	SuppressedRows []Suppressed
	Columns        []string
	// Selected is Options.Rows as ParseSelection reads it, "" for every
	// row; PastEnd is the part of it after the list's last row, which is
	// an error: the selection was not made for this list as it is.
	Selected, PastEnd string
}

// CheckOptions tell Check what only the caller knows.
type CheckOptions struct {
	// PasswordSource, when set, says whether send will find the password
	// of a login ([smtp]'s, a relay's) without asking: nil when its
	// password_env is set or password_command's program exists, else what
	// is missing. Only cmd looks at the environment.
	PasswordSource func(Login) error
	// CanPrompt says that send will run where it can ask for the password
	// (a terminal): a missing source is then a warning, not an error.
	CanPrompt bool
}

// Check validates the whole campaign without network: [smtp] and [send]
// as send reads them, then every row renders, every address parses, every
// attachment is readable. Each problem goes to report (up to MaxReported);
// the summary counts all of them. No error in the summary means send will
// not refuse the campaign.
func (c *Campaign) Check(ctx context.Context, opts CheckOptions, report func(Problem)) (CheckSummary, error) {
	_, errs, pre := c.settings(overrides{check: true})
	for _, err := range errs {
		pre = append(pre, Problems(err)...)
	}
	pre = append(pre, c.passwordProblems(opts)...)
	sum, err := c.checkRows(ctx, report, nil, pre)
	// Only check says it: send, which runs the same check, is no place
	// to ask for a new table.
	if p, ok := c.unsubscribeWarning(sum.ListRows); ok && err == nil {
		sum.Warnings++
		if sum.Errors+sum.Warnings <= MaxReported {
			report(p)
		}
	}
	return sum, err
}

// passwordProblems are what Check says for each login whose password send
// could not get.
func (c *Campaign) passwordProblems(opts CheckOptions) []Problem {
	if opts.PasswordSource == nil {
		return nil
	}
	var out []Problem
	for _, l := range c.Logins() {
		err := opts.PasswordSource(l)
		if err == nil {
			continue
		}
		key := l.table + ".username"
		if c.keyLine[key] == 0 {
			key = l.table // its password_env or password_command is its own
		}
		p := Problem{Severity: Error, Message: fmt.Sprintf("%sno password for %s: %v", c.where(key), l.Username, err),
			Hint: fmt.Sprintf("export %s=... (the app password or authorisation code), or set %s password_command; send --sandbox DIR needs none", l.PasswordEnv, l.Table())}
		if opts.CanPrompt {
			p.Severity, p.Hint = Warning, "send will ask for it on this terminal"
		}
		out = append(out, p)
	}
	return out
}

// check checks the rows; onValid, when set, sees the message of every
// valid row selected, whatever the rows before it (render uses it), and an
// error from it ends the check and is returned.
func (c *Campaign) check(ctx context.Context, report func(Problem), onValid func(r row) error) (CheckSummary, error) {
	return c.checkRows(ctx, report, onValid, nil)
}

// checkRows is check after reporting pre, the problems of the campaign file.
func (c *Campaign) checkRows(ctx context.Context, report func(Problem), onValid func(r row) error, pre []Problem) (CheckSummary, error) {
	sum := CheckSummary{Selected: c.rows.String()}
	reported := 0
	emit := func(p Problem) {
		if p.Severity == Error {
			sum.Errors++
		} else {
			sum.Warnings++
		}
		if reported < MaxReported {
			report(p)
		}
		reported++
	}
	for _, p := range pre {
		emit(p)
	}
	var stopped error // onValid's: it ends the check as it is, not as a problem of the list
	// Two rows with one address are always in one shard: a shard looks
	// for duplicates among its own rows alone.
	dups := &dupFinder{sparse: !c.shard.All()}
	var utf8 utf8Rows
	align := dkimAlignment{d: c.dkim}
	if err := c.suppress.load(); err != nil {
		return sum, err
	}
	c.suppress.reset()
	w := validate
	if onValid != nil {
		w = messages
	}
	columns, err := c.each(ctx, w, func(r row) error {
		sum.ListRows = max(sum.ListRows, r.rec.Row)
		if r.outside {
			if r.err == nil && !dups.sparse {
				dups.add(r.rec.Row, r.email) // a second copy may come from outside the selection
			}
			return nil
		}
		sum.Rows++
		if r.err != nil {
			emit(Problem{Severity: Error, Row: r.rec.Row, Message: r.err.Error(), Hint: human.Hint(r.err)})
			return nil
		}
		sum.Valid++
		dups.add(r.rec.Row, r.email)
		if r.suppressed > 0 {
			sum.suppressed(c.suppress, r)
		}
		if r.utf8 {
			utf8.add(r.rec.Row)
		}
		align.add(r.rec.Row, r.from)
		if onValid != nil {
			stopped = onValid(r)
			return stopped
		}
		return nil
	})
	sum.Columns = columns
	if err != nil {
		if ctx.Err() != nil || stopped != nil {
			return sum, err
		}
		for _, p := range Problems(err) {
			emit(p)
		}
		return sum, nil
	}
	if sum.PastEnd = c.rows.pastEnd(sum.ListRows); sum.PastEnd != "" {
		emit(c.pastEndProblem(sum))
	}
	if utf8.count > 0 {
		emit(utf8.warning(c.listPath))
	}
	if align.count > 0 {
		emit(align.warning(c))
	}
	sum.Duplicates = c.reportDuplicates(ctx, dups, emit)
	return sum, nil
}

// reportDuplicates warns once for each group of selected rows that share a
// recipient address, and returns how many rows are extra copies.
func (c *Campaign) reportDuplicates(ctx context.Context, dups *dupFinder, emit func(Problem)) int {
	extra := 0
	groups := c.selectedGroups(dups)
	addrs := c.addressesOf(ctx, groups)
	for _, g := range groups {
		extra += len(g) - 1
		rows := make([]string, len(g))
		for i, r := range g {
			rows[i] = fmt.Sprint(r)
		}
		what := "the same recipient address"
		if a := addrs[g[0]]; a != "" {
			what = "the same recipient address: " + a
		}
		emit(Problem{Severity: Warning, Row: g[0],
			Message: fmt.Sprintf("%s: rows %s have %s", c.listPath, strings.Join(rows, ", "), what),
			Hint:    "each row gets its own message; remove the extra rows if one copy is enough"})
	}
	return extra
}

// suppressed counts a suppressed row and notes it for send (suppression.freeze).
func (sum *CheckSummary) suppressed(s *suppression, r row) {
	sum.Suppressed++
	s.note(r.rec.Row, r.suppressed)
	if len(sum.SuppressedRows) < MaxSuppressedShown {
		sum.SuppressedRows = append(sum.SuppressedRows, Suppressed{Row: r.rec.Row, Address: r.suppressedAddr, File: s.name(r.suppressed)})
	}
}

// pastEndProblem is the error of a selection that names rows the list does
// not have.
func (c *Campaign) pastEndProblem(sum CheckSummary) Problem {
	err := &PastEndError{List: c.listPath, Rows: sum.ListRows, PastEnd: sum.PastEnd}
	return Problem{Severity: Error, Message: err.Error(), Hint: err.Hint()}
}

// selectedGroups keeps the groups of duplicate rows that hold a selected
// row: the others are not this run's concern. A shard's are all its own.
func (c *Campaign) selectedGroups(dups *dupFinder) [][]int {
	groups := dups.duplicates()
	if c.rows.All() {
		return groups
	}
	var out [][]int
	for _, g := range groups {
		if slices.ContainsFunc(g, c.rows.Has) {
			out = append(out, g)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// utf8Rows notes the rows whose envelope needs SMTPUTF8, naming the first.
type utf8Rows struct {
	first []string
	count int
}

func (u *utf8Rows) add(row int) {
	if u.count++; len(u.first) < 20 {
		u.first = append(u.first, fmt.Sprint(row))
	}
}

func (u *utf8Rows) warning(list string) Problem {
	rows := "rows " + strings.Join(u.first, ", ") + " have"
	if u.count == 1 {
		rows = "row " + u.first[0] + " has"
	} else if u.count > len(u.first) {
		rows = fmt.Sprintf("rows %s, … (%d rows) have", strings.Join(u.first, ", "), u.count)
	}
	return Problem{Severity: Warning,
		Message: fmt.Sprintf("%s: %s an address with non-ASCII characters before the @: only a server that offers SMTPUTF8 takes them", list, rows),
		Hint:    "send fails these rows, and only these, when the server does not offer SMTPUTF8"}
}

// addressesOf reads the list again to name the address of the first row of
// each of the first duplicate groups: the walk keeps only hashes, so memory
// stays flat however long the list is.
func (c *Campaign) addressesOf(ctx context.Context, groups [][]int) map[int]string {
	want := map[int]bool{}
	last := 0
	for i, g := range groups {
		if i == MaxReported {
			break
		}
		want[g[0]] = true
		last = max(last, g[0])
	}
	addrs := make(map[int]string, len(want))
	if len(want) == 0 {
		return addrs
	}
	errDone := errors.New("done")
	_, _ = c.each(ctx, validate, func(r row) error {
		if r.rec.Row > last {
			return errDone
		}
		if want[r.rec.Row] && r.err == nil {
			addrs[r.rec.Row] = r.email
		}
		return nil
	})
	return addrs
}
