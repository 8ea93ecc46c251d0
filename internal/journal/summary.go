package journal

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary is what a results file holds, for the table that ends a run.
type Summary struct {
	Rows   int            // rows with an outcome
	Counts map[Status]int // rows per last outcome; every status is present
	// Lasting counts the failed rows whose last outcome the lasting
	// function given to ReadSummary called lasting: a retry would fail again.
	Lasting int
	// Shown are at most the n rows asked for, in row order: every row when
	// they fit, else the first ones not sent (none when all were sent).
	Shown []Entry
	// Classes counts the failed and unknown rows by the class the class
	// function given to ReadSummary names for their last outcome, the
	// largest first (ties by name); none without a class function.
	Classes []ClassCount
}

// ClassCount is how many rows share one class of failure.
type ClassCount struct {
	Class string
	Rows  int
}

// ReadSummary reads the results file at path as [Open] would (the last line
// of a row wins; a line cut short or damaged by a crash is left out) without
// taking the lock or changing the file. It keeps one byte per row, so a
// million rows cost about a megabyte, and a few more for each failed or
// unknown row. lasting, when not nil, is asked about every failed row's
// last outcome (Row, Status, Code and Reply are set); the rows it calls
// lasting are counted in Summary.Lasting. class, when not nil, names the
// class of every failed or unknown row's last outcome for Summary.Classes
// ("" leaves the row out).
func ReadSummary(path string, n int, lasting func(Entry) bool, class func(Entry) string) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, fmt.Errorf("read results file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Summary{}, fmt.Errorf("read results file: %w", err)
	}
	// A last line without its end belongs to a write that never completed.
	end, err := lastLineEnd(f, st.Size())
	if err != nil {
		return Summary{}, fmt.Errorf("read results file: %w", err)
	}
	s := summarizer{path: path, n: n, ordered: true, lasting: lasting,
		class: class, classIndex: map[string]int{}, rowClass: map[int]int{}}
	if err := s.each(f, end, s.count); err != nil {
		return Summary{}, err
	}
	sum := Summary{Counts: make(map[Status]int, len(statuses)-1), Lasting: s.lastingRows, Classes: s.classes()}
	for code, st := range statuses[1:] {
		sum.Counts[st] = s.counts[code+1]
		sum.Rows += s.counts[code+1]
	}
	switch {
	case !s.ordered:
		// Several runs appended out of row order and the file was never
		// compacted: pick the rows by their last status, then read them again.
		if err := s.each(f, end, s.pick(sum.Rows)); err != nil {
			return Summary{}, err
		}
		sum.Shown = s.picked
	case sum.Rows <= n:
		sum.Shown = s.first
	default:
		sum.Shown = s.notSent
	}
	return sum, nil
}

// summarizer reads a results file for ReadSummary.
type summarizer struct {
	path   string
	n      int
	status []byte // last status code per row, with lastingBit for a lasting failure
	counts [len(statuses)]int

	lasting     func(Entry) bool
	lastingRows int

	class      func(Entry) string
	classIndex map[string]int // class -> index
	classNames []string       // index -> class
	classRows  []int          // index -> rows whose last outcome is of that class
	rowClass   map[int]int    // failed or unknown row -> index of its class
	maxRow     int
	ordered    bool // every row so far came once and in order

	first, notSent []Entry // while ordered: the first n rows, and the first n not sent

	want   map[int]int // when not ordered: row -> index in picked
	picked []Entry
}

// each calls fn with every undamaged line of the file up to end.
func (s *summarizer) each(f *os.File, end int64, fn func(e Entry, code byte, rec []string)) error {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, end), 64<<10)
	head, err := br.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read results file: %w", err)
	}
	head = bytes.TrimRight(bytes.TrimPrefix(head, bom), "\r\n")
	if headerWidth(head) == 0 {
		return notOurs(s.path, head)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return unreadable(s.path, err)
		}
		if damaged(rec) {
			continue
		}
		row, code, email, err := parseRecord(rec)
		if err != nil {
			fl, _ := r.FieldPos(0)
			return &FileError{Path: s.path, Line: fl + 1, Err: err, Help: damagedHint}
		}
		fn(Entry{Row: row, Email: email, Status: statuses[code]}, code, rec)
	}
}

