package journal

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// The .inflight file holds one line per Begin:
//
//	row,offset,email,message_id,relay
//
// (files from before the relay column have no relay field)
// where offset is the size of the results file when Begin was called. An
// outcome for the row written later lies at or beyond that offset, so a Begin
// is finished exactly when the row's last line starts at or after it. This
// stays right when a row is sent twice in one run (a retry after a temporary
// failure at the end of DATA) and needs no per-row state beyond the index.

const inflightHint = "it lists messages that were being sent when a run stopped; check those recipients, then delete the file to continue"

// recoverInflight records as unknown every transaction a crashed run left
// between Begin and Record, then empties the .inflight file. Running it again
// after a crash half-way is harmless: the unknown lines already written lie
// beyond every Begin's offset and so finish those Begins.
func (j *Journal) recoverInflight() error {
	name := InflightPath(j.path)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open in-flight file: %w", err)
	}
	j.inflight = f
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read in-flight file: %w", err)
	}
	if st.Size() == 0 {
		return nil
	}
	// An unterminated last line is a Begin that never returned, so its
	// message never got its final "." and was not delivered.
	end, err := lastLineEnd(f, st.Size())
	if err != nil {
		return fmt.Errorf("read in-flight file: %w", err)
	}
	before := j.size
	now := time.Now().UTC().Format(time.RFC3339)
	r := csv.NewReader(bufio.NewReader(io.NewSectionReader(f, 0, end)))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line, err = pe.Line, pe.Err
			}
			return &FileError{Path: name, Line: line, Err: err, Help: inflightHint}
		}
		if len(rec) < 2 {
			return &FileError{Path: name, Line: line, Err: fmt.Errorf("malformed line %q", rec), Help: inflightHint}
		}
		row, err1 := strconv.Atoi(rec[0])
		began, err2 := strconv.ParseInt(rec[1], 10, 64)
		if len(rec) < 4 || len(rec) > 5 || err1 != nil || err2 != nil || row <= 0 || row > MaxRow {
			return &FileError{Path: name, Line: line, Err: fmt.Errorf("malformed line %q", rec), Help: inflightHint}
		}
		if off, _, ok := j.idx.line(row); ok && (off >= began || off >= before) {
			continue // finished, or already recovered by this pass
		}
		b := begun{email: rec[2], messageID: rec[3]}
		if len(rec) == 5 {
			b.relay = rec[4]
		}
		if err := j.appendLocked(row, Unknown, HashEmail(b.email), j.unknownLine(row, b, now)); err != nil {
			return err
		}
		j.recovered++
	}
	if j.recovered > 0 {
		// The unknowns must be on disk before the evidence for them goes.
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("sync results file: %w", err)
		}
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("empty in-flight file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync in-flight file: %w", err)
	}
	return nil
}
