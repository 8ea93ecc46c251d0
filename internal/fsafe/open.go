package fsafe

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrOutside means a path leads out of every folder it may be read from:
// through "..", as an absolute path, or by a symbolic link.
var ErrOutside = errors.New("outside the folders files may be read from")

// NotRegularError is a path that names something other than a regular
// file: reading a device, a named pipe or a socket can block or never end.
type NotRegularError struct {
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	kind := "not a regular file"
	switch t := e.Mode.Type(); {
	case t&fs.ModeDir != 0:
		kind = "a folder"
	case t&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	case t&fs.ModeDevice != 0:
		kind = "a device"
	}
	return "is " + kind + ", not a file"
}

// Roots are the folders that files named by untrusted data may be read
// from, as absolute, clean paths. The zero value allows nothing.
type Roots []string

// NewRoots makes dirs absolute against base and checks that each is a folder.
func NewRoots(base string, dirs ...string) (Roots, error) {
	var r Roots
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			d = filepath.Join(base, d)
		}
		d, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, Cause(err))
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s: is not a folder", d)
		}
		r = append(r, d)
	}
	return r, nil
}

// Contain reports whether name, an absolute path, is inside one of the
// roots as written, before any link is followed: a glob pattern outside
// them is refused before it is matched.
func (r Roots) Contain(name string) bool {
	for _, dir := range r {
		if _, ok := within(dir, filepath.Clean(name)); ok {
			return true
		}
	}
	return false
}

// Open opens name, an absolute path, for reading when it is a regular file
// inside one of the roots, with every symbolic link on the way resolved
// inside that root (os.Root). It never blocks on a named pipe or device.
func (r Roots) Open(name string) (*os.File, fs.FileInfo, error) {
	name = filepath.Clean(name)
	tried := map[string]bool{}
	// A link inside one root may lead into another: try where it points too.
	for _, p := range []string{name, resolveLinks(name)} {
		for _, dir := range r {
			rel, ok := within(dir, p)
			if !ok || tried[dir+"\x00"+rel] {
				continue
			}
			tried[dir+"\x00"+rel] = true
			f, st, e := openInRoot(dir, rel)
			if e == nil {
				return f, st, nil
			}
			if !escaped(e) {
				return nil, nil, e
			}
		}
	}
	return nil, nil, ErrOutside
}

// OpenRegular opens name for reading wherever it is, as Roots.Open does
// inside the roots: a regular file only, without blocking. It is for paths
// the campaign's author wrote, not for paths that come from data.
func OpenRegular(name string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, &NotRegularError{Mode: st.Mode()}
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	return regular(f)
}

func openInRoot(dir, rel string) (*os.File, fs.FileInfo, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	// Stat first, so that a device is not even opened; the open below
	// cannot block and its own stat is the one that counts.
	st, err := root.Stat(rel)
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, &NotRegularError{Mode: st.Mode()}
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	return regular(f)
}

// regular returns f when what was opened is a regular file; it may have
// been swapped for something else since the stat.
func regular(f *os.File) (*os.File, fs.FileInfo, error) {
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &NotRegularError{Mode: st.Mode()}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// within returns name relative to dir when it is dir or below it.
func within(dir, name string) (string, bool) {
	rel, err := filepath.Rel(dir, name)
	if err != nil || !filepath.IsLocal(rel) && rel != "." {
		return "", false
	}
	return rel, true
}

// escaped reports whether an os.Root refusal means the path leads out of
// the root. os.Root's own error for that is not exported; the others are
// these.
func escaped(err error) bool {
	var nr *NotRegularError
	return !errors.As(err, &nr) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) &&
		!errors.Is(err, syscall.ENOTDIR)
}

// resolveLinks is name with its symbolic links resolved, or name itself
// when that fails.
func resolveLinks(name string) string {
	if p, err := filepath.EvalSymlinks(name); err == nil {
		return p
	}
	return name
}

// TooLargeError is a file that holds more bytes than may be read from it.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("holds more than %d bytes", e.Limit)
}

// LimitReader reads r to its end but fails with a *TooLargeError, rather
// than read on, once it yields more than n bytes: a file that grows after it
// was measured cannot make a reader take more than n+1 bytes of it.
func LimitReader(r io.Reader, n int64) io.Reader {
	return &limitReader{r: io.LimitReader(r, n+1), n: n}
}

type limitReader struct {
	r    io.Reader
	n    int64
	read int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	k, err := l.r.Read(p)
	l.read += int64(k)
	if l.read > l.n {
		return k - int(l.read-l.n), &TooLargeError{Limit: l.n}
	}
	return k, err
}
