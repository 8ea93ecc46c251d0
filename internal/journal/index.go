package journal

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/human"
)

// A line's place in the results file is packed into one uint64: the offset
// in the high 40 bits (files up to 1 TiB), the length in the low 24.
const (
	lenBits   = 24
	maxLine   = 1<<lenBits - 1
	maxOffset = 1<<(64-lenBits) - 1
)

// index is what the journal remembers per row: a status byte, the address
// hash and the place of the row's last line. About 17 bytes a row in
// slices indexed by row number, however long the addresses and replies.
// A file whose rows are few and far apart (a shard's: a tenth of a list
// of ten million is spread over all of it) would make those slices as long
// as the whole list, so once the rows are that sparse the index keeps them
// in a map instead (about 70 bytes for each row it holds, against 17 for
// every row up to the highest: the map wins below one row in four).
type index struct {
	status []byte
	hash   []uint64
	loc    []uint64
	sparse map[int32]slot     // instead of the slices, once the rows are sparse
	end    int                // one past the highest row set
	rows   int                // rows with an outcome
	counts [len(statuses)]int // rows per status code
}

// slot is one row of the index.
type slot struct {
	loc    uint64 // offset << lenBits | length
	hash   uint64
	status byte // 0: no outcome
}

// The slices give way to a map when a row past sparseFrom lies more than
// sparseAfter times further than the number of rows held: below a million
// rows the slices cost little however sparse, and a file read back is in
// row order, or nearly, so the count of rows keeps up with a dense one.
const (
	sparseFrom  = 1 << 20
	sparseAfter = 4
)

// get is row's slot, if it has an outcome.
func (x *index) get(row int) (slot, bool) {
	if row <= 0 || row >= x.end {
		return slot{}, false
	}
	if x.sparse != nil {
		s, ok := x.sparse[int32(row)]
		return s, ok
	}
	if x.status[row] == 0 {
		return slot{}, false
	}
	return slot{loc: x.loc[row], hash: x.hash[row], status: x.status[row]}, true
}

// set records the last line of row and reports whether it replaced an earlier one.
func (x *index) set(row int, code byte, hash uint64, off int64, n int) bool {
	old, had := x.get(row)
	if had {
		x.counts[old.status]--
	} else {
		x.rows++
	}
	x.counts[code]++
	s := slot{loc: uint64(off)<<lenBits | uint64(n), hash: hash, status: code}
	if x.sparse == nil && row >= len(x.status) && row >= sparseFrom && row >= sparseAfter*x.rows {
		x.toSparse()
	}
	x.end = max(x.end, row+1)
	if x.sparse != nil {
		x.sparse[int32(row)] = s
		return had
	}
	if row >= len(x.status) {
		grow := row + 1 - len(x.status)
		x.status = slices.Grow(x.status, grow)[:row+1]
		x.hash = slices.Grow(x.hash, grow)[:row+1]
		x.loc = slices.Grow(x.loc, grow)[:row+1]
	}
	x.status[row], x.hash[row], x.loc[row] = s.status, s.hash, s.loc
	return had
}

// toSparse moves the rows held from the slices into a map.
func (x *index) toSparse() {
	x.sparse = make(map[int32]slot, x.rows)
	for row, st := range x.status {
		if st != 0 {
			x.sparse[int32(row)] = slot{loc: x.loc[row], hash: x.hash[row], status: st}
		}
	}
	x.status, x.hash, x.loc = nil, nil, nil
}

// line is where the last line of row lies, if it has one.
func (x *index) line(row int) (off int64, n int, ok bool) {
	s, ok := x.get(row)
	if !ok {
		return 0, 0, false
	}
	return int64(s.loc >> lenBits), int(s.loc & maxLine), true
}

// inOrder calls fn with every row that has an outcome, in row order.
func (x *index) inOrder(fn func(row int) error) error {
	if x.sparse == nil {
		for row := 1; row < len(x.status); row++ {
			if x.status[row] != 0 {
				if err := fn(row); err != nil {
					return err
				}
			}
		}
		return nil
	}
	rows := make([]int32, 0, len(x.sparse))
	for row := range x.sparse {
		rows = append(rows, row)
	}
	slices.Sort(rows)
	for _, row := range rows {
		if err := fn(int(row)); err != nil {
			return err
		}
	}
	return nil
}

const notOursHint = "choose another results file in [send], or move this one away"

// load checks the header, drops a torn last line and indexes every row.
func (j *Journal) load() error {
	st, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("read results file: %w", err)
	}
	size := st.Size()
	base, fresh, err := j.readHeader(size)
	if err != nil || fresh {
		return err
	}
	end, err := lastLineEnd(j.f, size)
	if err != nil {
		return fmt.Errorf("read results file: %w", err)
	}
	if end < size {
		// Only a write that never completed leaves a line without its end.
		if err := j.f.Truncate(end); err != nil {
			return fmt.Errorf("drop incomplete last line of results file: %w", err)
		}
	}
	j.size = end
	lines, err := j.indexLines(base, end)
	if err != nil {
		return err
	}
	if end < size {
		j.damaged = append(j.damaged, lines+1)
		j.warnings = append(j.warnings, fmt.Sprintf(
			"%s:%d: dropped an incomplete last line (%d bytes) left by an interrupted write", j.path, lines+1, size-end))
	}
	return nil
}

