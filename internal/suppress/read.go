package suppress

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/human"
)

// Header is the first line of every suppression file this package writes.
const Header = "email,time,reason"

// MaxAddress is the longest address, in bytes, a file may hold: the most
// RFC 5321 allows in a path (256) minus its angle brackets.
const MaxAddress = 254

// maxLine bounds a line of a plain list, which is one address and a comment.
const maxLine = 64 << 10

// layout is how a file holds its addresses, decided by its first line that
// is neither blank nor a comment.
type layout struct {
	decided bool
	csv     bool
	comma   rune
	columns []string // CSV: the header's cells
	email   int      // CSV: the index of the email column
}

// sniff reports the CSV layout line heads, or false when line is not a
// header with an email column under any of the separators a spreadsheet
// exports.
func sniff(line []byte) (layout, bool) {
	line = bytes.TrimRight(line, "\r\n")
	for _, comma := range []rune{',', ';', '\t'} {
		r := csv.NewReader(bytes.NewReader(line))
		r.Comma = comma
		rec, err := r.Read()
		if err != nil {
			continue
		}
		for i, c := range rec {
			if strings.EqualFold(strings.TrimSpace(c), "email") {
				return layout{decided: true, csv: true, comma: comma, columns: rec, email: i}, true
			}
		}
	}
	return layout{}, false
}

// scanner reads the addresses of one file, from its start or, for a File
// that another process appended to, from where it last stopped.
type scanner struct {
	name string // for errors
	lay  *layout
	line int    // lines read so far
	buf  []byte // the address in normal form
	rec  []byte // a quoted CSV record that goes on over lines
}

// scan calls add with the normal form of each address in r. The buffer
// passed to add is reused; add copies what it keeps.
func (s *scanner) scan(r io.Reader, add func(addr []byte) error) error {
	br := bufio.NewReaderSize(r, maxLine)
	for !s.lay.decided {
		line, err := readLine(br)
		if len(line) == 0 && err != nil {
			return s.fail(s.line+1, err)
		}
		s.line++
		if s.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if lay, ok := sniff(line); ok {
			*s.lay = lay
			break
		}
		if !skipped(line) {
			s.lay.decided = true
			if err := s.entry(line, add); err != nil {
				return err
			}
		}
	}
	if s.lay.csv {
		return s.scanCSV(br, add)
	}
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			s.line++
			if !skipped(line) {
				if err := s.entry(line, add); err != nil {
					return err
				}
			}
		}
		if err != nil {
			return s.fail(s.line+1, err)
		}
	}
}

// skipped reports a blank line or a comment of a plain list.
func skipped(line []byte) bool {
	line = bytes.TrimSpace(line)
	return len(line) == 0 || line[0] == '#'
}

// readLine returns the next line with its end of line, or io.EOF after the last.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("line longer than %s", human.Bytes(maxLine))
	}
	return line, err
}

// scanCSV reads the records after the header. A line without a quote is
// a record whose cells are split at the separator, with no allocation (a
// million lines load in about half the time encoding/csv takes, and leave
// no garbage); a record with quotes, which may go on over several lines,
// is read by encoding/csv.
func (s *scanner) scanCSV(br *bufio.Reader, add func(addr []byte) error) error {
	quoted, start := false, 0 // s.rec holds a quoted record from line start on
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			s.line++
			switch {
			case quoted || bytes.IndexByte(line, '"') >= 0:
				if !quoted {
					quoted, start, s.rec = true, s.line, s.rec[:0]
				}
				if s.rec = append(s.rec, line...); len(s.rec) > maxRecord {
					return s.fail(start, fmt.Errorf("a quoted cell longer than %s", human.Bytes(maxRecord)))
				}
				if bytes.Count(s.rec, []byte{'"'})%2 == 0 { // every quote closed
					quoted = false
					if err := s.quotedRecord(start, add); err != nil {
						return err
					}
				}
			default:
				if err := s.cell(cellAt(line, byte(s.lay.comma), s.lay.email), add); err != nil {
					return err
				}
			}
		}
		if err == io.EOF && quoted {
			return s.quotedRecord(start, add) // encoding/csv names the open quote
		}
		if err != nil {
			return s.fail(s.line+1, err)
		}
	}
}

// maxRecord bounds a quoted record that goes on over several lines.
const maxRecord = 1 << 20

// cellAt is cell i of an unquoted CSV line; empty when the line has fewer.
func cellAt(line []byte, comma byte, i int) []byte {
	line = bytes.TrimRight(line, "\r\n")
	for ; i > 0; i-- {
		at := bytes.IndexByte(line, comma)
		if at < 0 {
			return nil
		}
		line = line[at+1:]
	}
	if at := bytes.IndexByte(line, comma); at >= 0 {
		line = line[:at]
	}
	return line
}

// quotedRecord reads the record in s.rec, which starts on line start.
func (s *scanner) quotedRecord(start int, add func([]byte) error) error {
	cr := csv.NewReader(bytes.NewReader(s.rec))
	cr.Comma = s.lay.comma
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		return s.fail(start+pe.StartLine-1, pe.Err)
	case err == io.EOF:
		return nil
	case err != nil:
		return s.fail(start, err)
	}
	if s.lay.email >= len(rec) {
		return nil
	}
	line := s.line
	s.line = start // for entry's errors
	defer func() { s.line = line }()
	return s.cell([]byte(rec[s.lay.email]), add)
}

// cell hands on the address in an email cell; an empty cell is no address.
func (s *scanner) cell(v []byte, add func([]byte) error) error {
	if len(bytes.TrimSpace(v)) == 0 {
		return nil
	}
	return s.entry(v, add)
}

// entry normalises one address and hands it to add.
func (s *scanner) entry(v []byte, add func([]byte) error) error {
	v = unescape(bytes.TrimSpace(v))
	var err error
	s.buf, err = appendNormal(s.buf[:0], v)
	if err == nil && len(s.buf) > MaxAddress {
		err = fmt.Errorf("longer than %d bytes, the most an address can have", MaxAddress)
	}
	if err != nil {
		return s.fail(s.line, fmt.Errorf("%q is not an e-mail address: %w",
			human.Clip(string(bytes.TrimSpace(v)), 60), err))
	}
	return add(s.buf)
}

// unescape undoes fsafe.EscapeCell where it surely was applied: an
// apostrophe before a character that EscapeCell escapes. An address that
// merely starts with an apostrophe, in a file written by hand or by
// another program, stays as it is.
func unescape(v []byte) []byte {
	if len(v) > 1 && v[0] == '\'' {
		if rest := string(v[1:]); fsafe.EscapeCell(rest) != rest {
			return v[1:]
		}
	}
	return v
}

// fail turns a read error into a FileError at line; io.EOF is the clean end.
func (s *scanner) fail(line int, err error) error {
	if err == io.EOF {
		return nil
	}
	fe := &FileError{Path: s.name, Line: line, Err: fsafe.Cause(err)}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		fe.Help = formatHelp
	}
	return fe
}

const formatHelp = "a suppression file holds one address a line, or a CSV whose header has an email column"

// FileError is a suppression file that cannot be read or written; Help
// says what the file should look like.
type FileError = human.FileError
