//go:build ignore

// Command gen writes the grades sample: grades.xlsx, a class list as a
// teacher keeps it (a merged title, student IDs with leading zeros stored as
// numbers formatted 00000, an exam date, scores, a formula for the grade),
// and one small PDF report per student under reports/.
//
//	go run samples/grades/gen/main.go
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

type student struct {
	id          int
	name, email string
	class       string
	score       float64
	examDate    time.Time
}

func main() {
	dir := filepath.Join("samples", "grades")
	exam := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	students := []student{
		{42, "李雷", "li.lei@example.com", "三年级二班", 92.5, exam},
		{107, "韩梅梅", "han.meimei@example.com", "三年级二班", 88, exam},
		{1000, "王小明", "wang.xiaoming@example.com", "三年级一班", 59.5, exam.AddDate(0, 0, 1)},
		{1001, "Zoë Brontë", "zoe.bronte@example.com", "三年级一班", 76, exam.AddDate(0, 0, 1)},
	}
	if err := writeBook(filepath.Join(dir, "grades.xlsx"), students); err != nil {
		log.Fatal(err)
	}
	for _, s := range students {
		id := fmt.Sprintf("%05d", s.id)
		if err := os.MkdirAll(filepath.Join(dir, "reports"), 0o755); err != nil {
			log.Fatal(err)
		}
		text := fmt.Sprintf("Report card %s: score %g", id, s.score)
		if err := os.WriteFile(filepath.Join(dir, "reports", id+".pdf"), tinyPDF(text), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func writeBook(path string, students []student) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "成绩"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	zeros, date := "00000", "yyyy-mm-dd"
	idStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &zeros})
	if err != nil {
		return err
	}
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &date})
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{"2026 秋季学期期末成绩"}); err != nil {
		return err
	}
	if err := sw.MergeCell("A1", "G1"); err != nil {
		return err
	}
	header := []any{"学号", "姓名", "email", "班级", "考试日期", "成绩", "等级"}
	if err := sw.SetRow("A2", header); err != nil {
		return err
	}
	for i, s := range students {
		row := i + 3
		grade := "不及格"
		switch {
		case s.score >= 90:
			grade = "优秀"
		case s.score >= 75:
			grade = "良好"
		case s.score >= 60:
			grade = "及格"
		}
		cell, _ := excelize.CoordinatesToCellName(1, row)
		// The grade is a formula with its value saved, as Excel saves it.
		formula := fmt.Sprintf(`IF(F%d>=90,"优秀",IF(F%d>=75,"良好",IF(F%d>=60,"及格","不及格")))`, row, row, row)
		if err := sw.SetRow(cell, []any{
			excelize.Cell{StyleID: idStyle, Value: s.id},
			s.name, s.email, s.class,
			excelize.Cell{StyleID: dateStyle, Value: s.examDate},
			s.score,
			excelize.Cell{Formula: formula, Value: grade},
		}); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}

// tinyPDF is a one-page PDF showing one line of ASCII text, with a correct
// cross-reference table so that viewers open it without repair.
func tinyPDF(text string) []byte {
	text = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(text)
	stream := fmt.Sprintf("BT /F1 18 Tf 72 720 Td (%s) Tj ET", text)
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b strings.Builder
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, obj := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, obj)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return []byte(b.String())
}
