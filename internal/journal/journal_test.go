package journal

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CST", 8*3600))

func open(t testing.TB, path string) *Journal {
	t.Helper()
	j, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return j
}

func record(t *testing.T, j *Journal, row int, email string, st Status) {
	t.Helper()
	err := j.Record(Entry{Row: row, Email: email, Status: st, Code: 250, Reply: "2.0.0 Ok: queued",
		MessageID: fmt.Sprintf("<%d@example.com>", row), Attempts: 1, Time: t0})
	if err != nil {
		t.Fatalf("Record row %d: %v", row, err)
	}
}

// readResults parses the results file as a spreadsheet program would and
// checks that it starts with a BOM and the header.
func readResults(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, bom) {
		t.Fatalf("%s does not start with a BOM: %q", path, data[:min(len(data), 20)])
	}
	recs, err := csv.NewReader(bytes.NewReader(data[len(bom):])).ReadAll()
	if err != nil {
		t.Fatalf("%s does not parse as CSV: %v", path, err)
	}
	if got := strings.Join(recs[0], ","); got != "row,email,status,code,reply,message_id,attempts,time,relay" {
		t.Fatalf("header = %q", got)
	}
	return recs[1:]
}

func rowsOf(recs [][]string) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%s:%s:%s ", r[0], r[1], r[2])
	}
	return strings.TrimSpace(b.String())
}

func lookup(t *testing.T, j *Journal, row int) Status {
	t.Helper()
	p, ok := j.Lookup(row)
	if !ok {
		return ""
	}
	return p.Status
}

func TestCreateRecordReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	if j.Len() != 0 || j.Recovered() != 0 || len(j.Warnings()) != 0 || len(j.DamagedLines()) != 0 {
		t.Fatalf("new journal: Len %d Recovered %d Warnings %q DamagedLines %v", j.Len(), j.Recovered(), j.Warnings(), j.DamagedLines())
	}
	record(t, j, 1, "Ana@Example.com", Sent)
	if err := j.Record(Entry{Row: 2, Email: "bob@example", Status: Failed, Code: 550,
		Reply: "5.1.1 <bob@example>: Recipient address rejected:\r\n User unknown", Attempts: 1, Time: t0, Relay: "=relay-b"}); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(Entry{Row: 3, Status: Skipped, Reply: "row 3: email: missing address", Time: t0}); err != nil {
		t.Fatal(err)
	}
	if err := j.Abandon(); err != nil {
		t.Fatal(err)
	}

	recs := readResults(t, path)
	want := [][]string{
		{"1", "Ana@Example.com", "sent", "250", "2.0.0 Ok: queued", "<1@example.com>", "1", "2025-03-14T01:26:53Z", ""},
		{"2", "bob@example", "failed", "550", "5.1.1 <bob@example>: Recipient address rejected:   User unknown", "", "1", "2025-03-14T01:26:53Z", "'=relay-b"},
		{"3", "", "skipped", "0", "row 3: email: missing address", "", "0", "2025-03-14T01:26:53Z", ""},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Fatalf("results file:\n got %q\nwant %q", recs, want)
	}
	if data, _ := os.ReadFile(path); !bytes.HasSuffix(data, []byte("\r\n")) || bytes.Count(data, []byte("\n")) != 4 {
		t.Fatalf("want 4 CRLF-terminated lines, got %q", data)
	}

	j = open(t, path)
	defer j.Close()
	if j.Len() != 3 || len(j.DamagedLines()) != 0 {
		t.Fatalf("after reopen: Len %d, want 3; DamagedLines %v", j.Len(), j.DamagedLines())
	}
	p, ok := j.Lookup(1)
	if !ok || p.Status != Sent || p.EmailHash != HashEmail(" ana@example.COM ") {
		t.Fatalf("Lookup(1) = %+v, %v", p, ok)
	}
	if s := lookup(t, j, 2); s != Failed {
		t.Fatalf("Lookup(2) = %q", s)
	}
	if s := lookup(t, j, 3); s != Skipped {
		t.Fatalf("Lookup(3) = %q", s)
	}
	for _, row := range []int{0, 4, 1000, -1} {
		if _, ok := j.Lookup(row); ok {
			t.Fatalf("Lookup(%d) found an outcome", row)
		}
	}
	c := j.Counts()
	if c[Sent] != 1 || c[Failed] != 1 || c[Skipped] != 1 || c[Unknown] != 0 || c[Bounced] != 0 || len(c) != 5 {
		t.Fatalf("Counts = %v", c)
	}
}

