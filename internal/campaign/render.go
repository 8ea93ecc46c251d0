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
	parent := filepath.Dir(filepath.Clean(out))
	created := firstMissing(parent)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return sum, err
	}
	done := false
	defer func() {
		if !done && created != "" {
			os.RemoveAll(created) // folders made for an output that never came
		}
	}()
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return sum, err
	}
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	idxFile, err := os.Create(filepath.Join(tmp, "index.csv"))
	if err != nil {
		return sum, err
	}
	defer idxFile.Close()
	idxBuf := bufio.NewWriter(idxFile)
	idx := csv.NewWriter(idxBuf)
	idx.UseCRLF = true
	_ = idx.Write([]string{"row", "to", "subject", "file", "bytes"})

	width := 5
	check, err := c.check(ctx, report, func(r row) error {
		if opts.Limit > 0 && sum.Written >= opts.Limit {
			return nil // still checked, not written
		}
		name := emlName(r.rec.Row, width, r.msg.Recipient())
		f, err := os.Create(filepath.Join(tmp, name))
		if err != nil {
			return err
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
			return fmt.Errorf("%s: %w", name, err)
		}
		sum.Written++
		sum.Bytes += n
		to := make([]string, len(r.msg.To))
		for i, a := range r.msg.To {
			to[i] = a.Address
			if a.Name != "" {
				to[i] = a.Name + " <" + a.Address + ">"
			}
		}
		return idx.Write([]string{strconv.Itoa(r.rec.Row), strings.Join(to, ", "), r.msg.Subject, name, strconv.FormatInt(n, 10)})
	})
	sum.CheckSummary = check
	if err != nil {
		return sum, err
	}
	if check.Errors > 0 {
		sum.Written, sum.Bytes = 0, 0
		return sum, nil
	}
	idx.Flush()
	if err := idx.Error(); err != nil {
		return sum, err
	}
	if err := idxBuf.Flush(); err != nil {
		return sum, err
	}
	if err := idxFile.Close(); err != nil {
		return sum, err
	}
	if opts.Force {
		if err := os.RemoveAll(out); err != nil {
			return sum, err
		}
	} else {
		_ = os.Remove(out) // an empty folder may stand where the output goes
	}
	if err := os.Rename(tmp, out); err != nil {
		return sum, err
	}
	done = true
	return sum, nil
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
