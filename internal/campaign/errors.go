package campaign

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mailmerge/mailmerge/internal/human"
)

// Errors that callers tell apart with errors.Is.
var (
	// Errors that stop send before anything is sent.
	// ErrResultsExist: the results file has rows and neither --resume nor --restart was given.
	ErrResultsExist = errors.New("results file already has outcomes")
	// ErrNothingToResume: Resume was asked for and there is no results file.
	ErrNothingToResume = errors.New("nothing to resume")
	// ErrListChanged: a row's address differs from what the results file recorded for it.
	ErrListChanged = errors.New("the recipients list changed since the results were written")
	// ErrInvalid: check found errors and --skip-invalid was not given.
	ErrInvalid = errors.New("the campaign has errors; nothing was sent")

	// ErrNotEmpty: render's output folder holds files and Force was not given.
	ErrNotEmpty = errors.New("output folder is not empty")
	// ErrNoSuchRow: the list has no recipient with the row number asked for.
	ErrNoSuchRow = errors.New("no such row")
)

// Severity tells an error, which stops the campaign, from a warning.
type Severity int

const (
	Error Severity = iota
	Warning
)

// Problem is one thing check found, with where it is.
type Problem struct {
	Severity Severity
	Row      int    // 0 when not about one recipient
	Message  string // one line, starting with where: "recipients.csv:4: row 3: ..."
	Hint     string
}

// RowError is a recipient whose message cannot be made.
type RowError struct {
	File  string
	Sheet string // workbook sheet; "" for a CSV file
	Line  int    // line of the CSV file, or row of the sheet
	Row   int    // data row (the recipient's number)
	Err   error
}

func (e *RowError) Error() string {
	if e.Sheet != "" {
		return fmt.Sprintf("%s: sheet %q: row %d: %v", e.File, e.Sheet, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: row %d: %v", e.File, e.Line, e.Row, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Problems splits an error from Load or the list into one Problem each.
func Problems(err error) []Problem {
	var out []Problem
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		out = append(out, Problem{Severity: Error, Message: err.Error(), Hint: human.Hint(err)})
	}
	walk(err)
	return out
}

// ConfigError is a problem with the campaign file itself.
type ConfigError struct {
	File string
	Line int // 0 when not line-specific
	Err  error
	Help string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Hint says what to change in the campaign file.
func (e *ConfigError) Hint() string { return e.Help }

// ReplaceError is render refusing to replace a folder that is not an earlier
// render's: it names the file that stopped it. Nothing was removed.
type ReplaceError struct {
	Out  string // the output folder as given
	File string // the file in it that stopped the render; "" when Out is that file
	What string // "the campaign file", "an attachment of row 3", "which no render wrote"
}

func (e *ReplaceError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s is %s; nothing was removed", e.Out, e.What)
	}
	return fmt.Sprintf("%s holds %s, %s; nothing was removed", e.Out, e.File, e.What)
}

// Hint says what to do instead.
func (e *ReplaceError) Hint() string {
	return "choose another folder for --out: --force replaces only a folder an earlier render wrote, and removes only the files its index.csv lists"
}

// PastEndError is a selection of rows (Options.Rows) that names rows after
// the last of the list. Going on with the rows that exist would be a guess
// at what was meant: the list lost rows since, it is another list, or the
// numbers were read off a spreadsheet, where the header is row 1.
type PastEndError struct {
	List    string // the recipients list
	Rows    int    // its data rows
	PastEnd string // the rows selected after them, "501-510"
}

func (e *PastEndError) Error() string {
	rows := "rows " + e.PastEnd + " are"
	if !strings.ContainsAny(e.PastEnd, ",-") {
		rows = "row " + e.PastEnd + " is"
	}
	return fmt.Sprintf("%s has %d %s: the selected %s past its end", e.List, e.Rows, plural(e.Rows, "row", "rows"), rows)
}

// Hint says how rows are numbered.
func (e *PastEndError) Hint() string {
	return "rows are numbered as in the results file and check's errors: the first row below the header is 1 (a spreadsheet shows it as row 2)"
}