func TestLastOutcomeWinsAndCloseCompacts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "results.csv")
	j := open(t, path)
	record(t, j, 3, "c@example.com", Sent)
	record(t, j, 1, "a@example.com", Unknown)
	record(t, j, 2, "b@example.com", Failed)
	record(t, j, 5, "e@example.com", Sent)
	if err := j.Abandon(); err != nil {
		t.Fatal(err)
	}

	// A later run resends the unknown and retries the failure.
	j = open(t, path)
	if c := j.Counts(); c[Unknown] != 1 || c[Failed] != 1 || c[Sent] != 2 {
		t.Fatalf("Counts of earlier run = %v", c)
	}
	record(t, j, 1, "a@example.com", Sent)
	record(t, j, 2, "b@example.com", Failed)
	record(t, j, 2, "b@example.com", Sent)
	if s := lookup(t, j, 2); s != Sent {
		t.Fatalf("Lookup(2) during run = %q", s)
	}
	if err := j.Abandon(); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(readResults(t, path)); got != "3:c@example.com:sent 1:a@example.com:unknown 2:b@example.com:failed 5:e@example.com:sent 1:a@example.com:sent 2:b@example.com:failed 2:b@example.com:sent" {
		t.Fatalf("appended file: %s", got)
	}

	j = open(t, path)
	if j.Len() != 4 || lookup(t, j, 1) != Sent || lookup(t, j, 2) != Sent {
		t.Fatalf("after reopen: Len %d, row 1 %q, row 2 %q", j.Len(), lookup(t, j, 1), lookup(t, j, 2))
	}
	if c := j.Counts(); c[Sent] != 4 || c[Unknown] != 0 || c[Failed] != 0 {
		t.Fatalf("Counts = %v", c)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(readResults(t, path)); got != "1:a@example.com:sent 2:b@example.com:sent 3:c@example.com:sent 5:e@example.com:sent" {
		t.Fatalf("compacted file: %s", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files left beside the results: %v", entries)
	}

	// The compacted file reads back the same.
	j = open(t, path)
	defer j.Close()
	if j.Len() != 4 || lookup(t, j, 2) != Sent {
		t.Fatalf("after compaction: Len %d, row 2 %q", j.Len(), lookup(t, j, 2))
	}
}

func TestInflightBecomesUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	// Row 1: finished. Row 2: crashed after the end of DATA. Row 3: a temporary
	// failure after DATA, then a retry that finished. Row 4: sent, then sent again
	// in the same run and lost.
	must(t, j.Begin(1, "a@example.com", "<1@example.com>", ""))
	record(t, j, 1, "a@example.com", Sent)
	must(t, j.Begin(2, "=b@example.com", "<2@example.com>", ""))
	must(t, j.Begin(3, "c@example.com", "<3@example.com>", ""))
	must(t, j.Begin(3, "c@example.com", "<3@example.com>", ""))
	record(t, j, 3, "c@example.com", Sent)
	must(t, j.Begin(4, "d@example.com", "<4@example.com>", ""))
	record(t, j, 4, "d@example.com", Sent)
	must(t, j.Begin(4, "d@example.com", "<4b@example.com>", ""))
	must(t, j.Abandon()) // as good as kill -9 for what is on disk

	j = open(t, path)
	if j.Recovered() != 2 {
		t.Fatalf("Recovered = %d, want 2", j.Recovered())
	}
	for row, want := range map[int]Status{1: Sent, 2: Unknown, 3: Sent, 4: Unknown} {
		if got := lookup(t, j, row); got != want {
			t.Errorf("row %d: %q, want %q", row, got, want)
		}
	}
	if p, _ := j.Lookup(2); p.EmailHash != HashEmail("=b@example.com") {
		t.Errorf("row 2 hash does not match its address")
	}
	if fi, err := os.Stat(InflightPath(path)); err != nil || fi.Size() != 0 {
		t.Fatalf("in-flight file after recovery: %v, %v", fi, err)
	}
	must(t, j.Close())

	recs := readResults(t, path)
	if got := rowsOf(recs); got != "1:a@example.com:sent 2:'=b@example.com:unknown 3:c@example.com:sent 4:d@example.com:unknown" {
		t.Fatalf("results: %s", got)
	}
	if r := recs[1]; r[3] != "0" || !strings.HasPrefix(r[4], "outcome unknown") || r[5] != "<2@example.com>" || r[6] != "1" {
		t.Fatalf("recovered row: %q", r)
	}
	if recs[3][5] != "<4b@example.com>" {
		t.Fatalf("recovered row 4 names %q, want the message in flight", recs[3][5])
	}
	if _, err := os.Stat(InflightPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("in-flight file left after Close: %v", err)
	}
}

func TestRecoveryIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	must(t, j.Begin(7, "g@example.com", "<7@example.com>", ""))
	must(t, j.Begin(8, "h@example.com", "<8@example.com>", ""))
	must(t, j.Abandon())
	inflight, err := os.ReadFile(InflightPath(path))
	if err != nil {
		t.Fatal(err)
	}

	j = open(t, path)
	if j.Recovered() != 2 {
		t.Fatalf("first recovery: %d rows", j.Recovered())
	}
	must(t, j.Abandon())
	// A crash after the unknowns were written but before the in-flight file was emptied.
	if err := os.WriteFile(InflightPath(path), inflight, 0o644); err != nil {
		t.Fatal(err)
	}
	j = open(t, path)
	if j.Recovered() != 0 || j.Len() != 2 {
		t.Fatalf("second recovery: Recovered %d Len %d", j.Recovered(), j.Len())
	}
	must(t, j.Abandon())
	if got := rowsOf(readResults(t, path)); got != "7:g@example.com:unknown 8:h@example.com:unknown" {
		t.Fatalf("results: %s", got)
	}
}

func TestCloseRecordsUnfinishedAsUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	must(t, j.Begin(2, "b@example.com", "<2@example.com>", ""))
	record(t, j, 1, "a@example.com", Sent)
	must(t, j.Close())
	must(t, j.Close())
	if err := j.Record(Entry{Row: 3, Status: Sent}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
	if got := rowsOf(readResults(t, path)); got != "1:a@example.com:sent 2:b@example.com:unknown" {
		t.Fatalf("results: %s", got)
	}
}

func TestTornLastLineIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 1, "a@example.com", Sent)
	must(t, j.Begin(2, "b@example.com", "<2@example.com>", ""))
	must(t, j.Abandon())
	// The write of row 2's outcome was cut off.
	appendFile(t, path, `2,b@example.com,sent,250,"2.0.0 Ok: qu`)

	j = open(t, path)
	if w := j.Warnings(); len(w) != 1 || !strings.Contains(w[0], "results.csv:3: dropped an incomplete last line") {
		t.Fatalf("Warnings = %q", w)
	}
	if d := j.DamagedLines(); fmt.Sprint(d) != "[3]" {
		t.Fatalf("DamagedLines = %v, want [3]", d)
	}
	if lookup(t, j, 1) != Sent || lookup(t, j, 2) != Unknown || j.Recovered() != 1 {
		t.Fatalf("row 1 %q, row 2 %q, recovered %d", lookup(t, j, 1), lookup(t, j, 2), j.Recovered())
	}
	record(t, j, 3, "c@example.com", Sent)
	must(t, j.Abandon())
	if got := rowsOf(readResults(t, path)); got != "1:a@example.com:sent 2:b@example.com:unknown 3:c@example.com:sent" {
		t.Fatalf("results: %s", got)
	}
}

func TestZeroBlockFromPowerLossIsSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 1, "a@example.com", Sent)
	must(t, j.Abandon())
	appendFile(t, path, strings.Repeat("\x00", 100)+"\r\n"+"2,b@example.com,sent,250,ok,,1,2025-03-14T01:26:53Z,\r\n"+strings.Repeat("\x00", 50))

	j = open(t, path)
	if w := strings.Join(j.Warnings(), "\n"); !strings.Contains(w, "results.csv:3: skipped a damaged line") || !strings.Contains(w, "results.csv:5: dropped an incomplete last line (50 bytes)") {
		t.Fatalf("Warnings = %q", w)
	}
	if d := j.DamagedLines(); fmt.Sprint(d) != "[3 5]" {
		t.Fatalf("DamagedLines = %v, want [3 5]", d)
	}
	if j.Len() != 2 || lookup(t, j, 2) != Sent {
		t.Fatalf("Len %d row 2 %q", j.Len(), lookup(t, j, 2))
	}
	must(t, j.Close())
	if got := rowsOf(readResults(t, path)); got != "1:a@example.com:sent 2:b@example.com:sent" {
		t.Fatalf("results: %s", got)
	}
}

func TestInterruptedCreationStartsOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	if err := os.WriteFile(path, headerLine[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	j := open(t, path)
	record(t, j, 1, "a@example.com", Sent)
	must(t, j.Close())
	if got := rowsOf(readResults(t, path)); got != "1:a@example.com:sent" {
		t.Fatalf("results: %s", got)
	}
}

func TestForeignFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"recipients.csv": "name,email\r\nAna,ana@example.com\r\n",
		"notes.txt":      "hello",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		var fe *FileError
		if !errors.Is(err, ErrNotJournal) || !errors.As(err, &fe) || fe.Help == "" || !strings.Contains(err.Error(), name) {
			t.Fatalf("Open(%s) = %v", name, err)
		}
		if data, _ := os.ReadFile(path); string(data) != content {
			t.Fatalf("Open changed %s: %q", name, data)
		}
	}
}

func TestBadLineIsReportedWithItsLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 1, "a@example.com", Sent)
	must(t, j.Abandon())
	appendFile(t, path, "2,b@example.com,delivered,250,ok,,1,2025-03-14T01:26:53Z,\r\n")
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "results.csv:3:") || !strings.Contains(err.Error(), `"delivered"`) {
		t.Fatalf("Open = %v", err)
	}
}

func TestCellsStayOnOneLineAndAreNotFormulas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	emails := []string{"=HYPERLINK(\"http://x\")@example.com", "+1@example.com", "@a", "'quoted@example.com", "-dash@example.com"}
	for i, e := range emails {
		must(t, j.Record(Entry{Row: i + 1, Email: e, Status: Failed, Reply: "=1+1\nsecond line\x00", Time: t0}))
	}
	must(t, j.Close())
	recs := readResults(t, path)
	wantEmail := []string{"'=HYPERLINK(\"http://x\")@example.com", "'+1@example.com", "'@a", "''quoted@example.com", "'-dash@example.com"}
	for i, r := range recs {
		if r[1] != wantEmail[i] || r[4] != "'=1+1 second line " {
			t.Errorf("row %d: email %q reply %q", i+1, r[1], r[4])
		}
	}
	j = open(t, path)
	defer j.Close()
	for i, e := range emails {
		if p, _ := j.Lookup(i + 1); p.EmailHash != HashEmail(e) {
			t.Errorf("row %d: hash of %q does not survive the file", i+1, e)
		}
	}
}

// A file written before '-' was escaped keeps its meaning: the dash address
// is the recipient it was, so resume does not take it for an edited list.
func TestEarlierFileWithBareDashLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	old := string(headerLine) + "1,-dash@example.com,sent,250,ok,,1,2025-03-14T01:26:53Z,\r\n" +
		"2,'+1@example.com,failed,550,'-5.1.1 unknown,,1,2025-03-14T01:26:53Z,\r\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	j := open(t, path)
	defer j.Close()
	for row, email := range map[int]string{1: "-dash@example.com", 2: "+1@example.com"} {
		if p, ok := j.Lookup(row); !ok || p.EmailHash != HashEmail(email) {
			t.Errorf("row %d: %+v, %v; want the hash of %q", row, p, ok, email)
		}
	}
}

func TestLongReplyIsCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	must(t, j.Record(Entry{Row: 1, Email: "a@example.com", Status: Failed, Reply: strings.Repeat("邮件", 5000), Time: t0}))
	must(t, j.Close())
	r := readResults(t, path)[0]
	if n := utf8.RuneCountInString(r[4]); n != maxReply || !strings.HasSuffix(r[4], "…") || !utf8.ValidString(r[4]) {
		t.Fatalf("reply of %d characters, ending %q", n, r[4][len(r[4])-6:])
	}
}

