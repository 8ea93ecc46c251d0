package campaign

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// gradeRows are one class's notices, as the CSV holds them and as the
// workbook shows them: IDs with leading zeros, dates, decimals, Chinese.
var gradeRows = [][]string{
	{"id", "name", "email", "date", "score"},
	{"00042", "李雷", "li.lei@example.com", "2026-01-15", "92.5"},
	{"00107", "Han Meimei", "han@example.com", "2026-01-15", "88"},
	{"01000", "王小明", "wang@example.com", "2026-01-16", "0.3"},
}

// twinCampaigns writes the same campaign twice, in folders csv and xlsx:
// once over grades.csv, once over grades.xlsx, a workbook that stores the
// IDs and scores as formatted numbers and the dates as dates. It returns the
// two campaign files.
func twinCampaigns(t *testing.T) (csvCampaign, xlsxCampaign string) {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"campaign.toml": `
from     = "教务处 <office@school.example>"
to       = "{{.name}} <{{.email}}>"
subject  = "成绩通知 {{.id}}: {{.score}}"
text     = "notice.txt.tmpl"
html     = "notice.html.tmpl"
attachments = ["reports/{{.id}}.pdf"]
[smtp]
host = "127.0.0.1"
security = "none"
[send]
rate = "1000/s"
workers = 1
`,
		"notice.txt.tmpl":  "{{.name}}，你好：\n学号 {{.id}}，{{.date}} 考试成绩 {{.score}}。\n",
		"notice.html.tmpl": "<p>{{.name}}，你好：</p><p>学号 {{.id}}，{{.date}} 考试成绩 <b>{{.score}}</b>。</p>\n",
	}
	for _, r := range gradeRows[1:] {
		files["reports/"+r[0]+".pdf"] = "%PDF-1.4\n% report of " + r[0] + "\n%%EOF\n"
	}
	var list strings.Builder
	for _, r := range gradeRows {
		list.WriteString(strings.Join(r, ",") + "\r\n")
	}
	for _, kind := range []string{"csv", "xlsx"} {
		dir := filepath.Join(root, kind)
		for name, content := range files {
			if name == "campaign.toml" {
				content = `recipients = "grades.` + kind + `"` + "\n" + content
			}
			writeFile(t, filepath.Join(dir, name), content)
		}
	}
	writeFile(t, filepath.Join(root, "csv", "grades.csv"), list.String())
	writeGradesBook(t, filepath.Join(root, "xlsx", "grades.xlsx"))
	return filepath.Join(root, "csv", "campaign.toml"), filepath.Join(root, "xlsx", "campaign.toml")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeGradesBook saves gradeRows as a teacher's workbook: typed values
// with number formats, under a title, with an empty row in the data.
func writeGradesBook(t *testing.T, path string) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	styles := map[string]string{"id": "00000", "date": "yyyy-mm-dd"} // scores in General
	ids := map[string]int{}
	for col, code := range styles {
		id, err := f.NewStyle(&excelize.Style{CustomNumFmt: &code})
		if err != nil {
			t.Fatal(err)
		}
		ids[col] = id
	}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(f.SetSheetName("Sheet1", "成绩"))
	check(f.SetCellValue("成绩", "A1", "2026 期末成绩"))
	check(f.MergeCell("成绩", "A1", "E1"))
	header := gradeRows[0]
	check(f.SetSheetRow("成绩", "A2", &[]any{header[0], header[1], header[2], header[3], header[4]}))
	row := 3
	for i, r := range gradeRows[1:] {
		if i == 1 {
			row++ // an empty row, skipped like a blank line in a CSV
		}
		var id, score float64
		mustParse(t, r[0], &id)
		mustParse(t, r[4], &score)
		date, err := time.Parse("2006-01-02", r[3])
		check(err)
		check(f.SetSheetRow("成绩", cellRef(1, row), &[]any{id, r[1], r[2], date, score}))
		for c, col := range header {
			if s, ok := ids[col]; ok {
				check(f.SetCellStyle("成绩", cellRef(c+1, row), cellRef(c+1, row), s))
			}
		}
		row++
	}
	check(f.SaveAs(path))
}

func mustParse(t *testing.T, s string, v *float64) {
	t.Helper()
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	*v = n
}

func cellRef(col, row int) string {
	name, _ := excelize.CoordinatesToCellName(col, row)
	return name
}

