package recipients

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/richardlehane/mscfb"
	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// isWorkbook tells a workbook path from a CSV one by its extension.
func isWorkbook(path string) bool {
	ext := strings.ToLower(filepath.Ext(path))
	return ext == ".xlsx" || ext == ".xlsm"
}

// workbookOptions make excelize stream: a sheet or shared string table over
// a megabyte is unzipped to a temporary file and read from there, rather
// than held in memory. A date in Excel's default short format (numFmt 14,
// which Excel shows in the computer's locale) reads as ISO 8601.
func workbookOptions() excelize.Options {
	return excelize.Options{
		UnzipXMLSizeLimit: 1 << 20,
		ShortDatePattern:  "yyyy-mm-dd",
	}
}

// sheetReader is the workbook side of a Reader: one sheet, read row by row
// through excelize's row iterator.
type sheetReader struct {
	name, sheet string
	book        *excelize.File
	rows        *excelize.Rows
	skipHidden  bool
	merges      *merges
	row         int // sheet row number of the row last read
	data        int // data rows read so far, including bad ones
	columns     []string
	err         error // returned by every later next: io.EOF or a fatal *Error
}

// openWorkbook opens the workbook at path and reads the header row of the
// sheet opts names.
func openWorkbook(path string, opts Options) (*Reader, error) {
	if err := sniffWorkbook(path); err != nil {
		return nil, err
	}
	book, err := excelize.OpenFile(path, workbookOptions())
	if err != nil {
		return nil, &Error{File: path, Err: fmt.Errorf("%w: %v", ErrWorkbook, err),
			Help: "the file may be damaged: open it in Excel and save it again as .xlsx, or export the sheet as CSV"}
	}
	s := &sheetReader{name: path, book: book, skipHidden: opts.SkipHidden}
	if err := s.open(opts); err != nil {
		s.close()
		return nil, err
	}
	return &Reader{name: path, columns: s.columns, book: s}, nil
}

// sniffWorkbook looks at the first bytes of the file, so that the usual
// wrong files get an error that says what they are: a workbook encrypted
// with a password (Excel saves those as an OLE compound file), an old
// binary .xls renamed, or something that is not a zip archive at all.
func sniffWorkbook(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{File: path, Err: fsafe.Cause(err)}
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case n == 0:
		return &Error{File: path, Err: problemf(ErrWorkbook, "the file is empty"),
			Help: "save the workbook again from Excel, or export the sheet as CSV"}
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return nil
	case bytes.Equal(head, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		if _, err := f.Seek(0, io.SeekStart); err == nil && encrypted(f) {
			return &Error{File: path, Err: problemf(ErrPassword, "the workbook is protected with a password to open"),
				Help: "remove the password (File > Info > Protect Workbook > Encrypt with Password, clear it) and save, or export the sheet as CSV"}
		}
		return &Error{File: path, Err: problemf(ErrWorkbook, "this is an Excel 97-2003 (.xls) workbook, not .xlsx"),
			Help: "open it in Excel and save it as .xlsx (Excel Workbook), or export the sheet as CSV"}
	}
	return &Error{File: path, Err: problemf(ErrWorkbook, "not an .xlsx workbook (the file is not a zip archive)"),
		Help: "a CSV file must be named .csv; otherwise save the workbook again from Excel as .xlsx"}
}

// encrypted reports whether the compound file holds an encrypted Office
// package, which has an EncryptionInfo stream; an .xls has none.
func encrypted(r io.ReaderAt) bool {
	doc, err := mscfb.New(r)
	if err != nil {
		return false
	}
	for entry, err := doc.Next(); err == nil; entry, err = doc.Next() {
		if entry.Name == "EncryptionInfo" {
			return true
		}
	}
	return false
}

