package recipients

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors, reachable with errors.Is through an *Error. The message the
// user reads is more specific; these only say which kind of problem it is.
// Quote problems wrap csv.ErrQuote or csv.ErrBareQuote instead.
var (
	// ErrEncoding means the encoding name is not one this package knows.
	ErrEncoding = errors.New("unknown encoding")
	// ErrDelimiter means the delimiter cannot separate CSV fields.
	ErrDelimiter = errors.New("invalid delimiter")
	// ErrEmptyFile means the list has no header row at all.
	ErrEmptyFile = errors.New("the file is empty")
	// ErrHeader means a column name is missing or used twice.
	ErrHeader = errors.New("bad header row")
	// ErrNoRows means the header is not followed by any recipient.
	ErrNoRows = errors.New("no data rows below the header")
	// ErrFieldCount means a row has more or fewer fields than the header.
	ErrFieldCount = errors.New("wrong number of fields")
	// ErrInvalidUTF8 means a cell or column name is not valid UTF-8, which
	// usually means the list is in a legacy encoding that was not set.
	ErrInvalidUTF8 = errors.New("not valid UTF-8")
	// ErrWorkbook means a workbook cannot be read: it is corrupt, not a
	// workbook at all, or in the old binary .xls format.
	ErrWorkbook = errors.New("unreadable workbook")
	// ErrPassword means the workbook is encrypted with a password to open.
	ErrPassword = errors.New("the workbook is protected with a password")
	// ErrSheet means the sheet asked for is not in the workbook.
	ErrSheet = errors.New("no such sheet")
)

// Error is a problem with the list, saying where.
//
// Error() gives one line with the parts that are zero left out: for a CSV
// file "FILE: line N, column "X": message", for a workbook
// "FILE: sheet "S": cell C7, column "X": message" (or "row 7" when no one
// cell is at fault). The Help is kept apart so a command-line tool can print
// it on a line of its own.
type Error struct {
	File   string // base name or path as given to Open/NewReader
	Sheet  string // workbook only: the sheet read; "" for a CSV file
	Line   int    // CSV: the line; workbook: the sheet row number; 0 if not line-specific
	Row    int    // data row (as Recipient.Row) the problem is in; 0 if it is not about one row
	Cell   string // workbook only: the cell at fault, e.g. "C7"; "" if none
	Column string // "" if not column-specific
	Err    error
	Help   string // what the user could do; "" if nothing helps
}

func (e *Error) Error() string {
	var where []string
	switch {
	case e.Cell != "":
		where = append(where, "cell "+e.Cell)
	case e.Sheet != "" && e.Line > 0:
		where = append(where, "row "+strconv.Itoa(e.Line))
	case e.Line > 0:
		where = append(where, "line "+strconv.Itoa(e.Line))
	}
	if e.Column != "" {
		where = append(where, "column "+strconv.Quote(e.Column))
	}
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Sheet != "" {
		b.WriteString("sheet " + strconv.Quote(e.Sheet) + ": ")
	}
	if len(where) > 0 {
		b.WriteString(strings.Join(where, ", "))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("unknown problem")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Hint says what the user could do; "" when nothing helps.
func (e *Error) Hint() string { return e.Help }

// problem is a message written for the user that still matches its sentinel
// with errors.Is, so the text need not repeat the sentinel's words.
type problem struct {
	msg  string
	kind error
}

func (p *problem) Error() string { return p.msg }
func (p *problem) Unwrap() error { return p.kind }

func problemf(kind error, format string, args ...any) error {
	return &problem{msg: fmt.Sprintf(format, args...), kind: kind}
}
