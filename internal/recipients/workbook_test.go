package recipients

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// saveBook saves the workbook fill builds, as name in a fresh folder, and
// returns its path.
func saveBook(t testing.TB, name string, fill func(f *excelize.File), opts ...excelize.Options) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	fill(f)
	path := filepath.Join(t.TempDir(), name)
	if err := f.SaveAs(path, opts...); err != nil {
		t.Fatal(err)
	}
	return path
}

// style returns a style with the given number format: a built-in id, or a
// custom code when code is not "".
func style(t testing.TB, f *excelize.File, id int, code string) int {
	t.Helper()
	s := &excelize.Style{NumFmt: id}
	if code != "" {
		s.CustomNumFmt = &code
	}
	n, err := f.NewStyle(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// gradesBook is a class list as a teacher keeps it: a merged title above the
// header, IDs with leading zeros (typed as text, and as numbers formatted
// 00000), dates, scores, a formula, the class merged down its column, a
// hidden row, an empty row, Chinese names.
func gradesBook(t testing.TB) string {
	return saveBook(t, "grades.xlsx", func(f *excelize.File) {
		must(t, f.SetSheetName("Sheet1", "Grades"))
		date := style(t, f, 14, "")
		chineseDate := style(t, f, 0, `yyyy"年"m"月"d"日"`)
		zeros := style(t, f, 0, "00000")
		oneDecimal := style(t, f, 0, "0.0")
		percent := style(t, f, 10, "")
		sw, err := f.NewStreamWriter("Grades")
		must(t, err)
		born := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
		rows := []struct {
			row    int
			cells  []any
			hidden bool
		}{
			{1, []any{"2026 春季学期成绩单"}, false},
			{2, []any{"id", "name", "email", "born", "score", "total", "rate", "class"}, false},
			{3, []any{"00123", "李雷", "li.lei@example.com",
				excelize.Cell{StyleID: date, Value: born(2008, 3, 7)},
				excelize.Cell{StyleID: oneDecimal, Value: 92.5},
				excelize.Cell{Formula: "E3*2", Value: "185"},
				excelize.Cell{StyleID: percent, Value: 0.875}, "三年级二班"}, false},
			{4, []any{excelize.Cell{StyleID: zeros, Value: 42}, "Han Meimei", "han@example.com",
				excelize.Cell{StyleID: chineseDate, Value: born(2008, 11, 30)},
				0.1 + 0.2,
				excelize.Cell{Formula: "E4*2", Value: "0.6"},
				1, nil}, false},
			{5, []any{"00007", "王小明", "wang@example.com",
				excelize.Cell{StyleID: date, Value: born(2009, 1, 2)},
				13812345678, nil, true}, true},
			// row 6 is empty
			{7, []any{"01000", "Zoë Brontë", "zoe@example.com", nil, nil, nil, nil, "三年级一班"}, false},
		}
		for _, r := range rows {
			must(t, sw.SetRow(cellName(1, r.row), r.cells, excelize.RowOpts{Hidden: r.hidden}))
		}
		must(t, sw.MergeCell("A1", "H1"))
		must(t, sw.MergeCell("H3", "H5"))
		must(t, sw.Flush())
	})
}

func readBook(t *testing.T, path string, opts Options) (columns, got []string) {
	t.Helper()
	r, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	got, _ = readAll(t, r)
	return r.Columns(), got
}

func TestWorkbookCellsAsShown(t *testing.T) {
	path := gradesBook(t)
	all := []string{
		`row 1 line 3: id="00123" name="李雷" email="li.lei@example.com" born="2008-03-07" score="92.5" total="185" rate="87.50%" class="三年级二班"`,
		`row 2 line 4: id="00042" name="Han Meimei" email="han@example.com" born="2008年11月30日" score="0.3" total="0.6" rate="1" class="三年级二班"`,
		`row 3 line 5: id="00007" name="王小明" email="wang@example.com" born="2009-01-02" score="13812345678" total="" rate="TRUE" class="三年级二班"`,
		`row 4 line 7: id="01000" name="Zoë Brontë" email="zoe@example.com" born="" score="" total="" rate="" class="三年级一班"`,
	}
	columns, got := readBook(t, path, Options{HeaderRow: 2})
	if want := []string{"id", "name", "email", "born", "score", "total", "rate", "class"}; !slices.Equal(columns, want) {
		t.Errorf("columns %q, want %q", columns, want)
	}
	if !slices.Equal(got, all) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(all, "\n"))
	}

	t.Run("skip_hidden", func(t *testing.T) {
		_, got := readBook(t, path, Options{HeaderRow: 2, SkipHidden: true})
		want := []string{all[0], all[1], strings.Replace(all[3], "row 4", "row 3", 1)}
		if !slices.Equal(got, want) {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("title found without header_row", func(t *testing.T) {
		if _, got := readBook(t, path, Options{}); !slices.Equal(got, all) {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(all, "\n"))
		}
	})
}

// wantError checks that err is an *Error of the kind, ends with the message
// (the path's folder is a temporary one) and has a hint containing hint.
func wantError(t *testing.T, err error, kind error, msg, hint string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want an *Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("%v is not %v", err, kind)
	}
	if !strings.HasSuffix(err.Error(), string(filepath.Separator)+msg) {
		t.Errorf("error\n %s\nwant it to end in\n %s", err, msg)
	}
	if !strings.Contains(e.Help, hint) {
		t.Errorf("hint %q, want it to contain %q", e.Help, hint)
	}
	return e
}

// TestWorkbookSharedStrings reads a workbook saved the way Excel saves one,
// with text in the shared string table, through the first visible sheet.
func TestWorkbookSharedStrings(t *testing.T) {
	path := saveBook(t, "members.xlsm", func(f *excelize.File) {
		idx, err := f.NewSheet("名单")
		must(t, err)
		f.SetActiveSheet(idx)                       // Excel cannot hide the active sheet
		must(t, f.SetSheetVisible("Sheet1", false)) // an old, hidden sheet first
		must(t, f.SetSheetRow("名单", "A1", &[]any{" 姓名 ", "邮箱", "电话", "加入日期"}))
		must(t, f.SetSheetRow("名单", "A2", &[]any{"娜美", "nami@example.com", "013812345678", time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)}))
		must(t, f.SetCellStyle("名单", "D2", "D2", style(t, f, 0, "yyyy/mm/dd")))
		must(t, f.SetSheetRow("名单", "A4", &[]any{"路飞", "luffy@example.com"}))
	})
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Sheet() != "名单" {
		t.Errorf("Sheet() = %q, want the first visible sheet", r.Sheet())
	}
	got, _ := readAll(t, r)
	want := []string{
		`row 1 line 2: 姓名="娜美" 邮箱="nami@example.com" 电话="013812345678" 加入日期="2025/12/31"`,
		`row 2 line 4: 姓名="路飞" 邮箱="luffy@example.com" 电话="" 加入日期=""`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	t.Run("sheet named in another case", func(t *testing.T) {
		path := saveBook(t, "b.xlsx", func(f *excelize.File) {
			must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"email"}))
			must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"a@example.com"}))
		})
		_, got := readBook(t, path, Options{Sheet: "sheet1"})
		if want := []string{`row 1 line 2: email="a@example.com"`}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// TestWorkbookTwoRowHeader takes a column's name from a header cell merged