func TestRecordRejectsBadEntries(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "results.csv"))
	defer j.Close()
	for _, e := range []Entry{{Row: 0, Status: Sent}, {Row: MaxRow + 1, Status: Sent}, {Row: 1, Status: "delivered"}} {
		if err := j.Record(e); err == nil {
			t.Errorf("Record(%+v) succeeded", e)
		}
	}
	if err := j.Begin(0, "", "", ""); err == nil {
		t.Errorf("Begin(0) succeeded")
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("no file locks on " + runtime.GOOS)
	}
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	_, err := Open(path)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v", err)
	}
	must(t, j.Close())
	open(t, path).Close()
}

func TestConcurrentRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	const workers, each = 16, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				row := i*workers + w + 1
				email := fmt.Sprintf("r%d@example.com", row)
				if err := j.Begin(row, email, "", ""); err != nil {
					t.Error(err)
					return
				}
				if err := j.Record(Entry{Row: row, Email: email, Status: Sent, Code: 250, Reply: "ok, queued", Time: t0}); err != nil {
					t.Error(err)
					return
				}
				if _, ok := j.Lookup(row); !ok {
					t.Errorf("row %d not found after Record", row)
				}
				_ = j.Counts()
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if err := j.Sync(); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	if j.Len() != workers*each {
		t.Fatalf("Len = %d", j.Len())
	}
	must(t, j.Close())
	recs := readResults(t, path)
	if len(recs) != workers*each {
		t.Fatalf("%d rows in file", len(recs))
	}
	for i, r := range recs {
		if r[0] != fmt.Sprint(i+1) || r[1] != fmt.Sprintf("r%d@example.com", i+1) || r[4] != "ok, queued" {
			t.Fatalf("line %d: %q", i+2, r)
		}
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "results.csv")
	defer func(old func() time.Time) { now = old }(now)
	now = func() time.Time { return time.Date(2025, 3, 14, 9, 26, 53, 0, time.Local) }

	if name, err := Rotate(path); err != nil || name != "" {
		t.Fatalf("Rotate with no file = %q, %v", name, err)
	}
	var names []string
	for i := range 3 {
		j := open(t, path)
		must(t, j.Begin(i+1, "a@example.com", "", ""))
		must(t, j.Abandon())
		name, err := Rotate(path)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(name))
		if got := rowsOf(readResults(t, name)); got != fmt.Sprintf("%d:a@example.com:unknown", i+1) {
			t.Fatalf("rotated file %s: %s", name, got)
		}
	}
	if want := "results-20250314-092653.csv results-20250314-092653-1.csv results-20250314-092653-2.csv"; strings.Join(names, " ") != want {
		t.Fatalf("names %q, want %q", names, want)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !regexp.MustCompile(`^results-20250314-092653(-\d)?\.csv$`).MatchString(e.Name()) {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
}

func TestLargeFileStreamsWithLittleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads and compacts 20k rows")
	}
	path := filepath.Join(t.TempDir(), "results.csv")
	const n = 20_000
	// Out of order, with a later outcome for every tenth row, so Close must compact.
	var file bytes.Buffer
	file.Write(headerLine)
	lw := newLineWriter()
	line := func(row int, st Status) {
		file.Write(lw.format(fmt.Sprint(row), fmt.Sprintf("someone.with.a.long.address.%d@example.com", row),
			string(st), "550", "5.1.1 Recipient address rejected: User unknown in virtual mailbox table",
			"<20250314092653.someone@example.com>", "1", "2025-03-14T01:26:53Z", "relay-a"))
	}
	for row := n; row >= 1; row-- {
		line(row, Failed)
	}
	for row := 10; row <= n; row += 10 {
		line(row, Sent)
	}
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	file = bytes.Buffer{}

	j, grew := openKept(t, path)
	if grew > 40*n {
		t.Errorf("reading %d rows keeps %d bytes (%d a row)", n, grew, grew/n)
	} else {
		t.Logf("reading %d rows keeps %d bytes (%d a row)", n, grew, grew/n)
	}
	if c := j.Counts(); c[Sent] != n/10 || c[Failed] != n-n/10 {
		t.Fatalf("Counts = %v", c)
	}
	must(t, j.Close())
	recs := readResults(t, path)
	if len(recs) != n {
		t.Fatalf("%d rows after compaction", len(recs))
	}
	for i, r := range recs {
		want := Failed
		if (i+1)%10 == 0 {
			want = Sent
		}
		if r[0] != fmt.Sprint(i+1) || r[2] != string(want) {
			t.Fatalf("line %d: %q", i+2, r)
		}
	}
}

