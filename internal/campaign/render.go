package campaign

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RenderOptions control a dry run.
type RenderOptions struct {
	Force bool // replace a folder that is not empty
	Limit int  // render only the first Limit recipients; 0 means all
}

// RenderSummary is what Render wrote.
type RenderSummary struct {
	CheckSummary
	Written int
	Bytes   int64
}

// Render is the dry run: it checks the campaign and writes one .eml file per
// recipient plus index.csv into out. Nothing is left in out unless every row
// is valid: the files are written to a sibling folder and renamed at the end.
func (c *Campaign) Render(ctx context.Context, out string, opts RenderOptions, report func(Problem)) (RenderSummary, error) {
	var sum RenderSummary
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 && !opts.Force {
		return sum, fmt.Errorf("%s: %w", out, ErrNotEmpty)
	} else if err != nil && !os.IsNotExist(err) {
		return sum, err
	}
	st, err := stage(out)
	if err != nil {
		return sum, err
	}
	defer st.cleanup()
	check, err := c.check(ctx, report, func(r row) error {
		if opts.Limit > 0 && sum.Written >= opts.Limit {
			return nil // still checked, not written
		}
		name, n, err := st.writeMessage(r)
		if err != nil {
			return err
		}
		sum.Written++
		sum.Bytes += n
		return st.addToIndex(r, name, n)
	})
	sum.CheckSummary = check
	if err != nil {
		return sum, err
	}
	if check.Errors > 0 {
		sum.Written, sum.Bytes = 0, 0
		return sum, nil
	}
	return sum, st.commit(out, opts.Force)
}

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
	if st.index, err = os.Create(filepath.Join(st.tmp, "index.csv")); err != nil {
		st.cleanup()
		return nil, err
	}
	st.buf = bufio.NewWriter(st.index)
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
	return st.csv.Write([]string{strconv.Itoa(r.rec.Row), strings.Join(to, ", "), r.msg.Subject, name, strconv.FormatInt(n, 10)})
}

// commit finishes index.csv and puts the folder where out goes.
func (st *staging) commit(out string, force bool) error {
	st.csv.Flush()
	if err := st.csv.Error(); err != nil {
		return err
	}
	if err := st.buf.Flush(); err != nil {
		return err
	}
	if err := st.index.Close(); err != nil {
		return err
	}
	if force {
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	} else {
		_ = os.Remove(out) // an empty folder may stand where the output goes
	}
	if err := os.Rename(st.tmp, out); err != nil {
		return err
	}
	st.done = true
	return nil
}

// cleanup removes what stage made, unless commit put it in place.
func (st *staging) cleanup() {
	if st.index != nil {
		st.index.Close()
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