// down from the row above, as in a two-row header.
func TestWorkbookTwoRowHeader(t *testing.T) {
	path := saveBook(t, "two.xlsx", func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"name", "contact"}))
		must(t, f.SetSheetRow("Sheet1", "B2", &[]any{"email", "phone"}))
		must(t, f.SetSheetRow("Sheet1", "A3", &[]any{"Nami", "nami@example.com", "0123"}))
		must(t, f.MergeCell("Sheet1", "A1", "A2"))
		must(t, f.MergeCell("Sheet1", "B1", "C1"))
	})
	columns, got := readBook(t, path, Options{HeaderRow: 2})
	if want := []string{"name", "email", "phone"}; !slices.Equal(columns, want) {
		t.Errorf("columns %q, want %q", columns, want)
	}
	if want := []string{`row 1 line 3: name="Nami" email="nami@example.com" phone="0123"`}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	t.Run("header merged across columns", func(t *testing.T) {
		_, err := Open(path, Options{HeaderRow: 1})
		wantError(t, err, ErrHeader, `two.xlsx: sheet "Sheet1": cell C1: the header cell is part of the merged cell B1:C1, so its column has no name of its own`, "unmerge the header cells")
	})
}

func TestWorkbookBadRows(t *testing.T) {
	path := saveBook(t, "members.xlsx", func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"name", "email"}))
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"Nami", "nami@example.com"}))
		must(t, f.SetSheetRow("Sheet1", "A3", &[]any{"Zoro", "zoro@example.com", "", "swords"}))
		must(t, f.SetSheetRow("Sheet1", "A4", &[]any{"Usopp", "usopp@example.com"}))
	})
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, hints := readAll(t, r)
	if len(got) != 3 || !strings.HasPrefix(got[2], "row 3 line 4:") {
		t.Fatalf("the reader did not go on after the bad row: %q", got)
	}
	want := `members.xlsx: sheet "Sheet1": cell D3: a value in column D, which has no name in the header`
	if !strings.HasSuffix(got[1], want) || !errors.Is(errorsOf(t, path)[0], ErrFieldCount) {
		t.Errorf("got %q, want it to end in %q and be ErrFieldCount", got[1], want)
	}
	if !strings.Contains(hints[0], "name the column") {
		t.Errorf("hint %q", hints[0])
	}
}

