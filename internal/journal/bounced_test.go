package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bounce read back after the run replaces the row's sent line; the file
// then reads back as bounced everywhere: Lookup (so resume skips it),
// ReadSummary and Entries.
func TestBouncedIsAFinalStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.csv")
	j := open(t, path)
	record(t, j, 1, "ana@example.com", Sent)
	record(t, j, 2, "bo@example.com", Sent)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = open(t, path)
	if err := j.Record(Entry{Row: 2, Email: "bo@example.com", Status: Bounced, Code: 550,
		Reply: "5.1.1 user unknown", MessageID: "<2@example.com>", Attempts: 1, Time: t0}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = open(t, path)
	if p, ok := j.Lookup(2); !ok || p.Status != Bounced || p.EmailHash != HashEmail("bo@example.com") {
		t.Errorf("row 2 reads back as %+v, %v", p, ok)
	}
	j.Close()
	s := summary(t, path, 10)
	if s.Rows != 2 || s.Counts[Bounced] != 1 || s.Counts[Sent] != 1 {
		t.Errorf("rows %d, counts %v", s.Rows, s.Counts)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), "2,bo@example.com,bounced,550,5.1.1 user unknown,<2@example.com>,1,") {
		t.Errorf("file:\n%s", raw)
	}
	var got []string
	if err := Entries(path, func(e Entry) error {
		got = append(got, e.Email+" "+string(e.Status)+" "+e.MessageID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "; ") != "ana@example.com sent <1@example.com>; bo@example.com bounced <2@example.com>" {
		t.Errorf("entries %q", got)
	}
}
