// Package recipients streams the recipient list of a campaign, a CSV file
// exported from a spreadsheet or an Excel workbook (.xlsx, .xlsm), one
// Recipient per data row.
//
// The first non-blank row is the header: it names the columns, and each
// Recipient's Fields maps every column name to the row's cell. Names keep
// their spelling; only surrounding white space is trimmed, so a column
// "First Name" stays reachable by that name. A header with an unnamed or
// repeated column is rejected.
//
// What Excel and friends produce is accepted as it is:
//   - a byte order mark is dropped; a UTF-16 one switches to UTF-16
//     whatever the configured encoding, as browsers do;
//   - Options.Encoding names a legacy encoding (gbk, gb18030, big5,
//     shift_jis, euc-kr, windows-1252, ... any WHATWG label or IANA name);
//     without one the list must be valid UTF-8, and a cell that is not is
//     reported with its line and column and a hint to set the encoding;
//   - the delimiter is ',', ';' or a tab, whichever occurs most often outside
//     quotes in the header line (',' on a tie), unless Options.Delimiter is set;
//   - CRLF and (old Mac) CR line ends, and line breaks inside quoted cells;
//   - blank lines, and rows whose every cell is empty, are skipped silently:
//     spreadsheets export them below the data. They get no Row number.
//
// The list is read as it is consumed: memory stays flat however many rows
// it has. Reader.Next reports a row with the wrong number of cells, a cell
// that is not valid UTF-8 and a stray quote as an *Error with Row set, and
// goes on with the next row when called again, so a check can list every bad
// row at once. A header with no data row below it is an error too.
//
// # Workbooks
//
// A path ending in .xlsx or .xlsm is read as a workbook, with
// github.com/xuri/excelize/v2, row by row from the sheet's XML (a large sheet
// is unzipped to a temporary file, not into memory). One sheet is read:
// Options.Sheet, or the first visible one. Its header is Options.HeaderRow,
// or when that is 0 the first non-empty row that is not a title (text in one
// cell merged across columns); rows above the header are ignored. A recipient's Line is its row number in the sheet.
//
// Cells read as Excel shows them: numbers and dates through their number
// format ("00123" for 123 formatted 00000, "2026-03-07" for a date in the
// default short date format, which Excel shows in the computer's locale,
// "92.5" rather than 92.49999999999999), text as typed, leading zeros kept,
// TRUE and FALSE for booleans, and a formula as the value Excel saved with
// it (a workbook written by a program that never calculated it has none,
// and the cell reads empty). A merged cell's value fills every cell of the
// range, so a class merged down a column reaches each pupil's row; a header
// cell merged across columns is an error, since the columns would have no
// names of their own, while one merged down from the row above takes that
// name (two-row headers). Empty rows are skipped silently, as in a CSV, and
// hidden rows are read unless Options.SkipHidden is set; skipped rows get no
// Row number, so a workbook reads like the CSV Excel would export from its
// visible rows. A value in a column the header does not name is a bad row.
//
// Errors name the workbook, the sheet and the cell: members.xlsx: sheet
// "Sheet1": cell C7: .... A workbook that is encrypted with a password, an
// old .xls, a damaged file or a missing sheet (the error lists the sheets)
// is an error from Open.
package recipients

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/transform"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// Recipient is one data row of the list.
type Recipient struct {
	Row    int               // 1-based index among data rows (the first row after the header is 1)
	Line   int               // CSV: the line where the row starts; workbook: the row number in the sheet
	Fields map[string]string // column name -> cell text, all columns present
}

// Options says how to read the list. The zero value reads a CSV file as
// UTF-8 and detects the delimiter, and a workbook's first visible sheet
// with its header in the first non-empty row.
type Options struct {
	Encoding  string // CSV only; "" means UTF-8
	Delimiter rune   // CSV only; 0 means detect from the header line

	Sheet      string // workbook only; "" means the first visible sheet
	HeaderRow  int    // workbook only; the sheet row that names the columns, 0 meaning the first non-empty one
	SkipHidden bool   // workbook only; skip rows hidden in Excel (they are read by default)
}

// bufferSize is the read buffer, and the most of the header line that
// delimiter detection looks at.
const bufferSize = 64 << 10

// Reader reads recipients from a list, one row per call to Next. It is not
// safe for concurrent use.
type Reader struct {
	name      string
	book      *sheetReader // a workbook's sheet; nil for a CSV file
	file      io.Closer    // the file Open opened; nil for NewReader
	csv       *csv.Reader
	end       *lastLine // what the csv reader has read of the text, for quote errors at its end
	columns   []string
	delimiter rune
	headerEnd int   // the header's last line
	rows      int   // data rows read so far, including bad ones
	err       error // returned by every later Next: io.EOF or a fatal *Error
}

