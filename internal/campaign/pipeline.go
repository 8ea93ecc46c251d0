package campaign

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/recipients"
)

// row is one recipient with its message or the reason it has none.
type row struct {
	rec   recipients.Recipient
	email string           // the address results are recorded under
	from  string           // the envelope sender
	utf8  bool             // some address needs a server that offers SMTPUTF8
	msg   *compose.Message // nil when each only validates
	wire  []byte           // msg as written, when each wrote it
	err   error
	// suppressed is 1 + the index of the suppress file that holds one of
	// the row's addresses, suppressedAddr (see suppression.of); 0 when none.
	suppressed     int
	suppressedAddr string
	// outside is a row not in Options.Rows or Options.Shard: it is only
	// validated, for the checks of the whole list, and its err is nobody's
	// business. The reader marks rows outside Rows; a composer those
	// outside the shard, whose address it has to render to know.
	outside bool
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
// to fn as row.err. fn returning an error stops the walk. Rows outside
// Options.Rows or Options.Shard come to fn too, marked outside, with only
// their address (see prepare).
func (c *Campaign) each(ctx context.Context, w walk, fn func(r row) error) ([]string, error) {
	return c.eachSettled(ctx, w, nil, fn)
}

// eachSettled is each, where settled, when set, names the rows an earlier
// run dealt with for good: like rows outside the selection they get only
// their address, which is all a resume looks at for them (the list must
// not have changed under it). It is called on every core at once.
func (c *Campaign) eachSettled(ctx context.Context, w walk, settled func(row int) bool, fn func(r row) error) ([]string, error) {
	list, columns, err := c.openList()
	if err != nil {
		return columns, err
	}
	defer list.Close()

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
		readErr = c.feed(ctx, list, ordered, work)
	}()
	var wg sync.WaitGroup
	for range composers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				for i := range b.rows {
					if s := &b.rows[i]; s.err == nil {
						c.prepare(w, list.Sheet(), s, settled)
					}
				}
				close(b.done)
			}
		}()
	}
	defer wg.Wait()
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
			// The reader may have queued b here and then seen the cancel
			// before handing it to a composer: b.done would never close.
			for range ordered {
			}
			return columns, ctx.Err()
		}
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

// feed reads the list into batches and sends each to ordered, for the
// consumer in list order, then to work, for any composer. It returns the
// error that ended the list, or nil at its end.
func (c *Campaign) feed(ctx context.Context, list *recipients.Reader, ordered, work chan<- *batch) error {
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
	err := c.read(ctx, list, func(s row) bool {
		b.rows = append(b.rows, s)
		return len(b.rows) < batchRows || ship()
	})
	if len(b.rows) > 0 {
		ship() // the rows before a problem with the list still count
	}
	return err
}

// batchRows is how many rows travel together through each.
const batchRows = 32

// batch is a run of rows on their way through each; done is closed when
// every row that needs it has been made.
type batch struct {
	rows []row // err is set already for a row the list itself refused
	done chan struct{}
}

// prepare makes what the consumer needs of one row. A row outside the
// selection or the shard, or settled by an earlier run, gets only its
// address (row.email; an error when it has none): the checks of the whole
// list look at nothing else, and rendering a million messages nobody
// sends is what made a shard or a resume cost as much as the whole run.
// Test sends record the tester's address, which only a message has, so
// they always validate.
func (c *Campaign) prepare(w walk, sheet string, s *row, settled func(int) bool) {
	addr := ""
	if !s.outside && !c.shard.All() {
		addr = c.composer.Recipient(s.rec.Fields)
		s.outside = !c.inShard(s.rec.Row, addr, s.rec.Fields)
	}
	switch {
	case !s.outside && (settled == nil || !settled(s.rec.Row)):
		c.composeRow(w, sheet, s)
	case c.redirect:
		c.composeRow(validate, sheet, s)
	default:
		if addr == "" {
			addr = c.composer.Recipient(s.rec.Fields)
		}
		if s.email = addr; addr == "" {
			s.err = &RowError{File: c.listPath, Sheet: sheet, Line: s.rec.Line, Row: s.rec.Row, Err: errNoRecipient}
		}
	}
}

// errNoRecipient is a row without a message whose To holds no address.
var errNoRecipient = errors.New("to: no valid address")

// composeRow validates or builds the message of one row, as w says.
func (c *Campaign) composeRow(w walk, sheet string, s *row) {
	var err error
	if w == validate {
		var env compose.Envelope
		if env, err = c.composer.Validate(s.rec.Row, s.rec.Fields); err == nil {
			s.email, s.from, s.utf8 = env.To[0], env.From, env.NeedsSMTPUTF8()
			s.suppressed, s.suppressedAddr = c.suppress.of(s.rec.Row, env.To)
		}
	} else if s.msg, err = c.composer.Compose(s.rec.Row, s.rec.Fields); err == nil {
		s.email, s.from, s.utf8 = s.msg.Recipient(), s.msg.Envelope.From, s.msg.Envelope.NeedsSMTPUTF8()
		s.suppressed, s.suppressedAddr = c.suppress.of(s.rec.Row, s.msg.Envelope.To)
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
	rows := rowReader{list: list}
	for {
		rec, rowErr, err := rows.next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !emit(row{rec: rec, err: rowErr, outside: !c.rows.Has(rec.Row)}) {
			return ctx.Err()
		}
	}
}
