package campaign

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/mailmerge/mailmerge/internal/compose"
)

// Rendered is one recipient of the list with the message it gets, or the
// reason it gets none. It is what a preview shows for a row.
type Rendered struct {
	Row     int              // data row, as in the results file; 0 for a row the list reader could not number
	Line    int              // line in the recipients file where the row starts
	Message *compose.Message // nil when Err is set
	Err     error            // why this row cannot be sent; carries file, line and row
	// Suppressed is the suppress file, as the campaign names it, that holds
	// SuppressedAddress, one of the row's recipients: send skips the row.
	Suppressed, SuppressedAddress string
}

// Messages renders every recipient in list order (those of Options.Rows
// when it is set) and hands each to fn, without keeping any: memory stays
// flat however long the list is. A problem with one row is Rendered.Err; a
// problem with the list as a whole (unreadable, a template naming a missing
// column, a *PastEndError after the walk) is returned, as is anything fn
// returns, which stops the walk.
func (c *Campaign) Messages(ctx context.Context, fn func(Rendered) error) error {
	last := 0
	_, err := c.each(ctx, messages, func(r row) error {
		last = max(last, r.rec.Row)
		if r.outside {
			return nil
		}
		// rowReader numbers a row the reader refused from its error, so
		// r.rec holds the row and line of every row.
		return fn(c.rendered(r))
	})
	if end := c.rows.pastEnd(last); err == nil && end != "" {
		return &PastEndError{List: c.listPath, Rows: last, PastEnd: end}
	}
	return err
}

// Message renders the one recipient on data row n, which Options.Rows
// must select, reading the list up to
// it but composing no other row, so that showing row 90,000 of a long list
// costs one read of the file, not 90,000 messages. A row that cannot be
// sent comes back with Rendered.Err set and a nil error; a list that cannot
// be read, or has no row n (ErrNoSuchRow), is the returned error.
func (c *Campaign) Message(ctx context.Context, n int) (Rendered, error) {
	if !c.rows.Has(n) {
		return Rendered{}, fmt.Errorf("%s: row %d is not among the selected rows %s: %w", c.listPath, n, c.rows, ErrNoSuchRow)
	}
	list, _, err := c.openList()
	if err != nil {
		return Rendered{}, err
	}
	defer list.Close()
	rows := rowReader{list: list}
	for {
		rec, rowErr, err := rows.next(ctx)
		if err == io.EOF {
			return Rendered{}, fmt.Errorf("%s: row %d: %w", c.listPath, n, ErrNoSuchRow)
		}
		if err != nil {
			return Rendered{}, err
		}
		if rec.Row != n {
			continue
		}
		if rowErr != nil {
			return Rendered{Row: n, Line: rec.Line, Err: rowErr}, nil
		}
		r := row{rec: rec}
		c.composeRow(messages, list.Sheet(), &r)
		return c.rendered(r), nil
	}
}

// rendered is a composed row as a preview shows it.
func (c *Campaign) rendered(r row) Rendered {
	out := Rendered{Row: r.rec.Row, Line: r.rec.Line, Message: r.msg, Err: r.err}
	if r.suppressed > 0 {
		out.Suppressed, out.SuppressedAddress = c.suppress.name(r.suppressed), r.suppressedAddr
	}
	return out
}

// Files lists the files a message is made from, for watching them change:
// the campaign file, the recipients list, the body templates and the
// suppress files.
// Attachments and inline images are named by the templates and not listed.
func (c *Campaign) Files() []string {
	return c.Config.files(c.Path, c.resolve)
}

// Files is Campaign.Files for a campaign that may not load: it reads only
// the campaign file, so a template with a syntax error is still watched
// and its fix noticed. The campaign file is always first, even when it
// cannot be read.
func Files(path string) ([]string, error) {
	cfg, _, err := readConfig(path)
	if err != nil {
		return []string{path}, err
	}
	c := &Campaign{Path: path, Dir: filepath.Dir(path)}
	return cfg.files(path, c.resolve), nil
}

func (cfg *Config) files(path string, resolve func(string) string) []string {
	out := []string{path}
	for _, name := range append([]string{cfg.Recipients, cfg.Text, cfg.HTML, cfg.Markdown, cfg.Layout}, cfg.Suppress...) {
		if name != "" {
			out = append(out, resolve(name))
		}
	}
	return out
}

// FileName is what render calls the .eml of data row n sent to recipient:
// "00001-alice@example.com.eml".
func FileName(n int, recipient string) string { return emlName(n, 5, recipient) }
