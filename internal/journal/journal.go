// Package journal keeps the results file of a send run: one CSV row per
// recipient outcome, appended as each outcome becomes final, and read back so
// that --resume sends nobody a second copy.
//
// The file opens in Excel (UTF-8 with a byte order mark, CRLF line ends):
//
//	row,email,status,code,reply,message_id,attempts,time,relay
//	1,ana@example.com,sent,250,2.0.0 Ok: queued as 4F2A,<x1@example.com>,1,2025-01-02T03:04:05Z,smtp.example.net
//
// Crash safety rests on three habits:
//
//   - Every outcome is one write(2) of a complete line to a file opened with
//     O_APPEND. Once [Journal.Record] returns, the line is in the operating
//     system's page cache and survives kill -9 or a crash of the process. A
//     line cut short by a kill in the middle of the write belongs to a Record
//     that never returned; [Open] drops it.
//   - [Journal.Begin] appends a line to the sidecar file "<results>.inflight"
//     before the end of DATA. At [Open], a recipient with a Begin but no later
//     outcome is recorded as unknown: the server may have accepted the
//     message, so it must not be resent silently.
//   - Power loss is covered only up to the last [Journal.Sync] (fsync). The
//     caller syncs every few seconds rather than after every outcome, because
//     an fsync costs milliseconds and would cap a run at a few hundred
//     messages a second.
//
// A failed write or fsync is kept: every later call returns it and writes
// nothing, so a full disk stops the run instead of losing outcomes unseen.
// The files are created readable by their owner only (0600): they list every
// address, and cells that a spreadsheet would run as a formula are escaped
// ([EscapeCell]).
//
// mailmerge bounces appends a "bounced" line for a row the server had
// accepted once a 5.x.x report about it comes back; like sent, it is final.
//
// When a recipient has several rows (an unknown or failed row resent by a
// later run), the last one wins, and [Journal.Close] compacts the file to one
// row per recipient, in row order.
//
// Reading a file back keeps about 17 bytes per row, not the rows themselves:
// the status, a hash of the e-mail address and where the last line sits.
package journal

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/human"
)

// Status is the final outcome of one recipient.
type Status string

// The outcomes a results file can hold.
const (
	Sent    Status = "sent"    // the server accepted the message
	Failed  Status = "failed"  // the server refused it, or it could not be sent at all
	Skipped Status = "skipped" // the row was invalid and the user chose to skip bad rows
	Unknown Status = "unknown" // the connection was lost after the end of DATA: it may have arrived
	// Bounced: the server accepted the message, then the recipient's
	// system sent it back for good (a 5.x.x report read by mailmerge
	// bounces). Final: resume never sends it again.
	Bounced Status = "bounced"
)

// statuses maps the one-byte code kept per row back to its Status; 0 means no outcome.
var statuses = [...]Status{"", Sent, Failed, Skipped, Unknown, Bounced}

func (s Status) code() byte {
	switch s {
	case Sent:
		return 1
	case Failed:
		return 2
	case Skipped:
		return 3
	case Unknown:
		return 4
	case Bounced:
		return 5
	}
	return 0
}

// columns is the header line of every results file, in order. Files
// written before the relay column have the first eight (legacyColumns):
// Open rewrites such a file with the column, empty for its rows.
var columns = []string{"row", "email", "status", "code", "reply", "message_id", "attempts", "time", "relay"}

const legacyColumns = 8

// Columns returns the header line of every results file, in order.
func Columns() []string { return append([]string(nil), columns...) }

// Entry is one recipient's final outcome.
type Entry struct {
	Row       int       // 1-based row of the recipient list
	Email     string    // the envelope recipient
	Status    Status    // sent, failed, skipped, unknown or bounced
	Code      int       // the server's reply code (for bounced, the code in the report); 0 when there was none
	Reply     string    // the server's reply, or why the row was skipped or failed
	MessageID string    // the Message-ID header of the message
	Attempts  int       // how many times the message was offered to a server
	Time      time.Time // when the outcome became final; zero means now
	Relay     string    // the name of the relay that took the last attempt; empty when none did
}

// Previous is what an earlier run recorded for one row.
type Previous struct {
	Status    Status
	EmailHash uint64 // HashEmail of the recorded address, to notice a recipient list edited between runs
}

