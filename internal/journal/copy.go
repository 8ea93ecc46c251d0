package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// What results merge needs to join the results files of several shards
// into one: their lines as written, whatever columns this version or an
// earlier one wrote, so that nothing a run recorded is lost in the copy.

// Header is the first line of the results file as written: its byte order
// mark, its columns and its line end.
func (j *Journal) Header() ([]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	head := make([]byte, min(j.size, 4096))
	if _, err := j.f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read results file: %w", err)
	}
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		return nil, fmt.Errorf("read results file %s: no header line", j.path)
	}
	return head[:nl+1], nil
}

// LastRow is the highest row with an outcome; 0 when there is none.
func (j *Journal) LastRow() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.maxRow
}

// Line is the last line recorded for row as it stands in the file, its
// line end included; false when the row has none.
func (j *Journal) Line(row int) ([]byte, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	off, n, ok := j.idx.line(row)
	if !ok {
		return nil, false, nil
	}
	line := make([]byte, n)
	if _, err := j.f.ReadAt(line, off); err != nil {
		return nil, false, fmt.Errorf("read results file %s: %w", j.path, err)
	}
	return line, true, nil
}