// A shard's results file holds a tenth of a long list's rows, spread over
// all of it: reading it back keeps its rows in a map, not slices as long as
// the list, and Lookup, a new outcome and the compaction at Close work the
// same. Here 150,000 rows, every tenth of 1,500,000.
func TestSparseFileKeepsLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("reads and compacts 150k rows")
	}
	path := filepath.Join(t.TempDir(), "results.shard-3-of-10.csv")
	const n, stride = 150_000, 10
	var file bytes.Buffer
	file.Write(headerLine)
	lw := newLineWriter()
	for i := 1; i <= n; i++ {
		row := i * stride
		file.Write(lw.format(fmt.Sprint(row), fmt.Sprintf("user%d@example.com", row), "sent", "250", "2.0.0 Ok: queued as 4F2A1C3D9E",
			fmt.Sprintf("<%d@example.com>", row), "1", "2025-03-14T01:26:53Z", "relay-a"))
	}
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	file = bytes.Buffer{}
	j, grew := openKept(t, path)
	// Slices to row 1,500,000 would keep 17 bytes for each of those rows,
	// 25 MB; the map keeps under half of that (about 70 bytes a row held).
	if grew > 12<<20 {
		t.Errorf("reading %d rows spread over %d keeps %d bytes (%d a row held)", n, n*stride, grew, grew/n)
	} else {
		t.Logf("reading %d rows spread over %d keeps %d bytes (%d a row held)", n, n*stride, grew, grew/n)
	}
	if lookup(t, j, 20) != Sent || lookup(t, j, 21) != "" || lookup(t, j, n*stride) != Sent || lookup(t, j, n*stride+stride) != "" {
		t.Fatalf("Lookup of rows 20, 21, %d, %d: wrong", n*stride, n*stride+stride)
	}
	must(t, j.Record(Entry{Row: 15, Email: "user15@example.com", Status: Failed, Code: 550, Reply: "no such user", Time: t0}))
	must(t, j.Close())
	recs := readResults(t, path)
	if len(recs) != n+1 || recs[0][0] != "10" || recs[1][0] != "15" || recs[1][2] != "failed" || recs[n][0] != fmt.Sprint(n*stride) {
		t.Fatalf("after Close: %d rows, first %q, %q, last %q", len(recs), recs[0], recs[1], recs[n])
	}
}

// openKept opens the results file at path and says how many bytes of heap
// the open journal keeps.
func openKept(t *testing.T, path string) (*Journal, int64) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	j := open(t, path)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return j, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestStaleCompactionCopyIsRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 2, "b@example.com", Sent)
	record(t, j, 1, "a@example.com", Sent)
	must(t, j.Abandon())
	// A compaction that died before its rename.
	if err := os.WriteFile(compactPath(path), headerLine, 0o644); err != nil {
		t.Fatal(err)
	}
	j = open(t, path)
	if _, err := os.Stat(compactPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale copy still there: %v", err)
	}
	if j.Len() != 2 {
		t.Fatalf("Len = %d", j.Len())
	}
	must(t, j.Close())
}

// The results file lists every address: no other local user may read it,
// while the run writes it, after compaction, or once moved aside.
func TestFilesAreOnlyTheOwners(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "results.csv")
	private := func(name string) {
		t.Helper()
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(name), st.Mode().Perm())
		}
	}
	j := open(t, path)
	record(t, j, 2, "b@example.com", Sent)
	must(t, j.Begin(1, "a@example.com", "<1@example.com>", ""))
	private(path)
	private(InflightPath(path))
	record(t, j, 1, "a@example.com", Sent) // out of order: Close compacts into a new file
	must(t, j.Close())
	private(path)
	moved, err := Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	private(moved)
}