// Sentinel errors, for errors.Is.
var (
	// ErrNotJournal: the results path names a file this tool did not write.
	ErrNotJournal = errors.New("not a mailmerge results file")
	// ErrLocked: another run holds the results file.
	ErrLocked = errors.New("results file is in use by another mailmerge run")
	// ErrClosed: the journal was closed or abandoned.
	ErrClosed = errors.New("results file already closed")
)

// FileError is a problem with the results file (or its .inflight sidecar)
// that the user has to resolve; Help says how.
type FileError = human.FileError

// MaxRow is the highest row number a results file may hold; the per-row
// index costs about 17 bytes per row up to the highest row seen.
const MaxRow = 1 << 25

// maxReply caps the reply column, in characters, so that one odd server reply
// cannot make a line too long for Excel (32767 characters a cell) or for the
// index (which packs a line length in 24 bits: 4000 characters are at most
// 16000 bytes).
const maxReply = 4000

// unknownReply explains a recovered in-flight row to the person reading the file.
const unknownReply = "outcome unknown: the run stopped while this message was being sent; check the recipient's mailbox before resending"

// Journal is an open results file. Record the outcome of every recipient
// with [Journal.Record], announcing each transaction with [Journal.Begin]
// before the end of DATA; finish with [Journal.Close].
//
// All methods are safe for concurrent use by several sending workers.
type Journal struct {
	path string

	mu       sync.Mutex
	f        *os.File // the results file, O_APPEND
	inflight *os.File // the .inflight sidecar, O_APPEND
	size     int64    // end of the results file: where the next line lands
	idx      index
	open     map[int]begun // rows with a Begin and no outcome yet
	maxRow   int           // highest row written so far, to notice rows out of order
	ordered  bool          // the file already holds one line per row in row order
	err      error         // the first failed write or fsync; see failLocked
	closed   bool

	recovered int
	warnings  []string
	damaged   []int // lines Open skipped, in file order
	// legacy: the file has the eight columns from before the relay
	// column, until Open rewrites it (upgrade).
	legacy bool
}

// begun is a transaction announced by Begin whose outcome is not recorded yet.
type begun struct{ email, messageID, relay string }

// InflightPath is the sidecar file that records the transactions in flight
// for the results file at path.
func InflightPath(path string) string { return path + ".inflight" }

// Open opens the results file at path, creating it with its header when it
// does not exist. An existing file is read back: its rows become available
// to [Journal.Lookup], a line cut short by a crash or zeroed by a power loss
// is dropped (see [Journal.DamagedLines]), and transactions left in flight by a crashed run are
// recorded as unknown (see [Journal.Recovered]).
//
// A file with another header is refused with an error wrapping ErrNotJournal,
// and a file held by another run with one wrapping ErrLocked.
func Open(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open results file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, &FileError{Path: path, Err: err,
			Help: "wait for the other run to finish, or set another results file in [send]"}
	}
	j := &Journal{path: path, f: f, open: map[int]begun{}, ordered: true}
	if err := j.load(); err != nil {
		f.Close()
		return nil, err
	}
	// A compaction cut short leaves its temporary copy; the results file itself is intact.
	os.Remove(compactPath(path))
	if err := j.recoverInflight(); err != nil {
		f.Close()
		if j.inflight != nil {
			j.inflight.Close()
		}
		return nil, err
	}
	if j.legacy {
		return j.upgrade()
	}
	return j, nil
}

// Len is the number of distinct rows with an outcome.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.idx.rows
}

// Lookup reports the last outcome recorded for row, by an earlier run or this one.
func (j *Journal) Lookup(row int) (Previous, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.idx.get(row)
	if !ok {
		return Previous{}, false
	}
	return Previous{Status: statuses[e.status], EmailHash: e.hash}, true
}

// Recovered is how many rows left in flight by a crashed run Open recorded as unknown.
func (j *Journal) Recovered() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.recovered
}

// Warnings are one-line notes on damage Open repaired, such as a last line
// cut short by a crash or a power loss; empty for a clean file.
func (j *Journal) Warnings() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.warnings)
}

// DamagedLines are the line numbers (the header is line 1) of the lines Open
// skipped because a crash or a power loss had damaged them; [Journal.Warnings]
// describes each. Their rows count as never sent. Empty for a clean file.
func (j *Journal) DamagedLines() []int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.damaged)
}

