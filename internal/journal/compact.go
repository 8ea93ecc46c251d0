package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

func compactPath(path string) string { return path + ".compact" }

// compactLocked rewrites the results file with only the last line of each
// row, in row order. It streams: each kept line is copied from the file at
// the place the index remembers, through a window that makes the usual
// nearly-sorted file a sequential read. The copy is synced and renamed over
// the original, so a crash leaves either the old file or the new one.
func (j *Journal) compactLocked() error {
	if j.ordered {
		return nil
	}
	st, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("compact results file: %w", err)
	}
	name := compactPath(j.path)
	tmp, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return fmt.Errorf("compact results file: %w", err)
	}
	if err := j.writeCompact(tmp); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("compact results file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("compact results file: %w", err)
	}
	// Windows cannot rename over an open file.
	err = j.f.Close()
	j.f = nil
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("close results file: %w", err)
	}
	if err := os.Rename(name, j.path); err != nil {
		os.Remove(name)
		return fmt.Errorf("compact results file: %w", err)
	}
	if err := fsafe.SyncDir(filepath.Dir(j.path)); err != nil {
		return fmt.Errorf("compact results file: %w", err)
	}
	return nil
}

func (j *Journal) writeCompact(tmp *os.File) error {
	w := bufio.NewWriterSize(tmp, 256<<10)
	w.Write(headerLine)
	win := window{r: j.f, size: j.size, buf: make([]byte, 256<<10)}
	err := j.idx.inOrder(func(row int) error {
		off, n, _ := j.idx.line(row)
		line, err := win.read(off, n)
		if err != nil {
			return err
		}
		// csv.Reader counts blank lines before a record as part of it.
		for len(line) > 0 && (line[0] == '\r' || line[0] == '\n') {
			line = line[1:]
		}
		if !j.legacy {
			w.Write(line)
			return nil
		}
		// A line of a file from before the relay column: an empty relay.
		body := bytes.TrimRight(line, "\r\n")
		w.Write(body)
		w.WriteString(",")
		w.Write(line[len(body):])
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return tmp.Sync()
}

// window reads small pieces of a file through one large buffer.
type window struct {
	r          io.ReaderAt
	size       int64
	buf        []byte
	start, end int64 // the file range held in buf
}

func (w *window) read(off int64, n int) ([]byte, error) {
	if off >= w.start && off+int64(n) <= w.end {
		return w.buf[off-w.start : off-w.start+int64(n)], nil
	}
	if n > len(w.buf) {
		w.buf = make([]byte, n)
	}
	got, err := w.r.ReadAt(w.buf[:min(int64(len(w.buf)), w.size-off)], off)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	w.start, w.end = off, off+int64(got)
	return w.buf[:n], nil
}