// errorsOf reads the list and returns the errors of its bad rows.
func errorsOf(t *testing.T, path string) []error {
	t.Helper()
	r, err := Open(path, Options{})
	if err != nil {
		return []error{err}
	}
	defer r.Close()
	var errs []error
	for range 100 {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func TestWorkbookErrors(t *testing.T) {
	rows := func(sheet string, rows ...[]any) func(f *excelize.File) {
		return func(f *excelize.File) {
			if sheet != "Sheet1" {
				must(t, f.SetSheetName("Sheet1", sheet))
			}
			for i, r := range rows {
				must(t, f.SetSheetRow(sheet, cellName(1, i+1), &r))
			}
		}
	}
	good := rows("Sheet1", []any{"email"}, []any{"a@example.com"})
	write := func(t *testing.T, name string, data []byte) string {
		path := filepath.Join(t.TempDir(), name)
		must(t, os.WriteFile(path, data, 0o644))
		return path
	}
	zipped, err := os.ReadFile(saveBook(t, "x.xlsx", good))
	must(t, err)

	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
		opts Options
		kind error
		msg  string
		hint string
	}{
		{"password", func(t *testing.T) string {
			return saveBook(t, "secret.xlsx", good, excelize.Options{Password: "s3cret"})
		}, Options{}, ErrPassword, `secret.xlsx: the workbook is protected with a password to open`, "Encrypt with Password"},
		{"truncated", func(t *testing.T) string {
			return write(t, "cut.xlsx", zipped[:len(zipped)/2])
		}, Options{}, ErrWorkbook, `cut.xlsx: unreadable workbook: zip: not a valid zip file`, "damaged"},
		{"csv named xlsx", func(t *testing.T) string {
			return write(t, "list.xlsx", []byte("name,email\nNami,nami@example.com\n"))
		}, Options{}, ErrWorkbook, `list.xlsx: not an .xlsx workbook (the file is not a zip archive)`, "must be named .csv"},
		{"old xls renamed", func(t *testing.T) string {
			return write(t, "old.xlsx", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 1024)...))
		}, Options{}, ErrWorkbook, `old.xlsx: this is an Excel 97-2003 (.xls) workbook, not .xlsx`, "save it as .xlsx"},
		{"xls", func(t *testing.T) string {
			return write(t, "old.xls", []byte{0xD0, 0xCF})
		}, Options{}, ErrWorkbook, `old.xls: Excel 97-2003 (.xls) workbooks cannot be read`, "save it as .xlsx"},
		{"empty file", func(t *testing.T) string {
			return write(t, "empty.xlsx", nil)
		}, Options{}, ErrWorkbook, `empty.xlsx: the file is empty`, ""},
		{"missing sheet", func(t *testing.T) string {
			return saveBook(t, "m.xlsx", func(f *excelize.File) {
				rows("Members", []any{"email"}, []any{"a@example.com"})(f)
				_, err := f.NewSheet("2025")
				must(t, err)
			})
		}, Options{Sheet: "Sheet1"}, ErrSheet, `m.xlsx: no sheet "Sheet1"; the workbook has "Members", "2025"`, `set sheet = "Members"`},
		{"empty sheet", func(t *testing.T) string {
			return saveBook(t, "e.xlsx", func(f *excelize.File) {})
		}, Options{}, ErrEmptyFile, `e.xlsx: sheet "Sheet1": the sheet is empty`, "no other sheet"},
		{"header_row past the end", func(t *testing.T) string {
			return saveBook(t, "h.xlsx", good)
		}, Options{HeaderRow: 5}, ErrHeader, `h.xlsx: sheet "Sheet1": row 5: header_row is 5, but the sheet ends at row 2`, "header_row"},
		{"header_row on an empty row", func(t *testing.T) string {
			return saveBook(t, "h.xlsx", rows("Sheet1", []any{"title"}, []any{}, []any{"email"}))
		}, Options{HeaderRow: 2}, ErrHeader, `h.xlsx: sheet "Sheet1": row 2: row 2, which header_row names, is empty`, "header_row"},
		{"unnamed column", func(t *testing.T) string {
			return saveBook(t, "u.xlsx", rows("名单", []any{"name", nil, "email"}, []any{"a", "b", "c"}))
		}, Options{}, ErrHeader, `u.xlsx: sheet "名单": cell B1: column B has no name`, "give every column a name"},
		{"unnamed first column", func(t *testing.T) string {
			return saveBook(t, "d.xlsx", rows("Sheet1", []any{"", "email", "name", " email "}, []any{"a", "b", "c", "d"}))
		}, Options{HeaderRow: 1}, ErrHeader, `d.xlsx: sheet "Sheet1": cell A1: column A has no name`, ""},
		{"duplicate column", func(t *testing.T) string {
			return saveBook(t, "d.xlsx", rows("Sheet1", []any{"email", "name", " email "}, []any{"a", "b", "c"}))
		}, Options{}, ErrHeader, `d.xlsx: sheet "Sheet1": cell C1, column "email": the name is used twice, by columns A and C`, "rename one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(tc.path(t), tc.opts)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			wantError(t, err, tc.kind, tc.msg, tc.hint)
		})
	}

	t.Run("no data rows", func(t *testing.T) {
		path := saveBook(t, "n.xlsx", func(f *excelize.File) {
			must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"email"}))
			must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"hidden@example.com"}))
			must(t, f.SetRowVisible("Sheet1", 2, false))
		})
		r, err := Open(path, Options{SkipHidden: true})
		must(t, err)
		defer r.Close()
		_, err = r.Next()
		wantError(t, err, ErrNoRows, `n.xlsx: sheet "Sheet1": row 3: no data rows below the header`, "skip_hidden")
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("then %v, want io.EOF", err)
		}
	})
}