// A full disk stops the run: the failed Record reports it with a hint, and
// nothing is recorded after it even once space is back, because the run
// must not go on sending messages whose outcomes may be lost.
func TestFailedWriteIsKept(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Skip("no /dev/full here")
	}
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 1, "a@example.com", Sent)

	real := j.swapResultsFile(full)
	err = j.Record(Entry{Row: 2, Email: "b@example.com", Status: Sent, Time: t0})
	var fe *FileError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &fe) || fe.Help == "" ||
		err.Error() != path+": record row 2: no space left on device" {
		t.Fatalf("Record on a full disk = %v", err)
	}
	full.Close()
	j.swapResultsFile(real)

	for what, later := range map[string]error{
		"Record": j.Record(Entry{Row: 3, Email: "c@example.com", Status: Sent, Time: t0}),
		"Begin":  j.Begin(4, "d@example.com", "", ""),
		"Sync":   j.Sync(),
		"Close":  j.Close(),
	} {
		if later != err {
			t.Errorf("%s after the failure = %v, want the first error", what, later)
		}
	}
	j = open(t, path)
	defer j.Close()
	if got := rowsOf(readResults(t, path)); got != "1:a@example.com:sent" || j.Recovered() != 0 || len(j.DamagedLines()) != 0 {
		t.Fatalf("results after the failure: %s (recovered %d, damaged %v)", got, j.Recovered(), j.DamagedLines())
	}
}

// A failed periodic fsync means earlier outcomes may not be on disk: it is
// kept, and the next Record returns it, so the run stops.
func TestFailedSyncIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 1, "a@example.com", Sent)

	closed, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	real := j.swapResultsFile(closed)
	serr := j.Sync()
	j.swapResultsFile(real)
	if serr == nil || !strings.HasPrefix(serr.Error(), path+": sync: ") {
		t.Fatalf("Sync = %v", serr)
	}
	if err := j.Record(Entry{Row: 2, Email: "b@example.com", Status: Sent, Time: t0}); err != serr {
		t.Fatalf("Record after a failed Sync = %v, want %v", err, serr)
	}
	if err := j.Close(); err != serr {
		t.Fatalf("Close after a failed Sync = %v, want %v", err, serr)
	}
}

// A results file from before the relay column is rewritten with it when
// it is opened, the old rows' relay empty, a row left in flight recorded
// unknown on the way, so that the rows of the run that resumes it name
// their relay.
func TestFileWithoutRelayColumnResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	old := "\ufeffrow,email,status,code,reply,message_id,attempts,time\r\n" +
		"1,a@example.com,sent,250,ok,<1@example.com>,1,2025-03-14T01:26:53Z\r\n" +
		"2,b@example.com,failed,451,try later,<2@example.com>,5,2025-03-14T01:26:53Z\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(InflightPath(path), []byte("3,0,c@example.com,<3@example.com>\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j := open(t, path)
	if lookup(t, j, 1) != Sent || lookup(t, j, 2) != Failed || lookup(t, j, 3) != Unknown || j.Recovered() != 1 {
		t.Fatalf("rows 1, 2, 3 = %q, %q, %q; recovered %d", lookup(t, j, 1), lookup(t, j, 2), lookup(t, j, 3), j.Recovered())
	}
	recs := readResults(t, path) // the header, and every line with every column
	if len(recs) != 3 || recs[0][8] != "" || recs[2][2] != "unknown" {
		t.Fatalf("after Open: %q", recs)
	}
	must(t, j.Record(Entry{Row: 2, Email: "b@example.com", Status: Sent, Code: 250, Reply: "ok", Attempts: 1, Time: t0, Relay: "relay-a"}))
	must(t, j.Close())
	got := fmt.Sprint(readResults(t, path))
	want := fmt.Sprint([][]string{
		{"1", "a@example.com", "sent", "250", "ok", "<1@example.com>", "1", "2025-03-14T01:26:53Z", ""},
		{"2", "b@example.com", "sent", "250", "ok", "", "1", "2025-03-14T01:26:53Z", "relay-a"},
		{"3", "c@example.com", "unknown", "0", unknownReply, "<3@example.com>", "1", recs[2][7], ""},
	})
	if got != want {
		t.Fatalf("after Close:\n got %s\nwant %s", got, want)
	}
}

// A crash while a row was in flight on a relay leaves it unknown, with
// the relay named, so the user knows whose logs to read.
func TestInflightNamesRelay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	must(t, j.Begin(1, "a@example.com", "<1@example.com>", "relay-c"))
	must(t, j.Abandon())
	j = open(t, path)
	must(t, j.Close())
	if recs := readResults(t, path); recs[0][2] != "unknown" || recs[0][8] != "relay-c" {
		t.Fatalf("row 1 = %q", recs[0])
	}
}
