package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func summary(t *testing.T, path string, n int) Summary {
	t.Helper()
	s, err := ReadSummary(path, n, nil, nil)
	if err != nil {
		t.Fatalf("ReadSummary: %v", err)
	}
	return s
}

func shownRows(s Summary) string {
	var b []string
	for _, e := range s.Shown {
		b = append(b, fmt.Sprintf("%d %s %s", e.Row, e.Email, e.Status))
	}
	return strings.Join(b, "; ")
}

func TestSummaryShowsEveryRowWhenTheyFit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 1, "ana@example.com", Sent)
	record(t, j, 2, "bo@example.com", Failed)
	record(t, j, 3, "cy@example.com", Sent)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	s := summary(t, path, 3)
	if got, want := shownRows(s), "1 ana@example.com sent; 2 bo@example.com failed; 3 cy@example.com sent"; got != want {
		t.Errorf("shown %q, want %q", got, want)
	}
	if s.Rows != 3 || s.Counts[Sent] != 2 || s.Counts[Failed] != 1 || s.Counts[Unknown] != 0 {
		t.Errorf("rows %d, counts %v", s.Rows, s.Counts)
	}
	e := s.Shown[1]
	if e.Code != 250 || e.Reply != "2.0.0 Ok: queued" || e.MessageID != "<2@example.com>" || e.Attempts != 1 || !e.Time.Equal(t0.Truncate(1e9)) {
		t.Errorf("row 2 read back as %+v", e)
	}
}

func TestSummaryShowsThoseNotSentFirstWhenTooMany(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	for row := 1; row <= 10; row++ {
		st := Sent
		if row%4 == 0 {
			st = Failed
		}
		record(t, j, row, fmt.Sprintf("u%d@example.com", row), st)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := shownRows(summary(t, path, 5)), "4 u4@example.com failed; 8 u8@example.com failed"; got != want {
		t.Errorf("shown %q, want %q", got, want)
	}
	if got := summary(t, path, 1); len(got.Shown) != 1 || got.Shown[0].Row != 4 || got.Rows != 10 || got.Counts[Sent] != 8 {
		t.Errorf("with n=1: %+v", got)
	}
}

// A run that died leaves several lines per row, out of order; the last
// one is the row's outcome, as for resume.
func TestSummaryOfAnUncompactedFileTakesTheLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 3, "cy@example.com", Unknown)
	record(t, j, 1, "ana@example.com", Failed)
	record(t, j, 2, "bo@example.com", Sent)
	record(t, j, 1, "ana@example.com", Sent)
	record(t, j, 3, "cy@example.com", Failed)
	if err := j.Abandon(); err != nil {
		t.Fatal(err)
	}
	s := summary(t, path, 2)
	if got, want := shownRows(s), "3 cy@example.com failed"; got != want {
		t.Errorf("shown %q, want %q", got, want)
	}
	if s.Rows != 3 || s.Counts[Sent] != 2 || s.Counts[Failed] != 1 || s.Counts[Unknown] != 0 {
		t.Errorf("rows %d, counts %v", s.Rows, s.Counts)
	}
	if got, want := shownRows(summary(t, path, 3)), "1 ana@example.com sent; 2 bo@example.com sent; 3 cy@example.com failed"; got != want {
		t.Errorf("all shown %q, want %q", got, want)
	}
}

// What resume reads, the summary reads: a file saved by a spreadsheet
// (no BOM, header in quotes and capitals, LF), a line zeroed by a power
// loss, a last line cut short, and cells escaped against formulas.
func TestSummaryReadsWhatResumeReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	text := `"Row","Email","Status","Code","Reply","Message_ID","Attempts","Time"` + "\n" +
		"1,'=ana@example.com,failed,550,'=HYPERLINK(x),<1@x>,2,2025-01-02T03:04:05Z\n" +
		"\x00\x00\x00\x00\n" +
		"2,bo@example.com,sent,,ok,<2@x>,,\n" +
		"3,cy@example.com,sent,250,cut sho"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := summary(t, path, 5)
	if got, want := shownRows(s), "1 =ana@example.com failed; 2 bo@example.com sent"; got != want {
		t.Errorf("shown %q, want %q", got, want)
	}
	if s.Shown[0].Reply != "=HYPERLINK(x)" || s.Shown[0].Code != 550 || s.Shown[0].Attempts != 2 {
		t.Errorf("row 1 read back as %+v", s.Shown[0])
	}
	if s.Shown[1].Code != 0 || !s.Shown[1].Time.IsZero() {
		t.Errorf("empty cells read back as %+v", s.Shown[1])
	}
	// And resume agrees.
	j := open(t, path)
	defer j.Abandon()
	if j.Len() != s.Rows {
		t.Errorf("resume sees %d rows, the summary %d", j.Len(), s.Rows)
	}
}

func TestSummaryRefusesAnotherFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(path, []byte("name,email\nAna,ana@example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSummary(path, 5, nil, nil); !errors.Is(err, ErrNotJournal) {
		t.Errorf("err = %v, want ErrNotJournal", err)
	}
	if _, err := ReadSummary(filepath.Join(t.TempDir(), "missing.csv"), 5, nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

// Lasting counts the rows whose last outcome the caller calls lasting:
// a row failed for good and later sent is no longer one, and the reply
// the caller sees is the one written, formula escaping undone.
func TestSummaryCountsLastingFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	fail := func(row int, code int, reply string) {
		t.Helper()
		if err := j.Record(Entry{Row: row, Email: fmt.Sprintf("u%d@example.com", row), Status: Failed, Code: code, Reply: reply, Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	fail(1, 550, "5.1.1 no such user (at rcpt)")
	fail(2, 451, "4.3.0 try later (at data)")
	fail(3, 550, "5.1.1 no such user (at rcpt)")
	fail(4, 550, "-5.1.1 looks like a formula (at rcpt)")
	record(t, j, 3, "u3@example.com", Sent)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	var asked []string
	s, err := ReadSummary(path, 0, func(e Entry) bool {
		asked = append(asked, fmt.Sprintf("%d %s %d %s", e.Row, e.Status, e.Code, e.Reply))
		return e.Code == 550
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Lasting != 2 || s.Counts[Failed] != 3 || s.Counts[Sent] != 1 {
		t.Errorf("lasting %d, counts %v; want 2 lasting of 3 failed", s.Lasting, s.Counts)
	}
	if got := strings.Join(asked, "; "); !strings.Contains(got, "4 failed 550 -5.1.1 looks like a formula (at rcpt)") {
		t.Errorf("asked about %q", got)
	}
	if s, _ := ReadSummary(path, 0, nil, nil); s.Lasting != 0 {
		t.Errorf("without a lasting function: %d", s.Lasting)
	}
}

// Classes groups the rows whose last outcome is failed or unknown by the
// class the caller names, the largest first: a row failed and later sent
// leaves its class, one failed again counts in its new class only, also
// when the runs appended out of row order.
func TestSummaryGroupsFailuresByClass(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	outcome := func(row int, st Status, code int, reply string) {
		t.Helper()
		if err := j.Record(Entry{Row: row, Email: fmt.Sprintf("u%d@example.com", row), Status: st, Code: code, Reply: reply, Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for row := 1; row <= 6; row++ {
		outcome(row, Failed, 550, "5.1.1 no such user (at rcpt)")
	}
	outcome(7, Failed, 452, "4.2.2 mailbox full (at rcpt)")
	outcome(8, Unknown, 0, "no reply")
	outcome(2, Sent, 250, "ok")                             // retried: no longer a failure
	outcome(3, Failed, 452, "4.2.2 mailbox full (at rcpt)") // failed again, otherwise
	outcome(9, Sent, 250, "ok")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	class := func(e Entry) string {
		if e.Status == Unknown {
			return "no reply"
		}
		first, _, _ := strings.Cut(e.Reply, " ")
		return first
	}
	s, err := ReadSummary(path, 3, nil, class)
	if err != nil {
		t.Fatal(err)
	}
	want := []ClassCount{{"5.1.1", 4}, {"4.2.2", 2}, {"no reply", 1}}
	if !slices.Equal(s.Classes, want) {
		t.Errorf("classes %v, want %v", s.Classes, want)
	}
	if s, _ := ReadSummary(path, 3, nil, nil); s.Classes != nil {
		t.Errorf("without a class function: %v", s.Classes)
	}
}