// TestWorkbookLikeCSV: check, render and send treat a workbook exactly like
// a CSV with the same content, down to the bytes of every message.
func TestWorkbookLikeCSV(t *testing.T) {
	csvPath, xlsxPath := twinCampaigns(t)
	ctx := context.Background()
	load := func(path string) *Campaign {
		t.Helper()
		c, err := Load(path, Options{Deterministic: true, Mailer: "mailmerge/test"})
		if err != nil {
			t.Fatalf("Load %s: %v", path, err)
		}
		return c
	}
	csvC, xlsxC := load(csvPath), load(xlsxPath)

	t.Run("check", func(t *testing.T) {
		var problems []string
		report := func(p Problem) { problems = append(problems, p.Message) }
		a, err := csvC.Check(ctx, CheckOptions{}, report)
		if err != nil {
			t.Fatal(err)
		}
		b, err := xlsxC.Check(ctx, CheckOptions{}, report)
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) > 0 || a.Rows != 3 || a.Valid != 3 {
			t.Fatalf("the CSV campaign does not check out: %+v %q", a, problems)
		}
		if !slices.Equal(a.Columns, b.Columns) || a.Rows != b.Rows || a.Valid != b.Valid || a.Errors != b.Errors || a.Warnings != b.Warnings {
			t.Errorf("check differs:\ncsv  %+v\nxlsx %+v", a, b)
		}
	})

	t.Run("render", func(t *testing.T) {
		render := func(c *Campaign) map[string][]byte {
			out := filepath.Join(t.TempDir(), "out")
			if _, err := c.Render(ctx, out, RenderOptions{}, func(p Problem) { t.Errorf("%s", p.Message) }); err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(out, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				files[e.Name()] = b
			}
			return files
		}
		a, b := render(csvC), render(xlsxC)
		if len(a) != len(gradeRows) { // one .eml per row and index.csv
			t.Fatalf("rendered %d files from the CSV, want %d", len(a), len(gradeRows))
		}
		for name, want := range a {
			if got, ok := b[name]; !ok {
				t.Errorf("the workbook rendered no %s", name)
			} else if !bytes.Equal(got, want) {
				t.Errorf("%s differs:\n--- csv\n%s\n--- xlsx\n%s", name, want, got)
			}
		}
		// Each message attaches reports/ID.pdf: a leading zero lost on the
		// way would have made the attachment missing.
	})

	t.Run("send", func(t *testing.T) {
		send := func(c *Campaign) []string {
			srv, err := sandbox.Start(sandbox.Options{KeepData: true})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			sum, err := c.Send(ctx, SendOptions{
				Server: &Server{Host: srv.Host(), Port: srv.Port(), Security: security.SSL,
					Username: srv.Username(), Password: srv.Password(), RootCAs: srv.RootCAs()},
				Results: filepath.Join(t.TempDir(), "results.csv"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Sent != 3 {
				t.Fatalf("sent %d, want 3: %+v", sum.Sent, sum)
			}
			var msgs []string
			for _, d := range srv.Deliveries() {
				msgs = append(msgs, strings.Join(d.To, ",")+"\n"+string(d.Data))
			}
			slices.Sort(msgs)
			return msgs
		}
		a, b := send(csvC), send(xlsxC)
		if !slices.Equal(a, b) {
			t.Errorf("the messages sent differ:\n--- csv\n%s\n--- xlsx\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
		}
	})
}

// TestWorkbookKeys: sheet, header_row and skip_hidden reach the reader, and
// a key for the other kind of list is an error on its line.
func TestWorkbookKeys(t *testing.T) {
	csvPath, xlsxPath := twinCampaigns(t)
	edit := func(path, extra string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 2)
		writeFile(t, path, lines[0]+"\n"+extra+"\n"+lines[1])
		return path
	}
	_, err := Load(edit(csvPath, `sheet = "成绩"`), Options{})
	if err == nil || !strings.HasSuffix(err.Error(), `campaign.toml:2: sheet: applies to a workbook (.xlsx), not to grades.csv`) {
		t.Errorf("sheet for a CSV: %v", err)
	}
	_, err = Load(edit(xlsxPath, `encoding = "gbk"`), Options{})
	if err == nil || !strings.HasSuffix(err.Error(), `campaign.toml:2: encoding: applies to a CSV list (a workbook is Unicode), not to grades.xlsx`) {
		t.Errorf("encoding for a workbook: %v", err)
	}

	_, xlsxPath = twinCampaigns(t)
	c, err := Load(edit(xlsxPath, "sheet = \"Missing\"\nheader_row = 2\nskip_hidden = true"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var problems []Problem
	if _, err := c.Check(context.Background(), CheckOptions{}, func(p Problem) { problems = append(problems, p) }); err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.HasSuffix(problems[0].Message, `grades.xlsx: no sheet "Missing"; the workbook has "成绩"`) ||
		problems[0].Hint == "" {
		t.Errorf("problems %+v, want the missing sheet with the workbook's sheets", problems)
	}
}

// A row of a workbook whose message cannot be made reads the same in the
// preview of that one row as in the preview of them all: both name the sheet.
func TestMessageNamesTheSheetAsMessagesDoes(t *testing.T) {
	_, xlsxPath := twinCampaigns(t)
	if err := os.Remove(filepath.Join(filepath.Dir(xlsxPath), "reports", "00107.pdf")); err != nil {
		t.Fatal(err)
	}
	c, err := Load(xlsxPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var all error
	if err := c.Messages(ctx, func(r Rendered) error {
		if r.Row == 2 {
			all = r.Err
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	one, err := c.Message(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if all == nil || one.Err == nil {
		t.Fatalf("row 2 without its attachment: Messages says %v, Message says %v", all, one.Err)
	}
	if one.Err.Error() != all.Error() || !strings.Contains(one.Err.Error(), "sheet") {
		t.Errorf("Message says %q\nMessages says %q", one.Err, all)
	}
}