// readHeader checks the first line and returns where the rows start. A file
// that is new, or whose creation was cut short, gets its header (fresh).
func (j *Journal) readHeader(size int64) (base int64, fresh bool, err error) {
	head := make([]byte, min(size, 4096))
	if _, err := j.f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, false, fmt.Errorf("read results file: %w", err)
	}
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		if int64(len(head)) == size && bytes.HasPrefix(headerLine, head) {
			return 0, true, j.writeHeader()
		}
		return 0, false, notOurs(j.path, head)
	}
	first := bytes.TrimSuffix(bytes.TrimSuffix(bytes.TrimPrefix(head[:nl+1], bom), []byte("\n")), []byte("\r"))
	width := headerWidth(first)
	if width == 0 {
		return 0, false, notOurs(j.path, first)
	}
	j.legacy = width == legacyColumns
	if j.legacy {
		j.ordered = false // Close rewrites it with the relay column
	}
	return int64(nl + 1), false, nil
}

// indexLines indexes the rows between base and end and returns how many
// lines the file has up to end, the header included.
func (j *Journal) indexLines(base, end int64) (lines int, err error) {
	counted := &lineCounter{r: io.NewSectionReader(j.f, base, end-base)}
	r := csv.NewReader(bufio.NewReaderSize(counted, 64<<10))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for {
		start := r.InputOffset()
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return 1 + counted.n, nil
		}
		if err != nil {
			return 0, unreadable(j.path, err)
		}
		fl, _ := r.FieldPos(0)
		line := fl + 1 // the header is line 1
		if damaged(rec) {
			// Blocks of zeros are what a power loss leaves where data was not yet on disk.
			j.damaged = append(j.damaged, line)
			j.warnings = append(j.warnings, fmt.Sprintf(
				"%s:%d: skipped a damaged line (zero bytes, typically left by a power loss)", j.path, line))
			j.ordered = false
			continue
		}
		row, code, email, err := parseRecord(rec)
		if err != nil {
			return 0, &FileError{Path: j.path, Line: line, Err: err, Help: damagedHint}
		}
		off, stop := base+start, base+r.InputOffset()
		if stop-off > maxLine || off > maxOffset {
			return 0, &FileError{Path: j.path, Line: line, Err: errors.New("line or file too long"), Help: damagedHint}
		}
		if j.idx.set(row, code, HashEmail(email), off, int(stop-off)) || row < j.maxRow {
			j.ordered = false
		}
		j.maxRow = max(j.maxRow, row)
	}
}

// lineCounter counts the line ends read through it.
type lineCounter struct {
	r io.Reader
	n int
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += bytes.Count(p[:n], []byte{'\n'})
	return n, err
}

const damagedHint = "fix or remove that line; every other row is kept"

// unreadable is the error for a results file at path that the CSV reader
// cannot read past, with the line it stopped at (the header is line 1).
func unreadable(path string, err error) error {
	line := 0
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		line, err = pe.Line+1, pe.Err
	}
	return &FileError{Path: path, Line: line, Err: err, Help: damagedHint}
}

func (j *Journal) writeHeader() error {
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("create results file: %w", err)
	}
	if _, err := j.f.Write(headerLine); err != nil {
		return fmt.Errorf("create results file: %w", err)
	}
	j.size = int64(len(headerLine))
	return nil
}

// notOurs is the error for a file at path whose first line is not the
// results header.
func notOurs(path string, first []byte) error {
	shown := human.Clip(string(first), 60)
	return &FileError{Path: path,
		Err:  fmt.Errorf("%w: first line is %q, want %q", ErrNotJournal, shown, strings.Join(columns, ",")),
		Help: notOursHint}
}

// headerWidth is the number of columns a results header names: all of
// them, or the eight of a file written before the relay column; 0 when
// line is not a results header.
func headerWidth(line []byte) int {
	fields := strings.Split(string(line), ",")
	if len(fields) != len(columns) && len(fields) != legacyColumns {
		return 0
	}
	for i, f := range fields {
		if !strings.EqualFold(strings.Trim(strings.TrimSpace(f), `"`), columns[i]) {
			return 0
		}
	}
	return len(fields)
}

func damaged(rec []string) bool {
	for _, f := range rec {
		if strings.IndexByte(f, 0) >= 0 {
			return true
		}
	}
	return false
}

// parseRecord reads the fields resume depends on; the others are for people
// and may have been reformatted by a spreadsheet.
func parseRecord(rec []string) (row int, code byte, email string, err error) {
	if len(rec) != len(columns) && len(rec) != legacyColumns {
		return 0, 0, "", fmt.Errorf("%d columns, want %d (%s)", len(rec), len(columns), strings.Join(columns, ","))
	}
	row, err = strconv.Atoi(strings.TrimSpace(rec[0]))
	if err != nil || row <= 0 || row > MaxRow {
		return 0, 0, "", fmt.Errorf("row %q is not a row number 1..%d", rec[0], MaxRow)
	}
	code = Status(strings.TrimSpace(rec[2])).code()
	if code == 0 {
		return 0, 0, "", fmt.Errorf("row %d: status %q is not sent, failed, skipped, unknown or bounced", row, rec[2])
	}
	return row, code, unescapeCell(rec[1]), nil
}

// lastLineEnd is the size of the file up to and including its last newline.
func lastLineEnd(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		n := min(int64(len(buf)), end)
		chunk := buf[:n]
		if _, err := r.ReadAt(chunk, end-n); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}