// count is the first pass: the last status of every row, and the rows to
// show while the file turns out to be in row order.
func (s *summarizer) count(e Entry, code byte, rec []string) {
	if e.Row >= len(s.status) {
		s.status = slices.Grow(s.status, e.Row+1-len(s.status))[:e.Row+1]
	}
	if old := s.status[e.Row]; old != 0 {
		s.counts[old&^lastingBit]--
		if old&lastingBit != 0 {
			s.lastingRows--
		}
	}
	if c, ok := s.rowClass[e.Row]; ok {
		s.classRows[c]--
		delete(s.rowClass, e.Row)
	}
	s.status[e.Row] = code
	s.counts[code]++
	if e.Status == Failed || e.Status == Unknown {
		s.judge(fullEntry(e, rec))
	}
	if e.Row <= s.maxRow {
		s.ordered = false
	}
	s.maxRow = max(s.maxRow, e.Row)
	if !s.ordered {
		s.first, s.notSent = nil, nil
		return
	}
	if len(s.first) < s.n {
		s.first = append(s.first, fullEntry(e, rec))
	}
	if e.Status != Sent && len(s.notSent) < s.n {
		s.notSent = append(s.notSent, fullEntry(e, rec))
	}
}

// judge asks the lasting and class functions about a failed or unknown
// row's last outcome.
func (s *summarizer) judge(e Entry) {
	if e.Status == Failed && s.lasting != nil && s.lasting(e) {
		s.status[e.Row] |= lastingBit
		s.lastingRows++
	}
	if s.class == nil {
		return
	}
	name := s.class(e)
	if name == "" {
		return
	}
	c, ok := s.classIndex[name]
	if !ok {
		c = len(s.classNames)
		s.classIndex[name] = c
		s.classNames, s.classRows = append(s.classNames, name), append(s.classRows, 0)
	}
	s.classRows[c]++
	s.rowClass[e.Row] = c
}

// classes are the classes counted, the largest first.
func (s *summarizer) classes() []ClassCount {
	var out []ClassCount
	for c, name := range s.classNames {
		if s.classRows[c] > 0 {
			out = append(out, ClassCount{name, s.classRows[c]})
		}
	}
	slices.SortFunc(out, func(a, b ClassCount) int {
		return cmp.Or(cmp.Compare(b.Rows, a.Rows), cmp.Compare(a.Class, b.Class))
	})
	return out
}

// pick chooses the rows to show by their last status and returns the second
// pass, which fills them in from their last lines.
func (s *summarizer) pick(rows int) func(Entry, byte, []string) {
	s.want = map[int]int{}
	for row, code := range s.status {
		if len(s.picked) == s.n {
			break
		}
		if code != 0 && (rows <= s.n || statuses[code&^lastingBit] != Sent) {
			s.want[row] = len(s.picked)
			s.picked = append(s.picked, Entry{Row: row})
		}
	}
	return func(e Entry, _ byte, rec []string) {
		if i, ok := s.want[e.Row]; ok {
			s.picked[i] = fullEntry(e, rec)
		}
	}
}

// lastingBit marks, in summarizer.status, a failure a retry would not fix.
const lastingBit = 0x80

// fullEntry fills in the columns people read. They may have been
// reformatted by a spreadsheet, so what does not parse stays zero.
func fullEntry(e Entry, rec []string) Entry {
	e.Email = strings.Clone(e.Email)
	e.Code, _ = strconv.Atoi(strings.TrimSpace(rec[3]))
	e.Reply = unescapeCell(strings.Clone(rec[4]))
	e.MessageID = strings.Clone(rec[5])
	e.Attempts, _ = strconv.Atoi(strings.TrimSpace(rec[6]))
	e.Time, _ = time.Parse(time.RFC3339, strings.TrimSpace(rec[7]))
	if len(rec) > legacyColumns {
		e.Relay = unescapeCell(strings.Clone(rec[8]))
	}
	return e
}

// Entries calls fn with every outcome in the results file at path, in
// file order: a row sent again by a later run comes once per run, and its
// last line is its outcome. Lines a crash damaged are left out. It takes
// no lock and changes nothing; the first error fn returns ends the read.
func Entries(path string, fn func(Entry) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read results file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read results file: %w", err)
	}
	end, err := lastLineEnd(f, st.Size())
	if err != nil {
		return fmt.Errorf("read results file: %w", err)
	}
	var ferr error
	s := summarizer{path: path}
	err = s.each(f, end, func(e Entry, _ byte, rec []string) {
		if ferr == nil {
			ferr = fn(fullEntry(e, rec))
		}
	})
	return cmp.Or(ferr, err)
}
