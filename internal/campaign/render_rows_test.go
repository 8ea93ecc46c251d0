package campaign_test

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

const fiveRows = "name,email\nAlice,alice@example.com\nBob,bob@example\nCarol,carol@example.com\nDan,dan@\nEve,eve@example.com\n"

// indexRows reads index.csv back: its rows and files, header left out.
func indexRows(t *testing.T, out string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "index.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows[1:]
}

// --skip-invalid writes the valid rows, reports the others as skipped with
// their row and reason, and index.csv lists exactly the files written.
func TestRenderSkipInvalid(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{"recipients.csv": fiveRows})
	out := filepath.Join(dir, "out")
	var ps []campaign.Problem
	sum, err := c.Render(context.Background(), out, campaign.RenderOptions{SkipInvalid: true}, collect(&ps))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Refused || sum.Written != 3 || sum.Skipped != 2 {
		t.Fatalf("summary %+v, want 3 written and 2 skipped", sum)
	}
	var skipped []int
	for _, p := range ps {
		if p.Severity != campaign.Warning || !strings.HasPrefix(p.Message, "skipped: ") {
			t.Errorf("problem %+v, want a warning that the row is skipped", p)
		}
		skipped = append(skipped, p.Row)
	}
	if !slices.Equal(skipped, []int{2, 4}) {
		t.Errorf("skipped rows reported: %v, want 2 and 4", skipped)
	}
	files := []string{"00001-alice@example.com.eml", "00003-carol@example.com.eml", "00005-eve@example.com.eml"}
	if got := entries(t, out); !slices.Equal(got, append(slices.Clone(files), "index.csv")) {
		t.Errorf("out holds %q", got)
	}
	var listed []string
	for _, r := range indexRows(t, out) {
		listed = append(listed, r[3])
	}
	if !slices.Equal(listed, files) {
		t.Errorf("index.csv lists %q, want %q", listed, files)
	}

	// No valid row: nothing is written, whatever --skip-invalid says.
	bad, dir := loadCheck(t, map[string]string{"recipients.csv": "name,email\nBob,bob@example\n"})
	sum, err = bad.Render(context.Background(), filepath.Join(dir, "out"), campaign.RenderOptions{SkipInvalid: true}, func(campaign.Problem) {})
	if err != nil || !sum.Refused || sum.Written != 0 {
		t.Fatalf("render of no valid row: %+v, %v; want refused", sum, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("out exists after a refused render: %v", err)
	}
}

// --rows renders the rows selected and checks only those one by one: a bad
// row outside the selection is not reported.
func TestRenderRows(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{"recipients.csv": fiveRows})
	c = withRows(t, c, "3,5")
	out := filepath.Join(dir, "out")
	sum, err := c.Render(context.Background(), out, campaign.RenderOptions{}, func(p campaign.Problem) { t.Error(p.Message) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Refused || sum.Written != 2 || sum.Rows != 2 || sum.ListRows != 5 {
		t.Fatalf("summary %+v, want rows 3 and 5 of 5 written", sum)
	}
	var rows []string
	for _, r := range indexRows(t, out) {
		rows = append(rows, r[0])
	}
	if !slices.Equal(rows, []string{"3", "5"}) {
		t.Errorf("index.csv rows %q, want 3 and 5", rows)
	}
}

// --show hands over the first N valid messages with their text part; with
// no folder nothing is written. A campaign without a text template shows
// the text made from the HTML, and says so.
func TestRenderShow(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{
		"recipients.csv": fiveRows,
		"campaign.toml":  strings.Replace(checkCampaign, `text       = "body.txt"`, `html       = "body.html"`, 1) + checkServer,
		"body.html":      "<p>Hi <b>{{.name}}</b>, see <a href=\"https://example.com/\">the site</a>.</p>\n",
	})
	before := entries(t, dir)
	var shown []campaign.Rendered
	sum, err := c.Render(context.Background(), "", campaign.RenderOptions{Show: 2, Shown: func(r campaign.Rendered) { shown = append(shown, r) }}, func(campaign.Problem) {})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Refused || sum.Errors != 2 {
		t.Errorf("summary %+v, want the 2 bad rows to count as errors", sum)
	}
	if len(shown) != 2 || shown[0].Row != 1 || shown[1].Row != 3 {
		t.Fatalf("shown %+v, want rows 1 and 3, the first two valid", shown)
	}
	m := shown[1].Message
	if !m.TextFromHTML || !strings.Contains(m.Text, "Hi Carol") || strings.Contains(m.Text, "<b>") {
		t.Errorf("text part %q (from HTML %v), want the HTML made text", m.Text, m.TextFromHTML)
	}
	if got := entries(t, dir); !slices.Equal(got, before) {
		t.Errorf("render --show wrote files: the folder holds %q, was %q", got, before)
	}
}

// Messages (the preview's list) walks the rows selected, bad ones with
// their error; Message refuses a row outside them; a selection past the
// list's end is the walk's error.
func TestMessagesOfASelection(t *testing.T) {
	c, _ := loadCheck(t, map[string]string{"recipients.csv": fiveRows})
	c = withRows(t, c, "2-3")
	var rows []int
	err := c.Messages(context.Background(), func(r campaign.Rendered) error {
		rows = append(rows, r.Row)
		if (r.Row == 2) != (r.Err != nil) {
			t.Errorf("row %d: error %v", r.Row, r.Err)
		}
		return nil
	})
	if err != nil || !slices.Equal(rows, []int{2, 3}) {
		t.Fatalf("Messages: rows %v, %v; want 2 and 3", rows, err)
	}
	if _, err := c.Message(context.Background(), 5); !errors.Is(err, campaign.ErrNoSuchRow) {
		t.Errorf("Message(5) outside the selection: %v, want ErrNoSuchRow", err)
	}
	if r, err := c.Message(context.Background(), 3); err != nil || r.Message == nil || r.Message.Recipient() != "carol@example.com" {
		t.Errorf("Message(3): %+v, %v", r, err)
	}

	c = withRows(t, c, "4-8")
	var pe *campaign.PastEndError
	err = c.Messages(context.Background(), func(campaign.Rendered) error { return nil })
	if !errors.As(err, &pe) || pe.PastEnd != "6-8" || pe.Rows != 5 {
		t.Errorf("Messages of rows 4-8 of 5: %v, want a PastEndError for 6-8", err)
	}
}
