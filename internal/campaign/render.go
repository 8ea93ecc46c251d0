package campaign

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// RenderOptions control a dry run.
type RenderOptions struct {
	Force bool // replace the folder of an earlier render (see Render)
	Limit int  // write only the first Limit messages; 0 means all
	// SkipInvalid writes the valid rows when others are invalid; the
	// invalid ones go to the report as warnings, "skipped: " and their
	// error. Problems of the list as a whole still keep anything from
	// being written.
	SkipInvalid bool
	// Show hands the messages of the first Show valid rows to Shown as
	// they are made, whether or not anything is written.
	Show  int
	Shown func(Rendered)
}

// RenderSummary is what Render wrote.
type RenderSummary struct {
	CheckSummary
	Written int
	Bytes   int64
	Skipped int  // invalid rows left out with SkipInvalid
	Refused bool // errors kept anything from being written
}

// Render is the dry run: it checks the campaign and writes one .eml file per
// recipient plus index.csv into out; with out "" it writes nothing, for
// RenderOptions.Show alone. Nothing is left in out unless every row is
// valid, or SkipInvalid leaves out the invalid ones: the files are written
// to a sibling folder and renamed at the end. index.csv lists the files
// written, and only those.
// With Force, a folder an earlier render wrote is replaced once the new one
// is complete; any other folder, or one that is or holds a file the campaign
// uses, is refused with a *ReplaceError before anything is removed.
func (c *Campaign) Render(ctx context.Context, out string, opts RenderOptions, report func(Problem)) (RenderSummary, error) {
	var sum RenderSummary
	var old *earlierRender
	var st *staging
	if out != "" {
		var err error
		if old, err = c.outputFolder(out, opts.Force); err != nil {
			return sum, err
		}
		target := out
		if old != nil {
			target = old.real // a link to the folder stays a link to the new one
		}
		if st, err = stage(target); err != nil {
			return sum, err
		}
		defer st.cleanup()
	}
	failed := false // a row error, which keeps the rest from being written
	rep := func(p Problem) {
		failed = failed || p.Severity == Error
		if report != nil {
			report(p)
		}
	}
	if opts.SkipInvalid {
		rep = skipping(report)
	}
	shown := 0
	check, err := c.check(ctx, rep, func(r row) error {
		if shown < opts.Show && opts.Shown != nil {
			shown++
			opts.Shown(Rendered{Row: r.rec.Row, Line: r.rec.Line, Message: r.msg})
		}
		if st == nil || failed {
			return nil
		}
		if old != nil {
			if err := old.checkMessage(r); err != nil {
				return err
			}
		}
		if opts.Limit > 0 && sum.Written >= opts.Limit {
			return nil // still checked, not written
		}
		return sum.write(st, r)
	})
	sum.CheckSummary = check
	if err != nil {
		return sum, err
	}
	invalid := check.Rows - check.Valid
	if check.Errors > 0 && (!opts.SkipInvalid || check.Errors > invalid || check.Valid == 0) {
		sum.Written, sum.Bytes, sum.Refused = 0, 0, true
		return sum, nil
	}
	if opts.SkipInvalid {
		sum.Skipped = invalid
	}
	if st == nil {
		return sum, nil
	}
	if err := st.finish(); err != nil {
		return sum, err
	}
	if old != nil {
		return sum, st.replace(old)
	}
	return sum, st.commit(out)
}

// write puts the message of one row into the staging folder and index.csv.
func (sum *RenderSummary) write(st *staging, r row) error {
	name, n, err := st.writeMessage(r)
	if err != nil {
		return err
	}
	sum.Written++
	sum.Bytes += n
	return st.addToIndex(r, name, n)
}

// outputFolder returns the earlier render that out holds and Force may
// replace; nil when out is missing or empty.
func (c *Campaign) outputFolder(out string, force bool) (*earlierRender, error) {
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && len(entries) == 0:
		return nil, nil
	case force:
		return c.replaceable(out)
	case err != nil:
		return nil, err
	}
	return nil, fmt.Errorf("%s: %w", out, ErrNotEmpty)
}

// indexName is the file render writes beside the messages, one line each.
const indexName = "index.csv"

// staging is render's output on its way: a temporary folder beside out,
// which becomes out only when every row rendered.
type staging struct {
	tmp     string // the temporary folder
	created string // the outermost folder made for out, removed if it never comes
	index   *os.File
	buf     *bufio.Writer
	csv     *csv.Writer
	done    bool
}