// Open opens the list at path and reads its header: a workbook if the name
// ends in .xlsx or .xlsm, a CSV file otherwise. The caller must Close the
// Reader.
func Open(path string, opts Options) (*Reader, error) {
	if isWorkbook(path) {
		return openWorkbook(path, opts)
	}
	if strings.EqualFold(filepath.Ext(path), ".xls") {
		return nil, &Error{File: path, Err: problemf(ErrWorkbook, "Excel 97-2003 (.xls) workbooks cannot be read"),
			Help: "open it in Excel and save it as .xlsx (Excel Workbook), or export the sheet as CSV"}
	}
	f, err := os.Open(path)
	if err != nil {
		// The path is in Error.File already; keep only the reason.
		return nil, &Error{File: path, Err: fsafe.Cause(err)}
	}
	r, err := NewReader(path, f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// NewReader reads the header of the list in r; name stands for the list in
// errors. Close does not close r.
func NewReader(name string, r io.Reader, opts Options) (*Reader, error) {
	fail := func(line int, err error, hint string) (*Reader, error) {
		return nil, &Error{File: name, Line: line, Err: err, Help: hint}
	}
	enc, err := lookupEncoding(opts.Encoding)
	if err != nil {
		return fail(0, err, "")
	}
	if opts.Delimiter != 0 && !validDelimiter(opts.Delimiter) {
		return fail(0, problemf(ErrDelimiter, "delimiter %q cannot separate fields", opts.Delimiter),
			`use ",", ";" or "\t" (tab), or leave delimiter unset to detect it`)
	}

	raw := bufio.NewReaderSize(r, bufferSize)
	bomEnc, found, err := takeBOM(raw)
	if err != nil {
		return fail(0, fmt.Errorf("reading: %w", err), "")
	}
	if found {
		enc = bomEnc
	}
	text := raw
	if enc != nil {
		text = bufio.NewReaderSize(transform.NewReader(raw, enc.NewDecoder()), bufferSize)
	}

	// Peek rather than read, so that the csv reader still sees the header.
	head, err := text.Peek(bufferSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(0, fmt.Errorf("reading: %w", err), "")
	}
	detected, crOnly := scanHeader(head)
	delimiter := opts.Delimiter
	if delimiter == 0 {
		delimiter = detected
	}
	var lines io.Reader = text
	if crOnly {
		lines = crToLF{text}
	}

	end := &lastLine{r: lines}
	cr := csv.NewReader(bufio.NewReaderSize(end, bufferSize))
	cr.Comma = delimiter
	cr.FieldsPerRecord = -1 // ragged rows are reported by Next, with a clearer message
	cr.ReuseRecord = true
	rd := &Reader{name: name, csv: cr, end: end, delimiter: delimiter}

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fail(1, ErrEmptyFile, "the first line must name the columns, e.g. name,email")
	}
	if err != nil {
		return nil, rd.readError(err, header)
	}
	if err := rd.setColumns(header); err != nil {
		return nil, err
	}
	return rd, nil
}

// validDelimiter mirrors the rule of encoding/csv, which would otherwise
// only complain at the first Read.
func validDelimiter(r rune) bool {
	return r != '"' && r != '\r' && r != '\n' && utf8.ValidRune(r) && r != utf8.RuneError
}

// scanHeader looks at the first non-blank line of head. It picks the
// delimiter: ',', ';' or tab, whichever occurs most often outside quotes (','
// wins a tie, then ';'). And it tells whether lines end in a lone CR, as in
// old Mac Excel's CSV, which encoding/csv would read as one endless line.
func scanHeader(head []byte) (delimiter rune, crOnly bool) {
	var commas, semicolons, tabs int
	inQuotes, seen := false, false
scan:
	for i, c := range head {
		if c == '"' {
			inQuotes = !inQuotes // "" inside quotes toggles twice: still inside
		}
		if inQuotes {
			seen = true
			continue
		}
		switch c {
		case '\n':
			if seen {
				break scan
			}
			continue
		case '\r':
			if i+1 < len(head) && head[i+1] != '\n' {
				crOnly = true
				if seen {
					break scan
				}
			}
			continue
		case ',':
			commas++
		case ';':
			semicolons++
		case '\t':
			tabs++
		}
		seen = true
	}
	delimiter, most := ',', commas
	if semicolons > most {
		delimiter, most = ';', semicolons
	}
	if tabs > most {
		delimiter = '\t'
	}
	return delimiter, crOnly
}

// crToLF turns every CR into LF, for a list whose lines end in CR alone; a
// CR inside a quoted cell is a line break there too.
type crToLF struct{ r io.Reader }

func (c crToLF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}

// setColumns checks the header row and keeps its names.
func (r *Reader) setColumns(header []string) error {
	r.columns = make([]string, len(header))
	seen := make(map[string]int, len(header)) // name -> 1-based column number
	for i, cell := range header {
		line, _ := r.csv.FieldPos(i)
		if !utf8.ValidString(cell) {
			return &Error{File: r.name, Line: line,
				Err:  problemf(ErrInvalidUTF8, "the name of column %d is not valid UTF-8", i+1),
				Help: encodingHint(cell)}
		}
		name := strings.TrimFunc(cell, func(c rune) bool { return unicode.IsSpace(c) || c == '\uFEFF' })
		if name == "" {
			return &Error{File: r.name, Line: line,
				Err:  problemf(ErrHeader, "column %d has no name", i+1),
				Help: "give every column a name in the header row, or delete the empty column"}
		}
		if first, dup := seen[name]; dup {
			return &Error{File: r.name, Line: line, Column: name,
				Err:  problemf(ErrHeader, "the name is used twice, by columns %d and %d", first, i+1),
				Help: "rename one of the columns: each must have its own name"}
		}
		seen[name] = i + 1
		r.columns[i] = name
	}
	last := len(header) - 1
	line, _ := r.csv.FieldPos(last)
	r.headerEnd = line + strings.Count(header[last], "\n")
	return nil
}

// Columns returns the header names, in file order. The slice is shared: do
// not modify it.
func (r *Reader) Columns() []string { return r.columns }

// Sheet returns the name of the sheet read, "" for a CSV file.
func (r *Reader) Sheet() string {
	if r.book == nil {
		return ""
	}
	return r.book.sheet
}

// Next returns the next recipient, or io.EOF after the last one.
//
// A bad row (wrong number of cells, a cell that is not valid UTF-8, a stray
// or missing quote) is an *Error with Row set; calling Next again continues
// with the row after it. A quoted cell that is never closed runs to the end
// of the file, so that error is followed by io.EOF. If the header has no data
// row below it, the first call returns an *Error wrapping ErrNoRows and the
// next io.EOF. Any other error (reading failed) is fatal: every later call
// returns it again.
//
// A workbook's bad rows (a value in a column without a name) are reported
// the same way; its sheet, read by excelize, has no quoting to go wrong.
func (r *Reader) Next() (Recipient, error) {
	if r.book != nil {
		return r.book.next()
	}
	if r.err != nil {
		return Recipient{}, r.err
	}
	for {
		record, err := r.csv.Read()
		if errors.Is(err, io.EOF) {
			r.err = io.EOF
			if r.rows == 0 {
				return Recipient{}, &Error{File: r.name, Line: r.headerEnd + 1, Err: ErrNoRows,
					Help: "the header must be followed by one row per recipient"}
			}
			return Recipient{}, io.EOF
		}
		if err != nil {
			var parseErr *csv.ParseError
			if errors.As(err, &parseErr) {
				r.rows++
			}
			e := r.readError(err, record)
			if e.Row == 0 {
				r.err = e
			}
			return Recipient{}, e
		}
		if allEmpty(record) {
			continue
		}
		r.rows++
		line, _ := r.csv.FieldPos(0)
		if len(record) != len(r.columns) {
			return Recipient{}, r.fieldCountError(line, len(record))
		}
		fields := make(map[string]string, len(r.columns))
		for i, cell := range record {
			if !utf8.ValidString(cell) {
				cellLine, _ := r.csv.FieldPos(i)
				return Recipient{}, &Error{File: r.name, Line: cellLine, Row: r.rows, Column: r.columns[i],
					Err: ErrInvalidUTF8, Help: encodingHint(cell)}
			}
			// The cells are strings the csv reader made for this record
			// alone; only the record slice is reused.
			fields[r.columns[i]] = cell
		}
		return Recipient{Row: r.rows, Line: line, Fields: fields}, nil
	}
}

func allEmpty(record []string) bool {
	for _, cell := range record {
		if cell != "" {
			return false
		}
	}
	return true
}

func (r *Reader) fieldCountError(line, n int) *Error {
	e := &Error{File: r.name, Line: line, Row: r.rows,
		Err: problemf(ErrFieldCount, "%d fields, but the header has %d columns", n, len(r.columns))}
	if n > len(r.columns) {
		e.Help = "a field containing the delimiter " + delimiterName(r.delimiter) + " must be quoted"
	} else {
		e.Help = "check for a missing delimiter or a line break outside quotes"
	}
	return e
}

func delimiterName(d rune) string {
	if d == '\t' {
		return "(tab)"
	}
	return strconv.Quote(string(d))
}

// readError turns an error of the csv reader into an *Error. A quote problem
// in a data row gets that row's number; the csv reader goes on at the next
// line, so it is not fatal. record holds the cells read before the error.
func (r *Reader) readError(err error, record []string) *Error {
	var parseErr *csv.ParseError
	if !errors.As(err, &parseErr) {
		return &Error{File: r.name, Err: fmt.Errorf("reading: %w", err)}
	}
	e := &Error{File: r.name, Line: parseErr.Line, Row: r.rows}
	switch {
	case errors.Is(parseErr.Err, csv.ErrQuote) && r.end.past(parseErr.Line, parseErr.Column):
		// encoding/csv says ErrQuote for this too: the cell's quote ran on
		// to the end of the file. Point at the quote that opened it.
		e.Line = r.cellStart(parseErr, record)
		if len(record) < len(r.columns) {
			e.Column = r.columns[len(record)]
		}
		e.Err = problemf(csv.ErrQuote, "quoted field never closed")
		e.Help = `end the cell with a " before the delimiter or the line end, and write a " inside it as ""`
	case errors.Is(parseErr.Err, csv.ErrBareQuote):
		e.Err = &problem{msg: `a " inside a field that does not start with one`, kind: csv.ErrBareQuote}
		e.Help = `put the whole field in double quotes and double each " inside it, e.g. "27"" screen"`
	case errors.Is(parseErr.Err, csv.ErrQuote) && parseErr.StartLine != parseErr.Line:
		// Most likely a quote that is never closed: point at where it opened.
		e.Line = parseErr.StartLine
		e.Err = problemf(csv.ErrQuote, `a quoted field is not closed properly; reading it ran on to line %d`, parseErr.Line)
		e.Help = `close the quoted field with " before the delimiter or the line end, and double each " inside it`
	case errors.Is(parseErr.Err, csv.ErrQuote):
		e.Err = &problem{msg: `text after the closing " of a quoted field`, kind: csv.ErrQuote}
		e.Help = `a quoted field ends with " followed by the delimiter or the line end; write a " inside it as ""`
	default:
		e.Err = parseErr.Err
	}
	return e
}

// cellStart is the line where the cell after record, the one the error is
// in, starts: where the cell before it ends.
func (r *Reader) cellStart(parseErr *csv.ParseError, record []string) int {
	k := len(record)
	if k == 0 {
		return parseErr.StartLine
	}
	line, _ := r.csv.FieldPos(k - 1)
	return line + strings.Count(record[k-1], "\n")
}

// lastLine passes the text on to the csv reader and follows how many lines
// it has and how long the last is. encoding/csv reports a quoted cell left
// open to the end of the file as it does text after a closing quote, with
// ErrQuote: only where the error is tells them apart.
type lastLine struct {
	r     io.Reader
	lines int  // line ends read
	tail  int  // bytes read after the last line end
	prev  int  // bytes of the line before that line end, its CR included
	eof   bool // the text has all been read
}

func (l *lastLine) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	b := p[:n]
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		l.lines += bytes.Count(b, []byte{'\n'})
		if j := bytes.LastIndexByte(b[:i], '\n'); j >= 0 {
			l.prev = i - j - 1
		} else {
			l.prev = l.tail + i
		}
		l.tail = n - i - 1
	} else {
		l.tail += n
	}
	if errors.Is(err, io.EOF) {
		l.eof = true
	}
	return n, err
}

// past says whether an error the csv reader places at line and column
// (from 1, in bytes) lies past the end of the text: the reader ran out of
// text inside a quoted cell. Text after a closing quote is at the quote.
func (l *lastLine) past(line, column int) bool {
	if !l.eof {
		return false
	}
	last, length := l.lines+1, l.tail
	if l.tail == 0 { // the text ends with a line end
		last, length = l.lines, l.prev
	}
	return line == last && column > length
}

// Close closes the file opened by Open, and removes a workbook's temporary
// files; for a Reader from NewReader it does nothing.
func (r *Reader) Close() error {
	if r.book != nil {
		return r.book.close()
	}
	if r.file == nil {
		return nil
	}
	f := r.file
	r.file = nil
	return f.Close()
}
