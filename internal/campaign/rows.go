package campaign

import (
	"context"
	"errors"

	"github.com/mailmerge/mailmerge/internal/recipients"
)

// openList opens the recipients list and checks that the templates name
// only its columns. The columns come back even when they do not fit.
func (c *Campaign) openList() (*recipients.Reader, []string, error) {
	list, err := recipients.Open(c.listPath, c.listOpts)
	if err != nil {
		return nil, nil, err
	}
	columns := list.Columns()
	if errs := c.composer.CheckColumns(columns); len(errs) > 0 {
		list.Close()
		return nil, columns, errors.Join(errs...)
	}
	return list, columns, nil
}

// rowReader reads a list by the rules that check, render, send and preview
// share for a reader's errors: a problem with one row is that row's problem
// and the list reads on; an error about the list as a whole ends it.
type rowReader struct {
	list    *recipients.Reader
	lastErr string // the row problem before, to notice a reader that is stuck
}

// next returns the next recipient. A problem with one row comes back as
// rowErr, with the row's number and line in rec. err ends the list: io.EOF
// at its end, the context's error, or a problem with the list as a whole.
func (r *rowReader) next(ctx context.Context) (rec recipients.Recipient, rowErr, err error) {
	if err := ctx.Err(); err != nil {
		return rec, nil, err
	}
	rec, err = r.list.Next()
	if err == nil {
		return rec, nil, nil
	}
	if !rowProblem(err, r.lastErr) {
		return rec, nil, err
	}
	r.lastErr = err.Error()
	var re *recipients.Error
	errors.As(err, &re)
	return recipients.Recipient{Row: re.Row, Line: re.Line}, err, nil
}

// rowProblem tells a reader's error about one row from one that ends the
// list: the end itself, an error without a line (about the file, not a
// row), a list with no rows, or the same error twice running, which means
// the reader cannot get past it.
func rowProblem(err error, lastErr string) bool {
	var re *recipients.Error
	return errors.As(err, &re) && err.Error() != lastErr && re.Line != 0 && !errors.Is(err, recipients.ErrNoRows)
}