// Begin announces that the transaction for row is about to finish DATA on
// relay. Call it before sending the final "." and send it only if Begin
// succeeded: if the run dies before the matching Record, the next Open
// records the row as unknown, naming the relay, instead of leaving it to
// be sent again.
func (j *Journal) Begin(row int, email, messageID, relay string) error {
	if row <= 0 || row > MaxRow {
		return fmt.Errorf("begin row %d: row out of range 1..%d", row, MaxRow)
	}
	email, messageID, relay = oneLine(email), oneLine(messageID), oneLine(relay)
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usableLocked(); err != nil {
		return err
	}
	lw := getLine()
	defer putLine(lw)
	line := lw.format(strconv.Itoa(row), strconv.FormatInt(j.size, 10), email, messageID, relay)
	if _, err := j.inflight.Write(line); err != nil {
		// A torn Begin line is harmless: Open ignores an unterminated last line,
		// the caller will not finish DATA after an error, and nothing more is
		// written after it.
		return j.failLocked(InflightPath(j.path), fmt.Sprintf("record start of row %d", row), err)
	}
	j.open[row] = begun{email: email, messageID: messageID, relay: relay}
	return nil
}

// Record appends the final outcome of one recipient. When it returns nil the
// outcome survives a crash of the process; it survives a power loss after
// the next Sync. After a failed write or fsync (a full disk, say) it records
// nothing more and returns that first error, whose hint says what to do.
func (j *Journal) Record(e Entry) error {
	if e.Row <= 0 || e.Row > MaxRow {
		return fmt.Errorf("record row %d: row out of range 1..%d", e.Row, MaxRow)
	}
	if e.Status.code() == 0 {
		return fmt.Errorf("record row %d: unknown status %q", e.Row, e.Status)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	email := oneLine(e.Email)
	fields := [...]string{
		strconv.Itoa(e.Row),
		EscapeCell(email),
		string(e.Status),
		strconv.Itoa(e.Code),
		EscapeCell(human.Clip(oneLine(e.Reply), maxReply)),
		oneLine(e.MessageID),
		strconv.Itoa(e.Attempts),
		e.Time.UTC().Format(time.RFC3339),
		EscapeCell(oneLine(e.Relay)),
	}
	lw := getLine()
	defer putLine(lw)
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.usableLocked(); err != nil {
		return err
	}
	return j.appendLocked(e.Row, e.Status, HashEmail(email), lw.format(fields[:]...))
}

// upgrade rewrites a file from before the relay column with it, empty for
// the rows it holds, so that the lines of this run can name their relay,
// and opens it again. What Open found (recovered rows, damaged lines) is
// kept. It runs after recoverInflight, whose unknown lines it rewrites
// too.
func (j *Journal) upgrade() (*Journal, error) {
	j.mu.Lock()
	err := j.compactLocked() // writes every kept line with an empty relay; closes j.f
	j.mu.Unlock()
	j.inflight.Close()
	if j.f != nil {
		j.f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("add the relay column: %w", err)
	}
	nj, err := Open(j.path)
	if err != nil {
		return nil, err
	}
	nj.recovered, nj.warnings, nj.damaged = j.recovered, j.warnings, j.damaged
	return nj, nil
}

func (j *Journal) usableLocked() error {
	if j.closed {
		return fmt.Errorf("%s: %w", j.path, ErrClosed)
	}
	return j.err
}

// appendLocked writes one complete line in one call and indexes it.
func (j *Journal) appendLocked(row int, st Status, hash uint64, line []byte) error {
	if len(line) > maxLine {
		return fmt.Errorf("record row %d in %s: line of %d bytes is too long", row, j.path, len(line))
	}
	off := j.size
	if n, err := j.f.Write(line); err != nil {
		if n > 0 {
			// Take back the partial line, so that the file ends on a whole
			// line; if that fails too, the next Open drops it.
			_ = j.f.Truncate(off)
		}
		return j.failLocked(j.path, fmt.Sprintf("record row %d", row), err)
	}
	j.size += int64(len(line))
	if j.idx.set(row, st.code(), hash, off, len(line)) {
		j.ordered = false
	}
	if row < j.maxRow {
		j.ordered = false
	}
	j.maxRow = max(j.maxRow, row)
	delete(j.open, row)
	return nil
}

// Sync flushes the results file and the in-flight file to stable storage,
// so that what was recorded survives a power loss. Call it every few
// seconds during a run, not after every outcome. A failure is kept: the
// next Begin, Record and Close return it too.
func (j *Journal) Sync() error {
	j.mu.Lock()
	f, inflight, err := j.f, j.inflight, j.usableLocked()
	j.mu.Unlock()
	if err != nil {
		return err
	}
	// Outside the lock: workers keep appending while the disk catches up.
	path, err := j.path, f.Sync()
	if err == nil {
		path, err = InflightPath(j.path), inflight.Sync()
	}
	if err != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.failLocked(path, "sync", err)
	}
	return nil
}

