package starter_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/starter"
)

func byName(t *testing.T, files []starter.File, name string) []byte {
	t.Helper()
	for _, f := range files {
		if f.Name == name {
			return f.Data
		}
	}
	t.Fatalf("no %s among the starter's files", name)
	return nil
}

// TestWorkbookHoldsTheList: init --xlsx writes the rows of the CSV into
// the workbook cell for cell, as text, so a ticket "0417" shows in Excel
// with its zero; the campaign names the workbook and the CSV is not
// written.
func TestWorkbookHoldsTheList(t *testing.T) {
	plain, err := starter.Files(false)
	if err != nil {
		t.Fatal(err)
	}
	book, err := starter.Files(true)
	if err != nil {
		t.Fatal(err)
	}
	want, err := csv.NewReader(bytes.NewReader(byName(t, plain, "recipients.csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(byName(t, book, "recipients.xlsx")))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("workbook rows %q, want the CSV's %q", got, want)
	}
	for _, fl := range book {
		if fl.Name == "recipients.csv" {
			t.Error("init --xlsx writes recipients.csv too")
		}
	}
	toml := string(byName(t, book, starter.CampaignFile))
	if !strings.Contains(toml, `recipients  = "recipients.xlsx"`) || strings.Contains(toml, `"recipients.csv"`) {
		t.Errorf("the campaign does not name recipients.xlsx alone:\n%s", toml)
	}
}
