package suppress

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/human"
)

// maxReason caps the reason cell, in characters.
const maxReason = 500

// File is a suppression file open for adding addresses, as the unsubscribe
// endpoint and the bounce reader keep it. [File.Add] appends one line and
// fsyncs it, and stores each address once. A File is safe for many
// goroutines at once, and for other processes appending to the same file
// through their own File: each Add holds an exclusive lock (flock) on the
// file while it reads what others appended since and writes its line.
//
// A new file is created readable by its owner only (0600) with [Header]; a
// line is the address, the time in RFC 3339 (UTC) and the reason, each
// cell escaped against spreadsheet formulas ([fsafe.EscapeCell]). An
// existing file keeps its own layout: a CSV with another header gets the
// address in its email column (and time and reason where it has such
// columns), a plain list one address a line.
//
// A failed write or fsync is kept: every later Add returns it, since the
// file may hold a partial line and an fsync error may have lost pages.
type File struct {
	path string
	now  func() time.Time

	mu    sync.Mutex
	f     *os.File
	lay   layout
	known *List               // what the file held when last read whole
	added map[string]struct{} // what came since, from this File or another process
	read  int64               // bytes read so far
	lines int                 // lines read so far, for errors
	err   error
}

// Open opens the suppression file at path for adding, creating it with
// its header when it does not exist, and reads the addresses it holds.
func Open(path string) (*File, error) {
	f := &File{path: path, now: time.Now}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

// open opens f.path and reads it whole, writing the header into a new or
// emptied file.
func (f *File) open() error {
	fd, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	st, err := fd.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &fsafe.NotRegularError{Mode: st.Mode()}
	}
	if err == nil {
		err = lockExclusive(fd)
	}
	if err != nil {
		fd.Close()
		return &FileError{Path: f.path, Err: err}
	}
	defer unlock(fd)
	if f.f != nil {
		f.f.Close()
	}
	f.f = fd
	return f.readAll()
}

// readAll reads the whole file into f.known, under the caller's lock.
func (f *File) readAll() error {
	st, err := f.f.Stat()
	if err != nil {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	if st.Size() == 0 {
		if err := f.writeHeader(); err != nil {
			return err
		}
	}
	f.known, f.added, f.read, f.lines, f.lay = newList(), map[string]struct{}{}, 0, 0, layout{}
	if err := f.readTail(func(a []byte) error { return f.known.add(0, a) }); err != nil {
		return err
	}
	f.known.seal()
	return nil
}

// writeHeader starts an empty file and makes its name durable.
func (f *File) writeHeader() error {
	if _, err := f.f.Write([]byte(Header + "\n")); err != nil {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	if err := f.f.Sync(); err != nil {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	if err := fsafe.SyncDir(filepath.Dir(f.path)); err != nil {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	return nil
}

// readTail hands add each address from where the last read stopped to the
// end of the file.
func (f *File) readTail(add func([]byte) error) error {
	st, err := f.f.Stat()
	if err != nil {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	s := scanner{name: f.path, lay: &f.lay, line: f.lines}
	err = s.scan(io.NewSectionReader(f.f, f.read, st.Size()-f.read), add)
	f.read, f.lines = st.Size(), s.line
	return err
}

// Path is the file's path as passed to Open.
func (f *File) Path() string { return f.path }

// Add appends addr with reason (such as "unsubscribe: one-click" or
// "bounce: 5.1.1 user unknown") and fsyncs the file, unless the file holds
// addr already. added reports whether a line was written. addr is stored in
// its [Normalize]d form.
func (f *File) Add(addr, reason string) (added bool, err error) {
	a, err := Normalize(addr)
	if err == nil && len(a) > MaxAddress {
		err = fmt.Errorf("longer than %d bytes, the most an address can have", MaxAddress)
	}
	if err != nil {
		return false, fmt.Errorf("%q is not an e-mail address: %w", human.Clip(addr, 60), err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if err := f.catchUp(); err != nil {
		return false, err
	}
	fd := f.f
	if err := lockExclusive(fd); err != nil {
		return false, &FileError{Path: f.path, Err: err}
	}
	defer unlock(fd)
	if err := f.readNew(); err != nil {
		return false, err
	}
	if _, ok := f.added[a]; ok {
		return false, nil
	}
	if _, ok := f.known.find([]byte(a)); ok {
		return false, nil
	}
	if err := f.append(f.line(a, reason)); err != nil {
		f.err = &FileError{Path: f.path, Err: fsafe.Cause(err)}
		return false, f.err
	}
	f.added[a] = struct{}{}
	return true, nil
}

// catchUp opens the file again when its name now points at another file:
// an editor that saves by writing a copy and renaming it, or a user who
// removed the file.
func (f *File) catchUp() error {
	named, err := os.Stat(f.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	held, herr := f.f.Stat()
	if err == nil && herr == nil && os.SameFile(named, held) {
		return nil
	}
	return f.open()
}

// readNew reads what other processes appended since the last read, under
// the caller's exclusive lock. A file that shrank was edited: read it whole.
func (f *File) readNew() error {
	st, err := f.f.Stat()
	if err != nil {
		return &FileError{Path: f.path, Err: fsafe.Cause(err)}
	}
	switch {
	case st.Size() < f.read:
		return f.readAll()
	case st.Size() > f.read:
		return f.readTail(func(a []byte) error { f.added[string(a)] = struct{}{}; return nil })
	}
	return nil
}

// line is the line that records a, in the file's layout.
func (f *File) line(a, reason string) []byte {
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, human.Clip(strings.TrimSpace(reason), maxReason))
	if !f.lay.csv {
		return []byte(fsafe.EscapeCell(a) + "\n")
	}
	rec := make([]string, len(f.lay.columns))
	for i, c := range f.lay.columns {
		switch strings.ToLower(strings.TrimSpace(c)) {
		case "email":
			rec[i] = a
		case "time":
			rec[i] = f.now().UTC().Format(time.RFC3339)
		case "reason":
			rec[i] = reason
		}
		rec[i] = fsafe.EscapeCell(rec[i])
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = f.lay.comma
	w.Write(rec)
	w.Flush()
	return b.Bytes()
}

// append writes line at the end of the file, after a line end when the
// file's last line has none (a hand-edited file), and fsyncs it.
func (f *File) append(line []byte) error {
	if f.read > 0 {
		var last [1]byte
		if _, err := f.f.ReadAt(last[:], f.read-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	n, err := f.f.Write(line)
	f.read += int64(n)
	if err != nil {
		return err
	}
	f.lines++
	return f.f.Sync()
}

// Close closes the file. Every Add that returned is on disk already.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}
