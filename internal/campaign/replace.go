package campaign

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// earlierRender is a folder that render --force may replace: one an earlier
// render wrote, holding nothing but the files its index.csv lists. Folders
// are compared by their real paths, so "--out .", "--out ./files/" and a
// link to the campaign folder are all seen for what they are.
type earlierRender struct {
	out     string          // as given, for messages
	real    string          // absolute, symlinks resolved
	checked map[string]bool // files of the messages already found outside it
}

// replaceable returns the folder out as an earlier render, or a
// *ReplaceError naming the first file in it that --force must not remove:
// a file of the campaign, or one that no render wrote.
func (c *Campaign) replaceable(out string) (*earlierRender, error) {
	old := &earlierRender{out: out, real: realPath(out), checked: map[string]bool{}}
	for _, f := range c.ownFiles() {
		if err := old.mustNotHold(f.path, f.what); err != nil {
			return nil, err
		}
	}
	if _, err := old.rendered(); err != nil {
		return nil, err
	}
	return old, nil
}

// campaignFile is a file the campaign reads or writes, with what it is.
type campaignFile struct{ path, what string }

// ownFiles are the files of the campaign that no render may remove; the
// files the messages attach or show come from the rows (see checkMessage).
func (c *Campaign) ownFiles() []campaignFile {
	files := []campaignFile{{c.Path, "the campaign file"}, {c.listPath, "the recipients list"}}
	cfg := c.Config
	for _, f := range []campaignFile{{cfg.Text, "the text template"}, {cfg.HTML, "the HTML template"},
		{cfg.Markdown, "the Markdown template"}, {cfg.Layout, "the layout"}, {cfg.SMTP.CAFile, "the CA file"}} {
		if f.path != "" {
			files = append(files, campaignFile{c.resolve(f.path), f.what})
		}
	}
	results := c.ResultsPath()
	return append(files, campaignFile{results, "the results file"},
		campaignFile{journal.InflightPath(results), "the results file's sidecar"})
}

// checkMessage refuses the folder when it is or holds a file that the
// message of row attaches or shows inline.
func (old *earlierRender) checkMessage(r row) error {
	files := []struct {
		paths []string
		what  string
	}{{r.msg.Attachments, "an attachment of row"}, {r.msg.Images, "an inline image of row"}}
	for _, f := range files {
		for _, p := range f.paths {
			if old.checked[p] {
				continue
			}
			if err := old.mustNotHold(p, fmt.Sprintf("%s %d", f.what, r.rec.Row)); err != nil {
				return err
			}
			old.checked[p] = true
		}
	}
	return nil
}

// mustNotHold refuses the folder when it is path or holds it.
func (old *earlierRender) mustNotHold(path, what string) error {
	rel, err := filepath.Rel(old.real, realPath(path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil
	}
	if rel == "." {
		return &ReplaceError{Out: old.out, What: what}
	}
	return &ReplaceError{Out: old.out, File: filepath.Join(old.out, rel), What: what}
}

// rendered returns the names of the files in the folder, each of them
// index.csv or listed in it; any other file is refused.
func (old *earlierRender) rendered() ([]string, error) {
	entries, err := os.ReadDir(old.real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", old.out, fsafe.Cause(err))
	}
	listed, indexOK := readIndex(filepath.Join(old.real, indexName))
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		// A render writes plain files only: a folder or a link with a
		// listed name is not one of them.
		ok := e.Type().IsRegular() && (name == indexName && indexOK || listed[name])
		if !ok {
			return nil, &ReplaceError{Out: old.out, File: filepath.Join(old.out, name), What: "which no render wrote"}
		}
		names = append(names, name)
	}
	return names, nil
}

// readIndex reads the file column of an index.csv; ok is false when the
// file is not one that render writes.
func readIndex(path string) (files map[string]bool, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil || len(header) == 0 {
		return nil, false
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // written before the BOM, or after
	col := slices.Index(header, "file")
	if col < 0 {
		return nil, false
	}
	files = map[string]bool{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return files, true
		}
		if err != nil {
			return nil, false
		}
		if col < len(rec) {
			files[rec[col]] = true
		}
	}
}

// realPath is p made absolute with its symlinks resolved; the part of it
// that does not exist yet (a results file not yet written) is kept as it is.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	var rest []string
	for d := abs; ; d = filepath.Dir(d) {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			slices.Reverse(rest)
			return filepath.Join(append([]string{r}, rest...)...)
		}
		if filepath.Dir(d) == d {
			return abs
		}
		rest = append(rest, filepath.Base(d))
	}
}