// stage makes the temporary folder for out and starts its index.csv.
func stage(out string) (*staging, error) {
	parent := filepath.Dir(filepath.Clean(out))
	st := &staging{created: firstMissing(parent)}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	var err error
	if st.tmp, err = os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-"); err != nil {
		st.cleanup()
		return nil, err
	}
	// index.csv lists every address: only its owner reads it (MkdirTemp
	// made the folder 0700).
	if st.index, err = os.OpenFile(filepath.Join(st.tmp, indexName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
		st.cleanup()
		return nil, err
	}
	st.buf = bufio.NewWriter(st.index)
	st.buf.WriteString("\ufeff") // a BOM, so that Excel reads UTF-8
	st.csv = csv.NewWriter(st.buf)
	st.csv.UseCRLF = true
	_ = st.csv.Write([]string{"row", "to", "subject", "file", "bytes"})
	return st, nil
}

// writeMessage writes the .eml of one row and says its name and size.
func (st *staging) writeMessage(r row) (string, int64, error) {
	name := emlName(r.rec.Row, 5, r.msg.Recipient())
	f, err := os.Create(filepath.Join(st.tmp, name))
	if err != nil {
		return name, 0, err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	n, err := r.msg.WriteTo(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return name, 0, fmt.Errorf("%s: %w", name, err)
	}
	return name, n, nil
}

// addToIndex adds the line of one written row to index.csv.
func (st *staging) addToIndex(r row, name string, n int64) error {
	to := make([]string, len(r.msg.To))
	for i, a := range r.msg.To {
		to[i] = a.Address
		if a.Name != "" {
			to[i] = a.Name + " <" + a.Address + ">"
		}
	}
	// Subjects and names come from the list: escaped as in results.csv, so
	// that a spreadsheet shows a cell like "=1+1" as text.
	cells := []string{strconv.Itoa(r.rec.Row), strings.Join(to, ", "), r.msg.Subject, name, strconv.FormatInt(n, 10)}
	for i, c := range cells {
		cells[i] = journal.EscapeCell(c)
	}
	return st.csv.Write(cells)
}

// finish completes index.csv.
func (st *staging) finish() error {
	st.csv.Flush()
	if err := st.csv.Error(); err != nil {
		return err
	}
	if err := st.buf.Flush(); err != nil {
		return err
	}
	return st.index.Close()
}

// commit puts the folder where out goes, which is missing or empty.
func (st *staging) commit(out string) error {
	_ = os.Remove(out) // an empty folder may stand where the output goes
	if err := os.Rename(st.tmp, out); err != nil {
		return err
	}
	st.done = true
	return nil
}

// replace puts the folder in the place of an earlier render, then removes
// the earlier render's files: only those, and its folder once empty.
func (st *staging) replace(old *earlierRender) error {
	names, err := old.rendered() // again: a file may have come while rendering
	if err != nil {
		return err
	}
	aside := st.tmp + ".old"
	if err := os.Rename(old.real, aside); err != nil {
		return err
	}
	if err := os.Rename(st.tmp, old.real); err != nil {
		_ = os.Rename(aside, old.real)
		return err
	}
	st.done = true
	for _, name := range names {
		if err := os.Remove(filepath.Join(aside, name)); err != nil {
			return fmt.Errorf("the earlier render stays in %s: %w", aside, err)
		}
	}
	if err := os.Remove(aside); err != nil {
		return fmt.Errorf("the earlier render stays in %s: %w", aside, fsafe.Cause(err))
	}
	return nil
}

// cleanup removes what stage made, unless commit put it in place.
func (st *staging) cleanup() {
	if st.index != nil {
		st.index.Close() // a second Close after finish does no harm
	}
	if st.done {
		return
	}
	if st.tmp != "" {
		os.RemoveAll(st.tmp)
	}
	if st.created != "" {
		os.RemoveAll(st.created) // folders made for an output that never came
	}
}

// firstMissing returns the outermost folder of dir that does not exist yet,
// or "" when dir exists.
func firstMissing(dir string) string {
	missing := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			return missing
		}
		missing = d
		if filepath.Dir(d) == d {
			return missing
		}
	}
}

// emlName is "00001-alice@example.com.eml": the row, zero-padded so files
// sort in list order, and the address made safe for any file system.
func emlName(row, width int, addr string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("@._+-", r):
			return r
		}
		return '_'
	}, addr)
	if len(safe) > 100 {
		safe = safe[:100]
	}
	return fmt.Sprintf("%0*d-%s.eml", width, row, safe)
}