// diskHint is the advice for a results file that can no longer be written.
const diskHint = "free space on its disk, then resume the run: every outcome recorded before the failure is kept"

// failLocked keeps the first failed write or fsync of the results file or
// its sidecar and returns it. From then on Begin, Record, Sync and Close
// return that error and write nothing, so that the run stops instead of
// sending messages whose outcomes could not be kept.
func (j *Journal) failLocked(path, what string, err error) error {
	if j.err == nil {
		j.err = &FileError{Path: path, Err: fmt.Errorf("%s: %w", what, fsafe.Cause(err)), Help: diskHint}
	}
	return j.err
}

// Close ends a run that stopped in good order. A transaction announced by
// Begin without an outcome is recorded as unknown. Then the file is synced,
// compacted to one row per recipient in row order (atomically, by renaming a
// complete copy over it), and the .inflight file is removed. On error the
// results file is still valid and a later Open recovers what is needed.
// Closing twice is harmless.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	err := j.finishLocked()
	if j.f != nil {
		if cerr := j.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close results file: %w", cerr)
		}
	}
	if j.inflight != nil {
		j.inflight.Close()
	}
	return err
}

func (j *Journal) finishLocked() error {
	if j.err != nil {
		return j.err
	}
	rows := make([]int, 0, len(j.open))
	for row := range j.open {
		rows = append(rows, row)
	}
	slices.Sort(rows)
	now := time.Now().UTC().Format(time.RFC3339)
	for _, row := range rows {
		if err := j.appendLocked(row, Unknown, HashEmail(j.open[row].email), j.unknownLine(row, j.open[row], now)); err != nil {
			return err
		}
	}
	if err := j.f.Sync(); err != nil {
		return j.failLocked(j.path, "sync", err)
	}
	// Every transaction now has its outcome in the results file, so the
	// in-flight file can go before compaction changes the offsets it names.
	if err := j.inflight.Truncate(0); err != nil {
		return fmt.Errorf("empty in-flight file: %w", err)
	}
	if err := j.inflight.Sync(); err != nil {
		return fmt.Errorf("sync in-flight file: %w", err)
	}
	if err := j.compactLocked(); err != nil {
		return err
	}
	j.inflight.Close()
	j.inflight = nil
	if err := os.Remove(InflightPath(j.path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove in-flight file: %w", err)
	}
	return nil
}

// Abandon closes the files without compacting, for a run stopped in a hurry
// (a second Ctrl-C). The results file stays valid and the .inflight file
// stays behind, so the next Open records unfinished transactions as unknown.
func (j *Journal) Abandon() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var errs []error
	for _, f := range []*os.File{j.f, j.inflight} {
		if err := f.Sync(); err != nil {
			errs = append(errs, err)
		}
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unknownLine is the results line for a transaction whose outcome cannot be known.
func (j *Journal) unknownLine(row int, b begun, now string) []byte {
	lw := getLine()
	defer putLine(lw)
	fields := []string{strconv.Itoa(row), EscapeCell(b.email), string(Unknown), "0",
		unknownReply, b.messageID, "1", now, EscapeCell(b.relay)}
	if j.legacy {
		fields = fields[:legacyColumns] // upgrade adds the column to every line
	}
	return slices.Clone(lw.format(fields...))
}

// HashEmail is the 64-bit FNV-1a hash of an address, trimmed and lower-cased,
// as kept per row in place of the address itself.
func HashEmail(email string) uint64 {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	s := strings.ToLower(strings.TrimSpace(email))
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

// oneLine replaces control characters (CR and LF from multi-line server
// replies, tabs, NUL) with spaces and invalid UTF-8 with U+FFFD: Excel users
// expect one line per cell, and a NUL in the file means power-loss damage.
func oneLine(s string) string {
	clean := utf8.ValidString(s)
	for i := 0; clean && i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// EscapeCell is [fsafe.EscapeCell]: every CSV file this tool writes uses
// that one rule against formula injection.
func EscapeCell(s string) string { return fsafe.EscapeCell(s) }

func unescapeCell(s string) string { return fsafe.UnescapeCell(s) }
