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
)

// Error is a problem with the list, saying where.
//
// Error() gives one line, "FILE: line N, column "X": message", with the parts
// that are zero left out; the Hint is kept apart so a command-line tool can
// print it on a line of its own.
type Error struct {
	File   string // base name or path as given to Open/NewReader
	Line   int    // 0 if not line-specific
	Row    int    // data row (as Recipient.Row) the problem is in; 0 if it is not about one row
	Column string // "" if not column-specific
	Err    error
	Hint   string // "" if none
}

func (e *Error) Error() string {
	var where []string
	if e.Line > 0 {
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

// HintOf returns the Hint of the first *Error in err's chain, or "" if there
// is none.
func HintOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}

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