// open picks the sheet, skips to the header row and reads the names.
func (s *sheetReader) open(opts Options) error {
	if opts.HeaderRow < 0 {
		return &Error{File: s.name, Err: problemf(ErrHeader, "header_row %d is not a row number", opts.HeaderRow),
			Help: "rows are numbered from 1, as Excel shows them"}
	}
	sheet, err := s.pickSheet(opts.Sheet)
	if err != nil {
		return err
	}
	s.sheet = sheet
	if s.rows, err = s.book.Rows(sheet); err != nil {
		return s.fatal(0, "", fmt.Errorf("%w: %v", ErrWorkbook, err))
	}
	// A workbook without the parts merges need is read without them: the
	// cells come out exactly as stored.
	s.merges, _ = readMerges(s.name, sheet)

	for {
		cells, err := s.nextRow()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if opts.HeaderRow > 0 && s.row > 0 {
					return &Error{File: s.name, Sheet: s.sheet, Line: opts.HeaderRow,
						Err:  problemf(ErrHeader, "header_row is %d, but the sheet ends at row %d", opts.HeaderRow, s.row),
						Help: "set header_row to the row that names the columns"}
				}
				return &Error{File: s.name, Sheet: s.sheet, Err: problemf(ErrEmptyFile, "the sheet is empty"),
					Help: "the first row must name the columns, e.g. name, email; " + s.otherSheets()}
			}
			return err
		}
		if opts.HeaderRow > 0 && s.row < opts.HeaderRow {
			continue // a title above the header
		}
		if opts.HeaderRow == 0 && s.merges.title(s.row, cells) {
			continue
		}
		if allEmpty(cells) {
			if opts.HeaderRow > 0 {
				return &Error{File: s.name, Sheet: s.sheet, Line: s.row,
					Err:  problemf(ErrHeader, "row %d, which header_row names, is empty", s.row),
					Help: "set header_row to the row that names the columns"}
			}
			continue // empty rows above the header, like blank lines in a CSV
		}
		return s.setColumns(cells)
	}
}

// pickSheet returns the sheet called name, or the first visible sheet when
// name is "". Names match exactly, or else ignoring case as Excel does.
func (s *sheetReader) pickSheet(name string) (string, error) {
	list := s.book.GetSheetList()
	if name == "" {
		for _, sheet := range list {
			if visible, err := s.book.GetSheetVisible(sheet); err == nil && visible {
				return sheet, nil
			}
		}
		if len(list) > 0 {
			return list[0], nil
		}
		return "", &Error{File: s.name, Err: problemf(ErrWorkbook, "the workbook has no sheet")}
	}
	for _, sheet := range list {
		if sheet == name {
			return sheet, nil
		}
	}
	for _, sheet := range list {
		if strings.EqualFold(sheet, name) {
			return sheet, nil
		}
	}
	quoted := make([]string, len(list))
	for i, sheet := range list {
		quoted[i] = strconv.Quote(sheet)
	}
	return "", &Error{File: s.name,
		Err:  problemf(ErrSheet, "no sheet %q; the workbook has %s", name, strings.Join(quoted, ", ")),
		Help: fmt.Sprintf("set sheet = %s in the campaign, or leave it unset to read the first visible sheet", quoted[0])}
}

// otherSheets names the other sheets, for the hint of an empty sheet.
func (s *sheetReader) otherSheets() string {
	var others []string
	for _, sheet := range s.book.GetSheetList() {
		if sheet != s.sheet {
			others = append(others, strconv.Quote(sheet))
		}
	}
	if len(others) == 0 {
		return "the workbook has no other sheet"
	}
	return "to read another sheet set sheet = " + strings.Join(others, " or ")
}

// nextRow returns the cells of the next sheet row, merged cells filled in,
// and advances s.row; hidden rows are returned too. Sheet rows without any
// cell come back empty: excelize numbers rows as the sheet does.
func (s *sheetReader) nextRow() ([]string, error) {
	if !s.rows.Next() {
		if err := s.rows.Error(); err != nil {
			return nil, s.fatal(s.row+1, "", fmt.Errorf("%w: %v", ErrWorkbook, err))
		}
		return nil, io.EOF
	}
	s.row++
	cells, err := s.rows.Columns()
	if err != nil {
		return nil, s.fatal(s.row, "", fmt.Errorf("%w: %v", ErrWorkbook, err))
	}
	return s.merges.fill(s.row, cells), nil
}

