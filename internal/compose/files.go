package compose

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// Files named by templates: attachments and <img src> in the HTML body.
//
// A path the campaign's author wrote, with no template action in it, may
// name any file. A path that data helped write must lead to a file inside
// the campaign folder or a folder of Spec.FileRoots (fsafe.Roots: "..",
// absolute paths and links that lead out are refused), and glob characters
// in data match only themselves. Either way only regular files are read,
// and never past the limit.

// namedFile is one file a message carries.
type namedFile struct {
	path    string // absolute
	size    int64  // when checked
	literal bool   // the author wrote the path: it may lead anywhere
}

// setRoots makes the campaign folder absolute and checks that every folder
// of FileRoots exists.
func (c *Composer) setRoots() error {
	dir, err := filepath.Abs(c.spec.Dir)
	if err != nil {
		return err
	}
	c.dir = dir
	more, err := fsafe.NewRoots(dir, c.spec.FileRoots...)
	c.roots = append(fsafe.Roots{dir}, more...)
	return err
}

// resolve makes a rendered path absolute against the campaign folder.
func (c *Composer) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.dir, p)
}

// open opens a named file by the rule for where its path came from.
func (c *Composer) open(path string, literal bool) (*os.File, fs.FileInfo, error) {
	if literal {
		return fsafe.OpenRegular(path)
	}
	return c.roots.Open(path)
}

// stat checks that a named file can be read, without reading it.
func (c *Composer) stat(path string, literal bool) (namedFile, error) {
	f, st, err := c.open(path, literal)
	if err != nil {
		return namedFile{}, err
	}
	f.Close()
	return namedFile{path: path, size: st.Size(), literal: literal}, nil
}

// literalPath reports whether t has no template action: the author wrote
// every byte of the paths it renders.
func literalPath(t *tmpl) bool { return !strings.Contains(t.src.Text, "{{") }

// globs reports whether t's own text has glob characters: only then is what
// it renders a pattern.
func globs(t *tmpl) bool { return strings.ContainsAny(t.src.Text, "*?[") }

// globEscaper makes data's glob characters match only themselves.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)

// pathFields are the fields an attachment template renders with: as they
// are, or with glob characters escaped when the template globs.
func pathFields(t *tmpl, fields map[string]string) map[string]string {
	if !globs(t) || literalPath(t) {
		return fields
	}
	escaped := make(map[string]string, len(fields))
	for k, v := range fields {
		escaped[k] = globEscaper.Replace(v)
	}
	return escaped
}

// attachmentFiles resolves one rendered path of t; a glob pattern in t's
// own text attaches every match in sorted order and must match at least
// one file. Folders a pattern matches are left out.
func (c *Composer) attachmentFiles(t *tmpl, p string) ([]namedFile, error) {
	abs, literal := c.resolve(p), literalPath(t)
	if !globs(t) {
		f, err := c.stat(abs, literal)
		if err != nil {
			return nil, err
		}
		return []namedFile{f}, nil
	}
	if !literal && !c.roots.Contain(abs) {
		return nil, fsafe.ErrOutside // what it would match outside is none of data's business
	}
	matches, err := filepath.Glob(abs)
	if err != nil {
		return nil, fmt.Errorf("bad pattern: %w", err)
	}
	sort.Strings(matches)
	var files []namedFile
	for _, m := range matches {
		f, err := c.stat(m, literal)
		var nr *fsafe.NotRegularError
		if errors.As(err, &nr) && nr.Mode.IsDir() {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, fsafe.Cause(err))
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, errors.New("the pattern matches no file")
	}
	return files, nil
}

// literalImages lists the <img src> paths written in the HTML template's
// own text, unescaped as inlineImages reads them.
func literalImages(html string) map[string]bool {
	srcs := map[string]bool{}
	for _, sm := range reImgSrc.FindAllStringSubmatch(html, -1) {
		if src := sm[2] + sm[3]; !strings.Contains(src, "{{") {
			srcs[unescapeHTMLPath(src)] = true
		}
	}
	return srcs
}

// fileError is a file a template names that cannot be read for this row.
// It names the path and the columns it came from.
func fileError(t *tmpl, what, p string, fields map[string]string, err error) error {
	where := what + " " + p
	if cols := pathColumns(t, p, fields); len(cols) > 0 {
		where += " from column " + strings.Join(cols, ", ")
	}
	te := &TemplateError{Where: t.src.where(1), Err: fmt.Errorf("%s: %w", where, fsafe.Cause(err))}
	var nr *fsafe.NotRegularError
	switch {
	case errors.Is(err, fsafe.ErrOutside):
		te.Err = fmt.Errorf("%s: is outside the campaign folder and file_roots", where)
		te.Help = `a path from the list must lead to a file inside the campaign folder; ` +
			`name other folders in the campaign with file_roots = ["/path/to/folder"]`
	case errors.As(err, &nr) && !nr.Mode.IsDir():
		te.Help = "only regular files are attached or embedded"
	}
	return te
}

// pathColumns are the columns t names whose value is part of p, quoted.
func pathColumns(t *tmpl, p string, fields map[string]string) []string {
	var cols []string
	seen := map[string]bool{}
	for _, tree := range t.trees() {
		for _, ref := range columnRefs(tree) {
			v := strings.TrimSpace(fields[ref.Column])
			if v == "" || seen[ref.Column] || !strings.Contains(p, v) && !strings.Contains(p, globEscaper.Replace(v)) {
				continue
			}
			seen[ref.Column] = true
			cols = append(cols, strconv.Quote(ref.Column))
		}
	}
	return cols
}

// fileReader gives go-mail a named file each time the message is written:
// opened by the same rule as when it was checked, and never read past limit.
type fileReader struct {
	c     *Composer
	file  namedFile
	limit int64
	f     *os.File
	r     io.Reader
	done  bool
}

func (fr *fileReader) Read(p []byte) (int, error) {
	if fr.done {
		return 0, io.EOF
	}
	if fr.r == nil {
		f, _, err := fr.c.open(fr.file.path, fr.file.literal)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", fr.file.path, fsafe.Cause(err))
		}
		fr.f, fr.r = f, fsafe.LimitReader(f, fr.limit)
	}
	n, err := fr.r.Read(p)
	if err != nil {
		fr.close() // at the end or failing: let go of the file
		fr.done = true
	}
	return n, err
}

// Seek rewinds, which is all go-mail asks of it after writing a message.
func (fr *fileReader) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("a named file can only be read again from the start")
	}
	fr.close()
	fr.done = false
	return 0, nil
}

func (fr *fileReader) close() {
	if fr.f != nil {
		fr.f.Close()
		fr.f, fr.r = nil, nil
	}
}
