package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/recipients"
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

// MaxReported caps how many problems Check reports one by one; the summary
// still counts them all.
const MaxReported = 100

// CheckSummary counts what Check saw.
type CheckSummary struct {
	Rows       int // data rows read
	Valid      int // rows that render into a valid message
	Errors     int
	Warnings   int
	Duplicates int // rows whose recipient address appeared on an earlier row
	Columns    []string
}

// row is one recipient with its message or the reason it has none.
type row struct {
	rec   recipients.Recipient
	email string           // the address results are recorded under
	msg   *compose.Message // nil when each only validates
	wire  []byte           // msg as written, when each wrote it
	err   error
}

// walk says what each does with a row.
type walk int

const (
	validate walk = iota // check it can be made: half the work of building it
	messages             // build the message
	wire                 // build it and write it out, unless it is large
)

// maxWire is the largest message each writes out ahead of sending: small
// messages are then written on every core while the connections wait for
// replies, and the few in the queues cost little memory. Larger ones, with
// attachments, are written straight to the connection.
const maxWire = 256 << 10

// each streams the list and renders every row. A problem with the list as
// a whole (unreadable, bad header) is returned; a problem with one row goes
// to fn as row.err. fn returning an error stops the walk.
func (c *Campaign) each(ctx context.Context, w walk, fn func(r row) error) ([]string, error) {
	list, err := recipients.Open(c.listPath, c.listOpts)
	if err != nil {
		return nil, err
	}
	defer list.Close()
	columns := list.Columns()
	if errs := c.composer.CheckColumns(columns); len(errs) > 0 {
		return columns, errors.Join(errs...)
	}

	// Rows are read in order, composed on every core, and handed to fn in
	// order again. They travel in batches, which keeps the cost of handing
	// work between goroutines small next to the work, and the bounded
	// channels keep memory flat however long the list is.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	composers := max(1, runtime.GOMAXPROCS(0))
	ordered := make(chan *batch, 2*composers)
	work := make(chan *batch, 2*composers)
	var readErr error // set before ordered is closed
	go func() {
		defer close(ordered)
		defer close(work)
		b := &batch{done: make(chan struct{})}
		ship := func() bool {
			select {
			case ordered <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
			case <-ctx.Done():
				return false
			}
			b = &batch{done: make(chan struct{})}
			return true
		}
		readErr = c.read(ctx, list, func(s row) bool {
			b.rows = append(b.rows, s)
			return len(b.rows) < batchRows || ship()
		})
		if len(b.rows) > 0 {
			ship() // the rows before a problem with the list still count
		}
	}()
	var wg sync.WaitGroup
	for range composers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				for i := range b.rows {
					if s := &b.rows[i]; s.err == nil {
						c.composeRow(w, list.Sheet(), s)
					}
				}
				close(b.done)
			}
		}()
	}
	defer wg.Wait()
	for b := range ordered {
		<-b.done
		for _, s := range b.rows {
			if err := fn(s); err != nil {
				cancel()
				for range ordered { // let the reader see the cancel and stop
				}
				return columns, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return columns, err
	}
	return columns, readErr
}

// batchRows is how many rows travel together through each.
const batchRows = 32

// batch is a run of rows on their way through each; done is closed when
// every row that needs it has been made.
type batch struct {
	rows []row // err is set already for a row the list itself refused
	done chan struct{}
}

// composeRow validates or builds the message of one row, as w says.
func (c *Campaign) composeRow(w walk, sheet string, s *row) {
	var err error
	if w == validate {
		s.email, err = c.composer.Validate(s.rec.Row, s.rec.Fields)
	} else if s.msg, err = c.composer.Compose(s.rec.Row, s.rec.Fields); err == nil {
		s.email = s.msg.Recipient()
		if w == wire && s.msg.Size <= maxWire {
			s.wire, err = writeOut(s.msg)
		}
	}
	if err != nil {
		s.err = &RowError{File: c.listPath, Sheet: sheet, Line: s.rec.Line, Row: s.rec.Row, Err: err}
	}
}

// writeOut is the message as it goes on the wire.
func writeOut(m *compose.Message) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(int(m.Size) + 2048) // parts are quoted-printable and headers come on top
	if _, err := m.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// read streams the list into rows until the end, a problem with the list
// as a whole, or emit returning false.
func (c *Campaign) read(ctx context.Context, list *recipients.Reader, emit func(row) bool) error {
	lastErr := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := list.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var re *recipients.Error
			if !errors.As(err, &re) || err.Error() == lastErr {
				return err // the reader cannot go on
			}
			lastErr = err.Error()
			if re.Line == 0 || errors.Is(err, recipients.ErrNoRows) {
				return err // about the list, not one row
			}
			if !emit(row{rec: recipients.Recipient{Row: re.Row, Line: re.Line}, err: err}) {
				return ctx.Err()
			}
			continue
		}
		if !emit(row{rec: rec}) {
			return ctx.Err()
		}
	}
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

// dupFinder notes recipient addresses by hash, to find duplicates after the
// walk without keeping the addresses: 8 bytes a row, the row being the index.
type dupFinder struct {
	hashes []uint64 // hashes[row-1]; 0 for rows without a valid address
}

func (d *dupFinder) add(row int, email string) {
	for len(d.hashes) < row {
		d.hashes = append(d.hashes, 0)
	}
	d.hashes[row-1] = journal.HashEmail(email)
}

// duplicates returns groups of rows that share an address, each in row
// order, the groups ordered by their first row.
func (d *dupFinder) duplicates() [][]int {
	sorted := slices.Clone(d.hashes)
	slices.Sort(sorted)
	dup := map[uint64][]int{}
	for i := 1; i < len(sorted); i++ {
		if sorted[i] != 0 && sorted[i] == sorted[i-1] {
			dup[sorted[i]] = nil
		}
	}
	if len(dup) == 0 {
		return nil
	}
	var order []uint64
	for i, h := range d.hashes {
		rows, ok := dup[h]
		if !ok {
			continue
		}
		if rows == nil {
			order = append(order, h)
		}
		dup[h] = append(rows, i+1)
	}
	groups := make([][]int, len(order))
	for i, h := range order {
		groups[i] = dup[h]
	}
	return groups
}

// Check validates the whole campaign without network: every row renders,
// every address parses, every attachment is readable. Each problem goes to
// report (up to MaxReported); the summary counts all of them.
func (c *Campaign) Check(ctx context.Context, report func(Problem)) (CheckSummary, error) {
	return c.check(ctx, report, nil)
}

// check is Check with a hook that sees every valid message (render uses it).
func (c *Campaign) check(ctx context.Context, report func(Problem), onValid func(r row) error) (CheckSummary, error) {
	var sum CheckSummary
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
	dups := &dupFinder{}
	w := validate
	if onValid != nil {
		w = messages
	}
	columns, err := c.each(ctx, w, func(r row) error {
		sum.Rows++
		if r.err != nil {
			emit(Problem{Severity: Error, Row: r.rec.Row, Message: r.err.Error(), Hint: human.Hint(r.err)})
			return nil
		}
		sum.Valid++
		dups.add(r.rec.Row, r.email)
		if onValid != nil && sum.Errors == 0 {
			return onValid(r)
		}
		return nil
	})
	sum.Columns = columns
	if err != nil {
		if ctx.Err() != nil {
			return sum, err
		}
		for _, p := range Problems(err) {
			emit(p)
		}
		return sum, nil
	}
	groups := dups.duplicates()
	addrs := c.addressesOf(ctx, groups)
	for _, g := range groups {
		sum.Duplicates += len(g) - 1
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
	return sum, nil
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