// fatal is an error that ends the reading: it names the row (or cell) in
// the message, with Line left 0 so that callers do not take it for a bad
// recipient and read on.
func (s *sheetReader) fatal(row int, cell string, err error) *Error {
	if cell == "" && row > 0 {
		err = fmt.Errorf("row %d: %w", row, err)
	}
	e := &Error{File: s.name, Sheet: s.sheet, Cell: cell, Err: err,
		Help: "the workbook may be damaged: open it in Excel and save it again, or export the sheet as CSV"}
	s.err = e
	return e
}

// setColumns checks the header row and keeps its names; empty cells after
// the last name do not count.
func (s *sheetReader) setColumns(cells []string) error {
	for len(cells) > 0 && strings.TrimSpace(cells[len(cells)-1]) == "" {
		cells = cells[:len(cells)-1]
	}
	s.columns = make([]string, len(cells))
	seen := make(map[string]int, len(cells)) // name -> 1-based column number
	for i, cell := range cells {
		ref := cellName(i+1, s.row)
		name := strings.TrimFunc(cell, func(c rune) bool { return unicode.IsSpace(c) || c == '\uFEFF' })
		if m := s.merges.covering(i+1, s.row); m != nil && m.c1 != i+1 {
			return &Error{File: s.name, Sheet: s.sheet, Line: s.row, Cell: ref,
				Err: problemf(ErrHeader, "the header cell is part of the merged cell %s, so its column has no name of its own",
					m.ref()),
				Help: "unmerge the header cells and give each column its own name, or set header_row to the row that names the columns"}
		}
		if name == "" {
			return &Error{File: s.name, Sheet: s.sheet, Line: s.row, Cell: ref,
				Err:  problemf(ErrHeader, "column %s has no name", columnName(i+1)),
				Help: "give every column a name in the header row, or delete the empty column"}
		}
		if first, dup := seen[name]; dup {
			return &Error{File: s.name, Sheet: s.sheet, Line: s.row, Cell: ref, Column: name,
				Err:  problemf(ErrHeader, "the name is used twice, by columns %s and %s", columnName(first), columnName(i+1)),
				Help: "rename one of the columns: each must have its own name"}
		}
		seen[name] = i + 1
		s.columns[i] = name
	}
	return nil
}

// next returns the next recipient, as Reader.Next.
func (s *sheetReader) next() (Recipient, error) {
	if s.err != nil {
		return Recipient{}, s.err
	}
	for {
		cells, err := s.nextRow()
		if errors.Is(err, io.EOF) {
			s.err = io.EOF
			if s.data == 0 {
				return Recipient{}, &Error{File: s.name, Sheet: s.sheet, Line: s.row + 1, Err: ErrNoRows,
					Help: "the header must be followed by one row per recipient" + s.hiddenNote()}
			}
			return Recipient{}, io.EOF
		}
		if err != nil {
			return Recipient{}, err
		}
		if allEmpty(cells) || s.skipHidden && s.rows.GetRowOpts().Hidden {
			continue
		}
		s.data++
		for i := len(s.columns); i < len(cells); i++ {
			if cells[i] != "" {
				return Recipient{}, &Error{File: s.name, Sheet: s.sheet, Line: s.row, Row: s.data, Cell: cellName(i+1, s.row),
					Err:  problemf(ErrFieldCount, "a value in column %s, which has no name in the header", columnName(i+1)),
					Help: "name the column in the header row, or clear the cell"}
			}
		}
		fields := make(map[string]string, len(s.columns))
		for i, name := range s.columns {
			if i < len(cells) {
				fields[name] = cells[i]
			} else {
				fields[name] = ""
			}
		}
		return Recipient{Row: s.data, Line: s.row, Fields: fields}, nil
	}
}

func (s *sheetReader) hiddenNote() string {
	if s.skipHidden {
		return " (hidden rows are skipped: skip_hidden is true)"
	}
	return ""
}

func (s *sheetReader) close() error {
	var err error
	if s.rows != nil {
		err = s.rows.Close()
		s.rows = nil
	}
	if s.book != nil {
		// Close removes the temporary files the sheet was unzipped to.
		err = errors.Join(err, s.book.Close())
		s.book = nil
	}
	return err
}

func columnName(col int) string {
	name, _ := excelize.ColumnNumberToName(col)
	return name
}

func cellName(col, row int) string {
	name, _ := excelize.CoordinatesToCellName(col, row)
	return name
}
