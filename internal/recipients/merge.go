package recipients

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/xuri/excelize/v2"
)

// A merged cell shows one value, its top-left cell's, across the whole
// range; the other cells of the range are stored empty. The reader fills
// them in, so a class name merged down a column reaches every pupil's row.
// The ranges are listed at the end of the sheet's XML, after the rows, so
// they are found by a quick scan of the sheet before the rows are read.

// mergeRange is one merged cell, columns and rows 1-based and inclusive.
type mergeRange struct {
	c1, r1, c2, r2 int
	value          string // the top-left cell's, once its row has been read
}

func (m *mergeRange) ref() string { return cellName(m.c1, m.r1) + ":" + cellName(m.c2, m.r2) }

// merges follows the rows as they are read: pending ranges start further
// down, active ones cover the current row. A nil *merges has none.
type merges struct {
	pending []*mergeRange // by first row
	active  []*mergeRange
}

// fill activates the ranges that reach row and writes each one's value into
// the cells it covers, growing cells as needed.
func (m *merges) fill(row int, cells []string) []string {
	if m == nil {
		return cells
	}
	for len(m.pending) > 0 && m.pending[0].r1 <= row {
		m.active = append(m.active, m.pending[0])
		m.pending = m.pending[1:]
	}
	m.active = slices.DeleteFunc(m.active, func(r *mergeRange) bool { return r.r2 < row })
	for _, r := range m.active {
		if r.r1 == row && r.c1 <= len(cells) {
			r.value = cells[r.c1-1]
		}
		if r.value == "" {
			continue
		}
		for len(cells) < r.c2 {
			cells = append(cells, "")
		}
		for c := r.c1; c <= r.c2; c++ {
			cells[c-1] = r.value
		}
	}
	return cells
}

// covering returns the active range that covers the cell, or nil.
func (m *merges) covering(col, row int) *mergeRange {
	if m == nil {
		return nil
	}
	for _, r := range m.active {
		if r.c1 <= col && col <= r.c2 && r.r1 <= row && row <= r.r2 {
			return r
		}
	}
	return nil
}

// title reports whether the row's text is all in one cell merged across
// columns: a title above the header, such as "2026 春季成绩单".
func (m *merges) title(row int, cells []string) bool {
	var title *mergeRange
	for i, cell := range cells {
		if cell == "" {
			continue
		}
		r := m.covering(i+1, row)
		if r == nil || r.c1 == r.c2 || title != nil && r != title {
			return false
		}
		title = r
	}
	return title != nil
}

// readMerges finds the merged cells of the sheet. It returns nil when there
// are none, and an error when the workbook's parts cannot be followed to the
// sheet.
func readMerges(file, sheet string) (*merges, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	part, err := sheetPart(&zr.Reader, sheet)
	if err != nil {
		return nil, err
	}
	f, err := zr.Open(part)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var found []*mergeRange
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		if _, err := br.ReadSlice('<'); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		// Elements may carry a namespace prefix, <x:mergeCell ref="A1:B2"/>.
		head, _ := br.Peek(128)
		end := bytes.IndexAny(head, " />")
		if end < 0 {
			continue
		}
		name := head[:end]
		if i := bytes.IndexByte(name, ':'); i >= 0 {
			name = name[i+1:]
		}
		if string(name) != "mergeCell" {
			continue
		}
		_, after, ok := bytes.Cut(head[end:], []byte(`ref="`))
		if !ok {
			continue
		}
		ref, _, ok := bytes.Cut(after, []byte(`"`))
		if !ok {
			continue
		}
		first, last, ok := strings.Cut(string(ref), ":")
		if !ok {
			continue
		}
		c1, r1, err1 := excelize.CellNameToCoordinates(first)
		c2, r2, err2 := excelize.CellNameToCoordinates(last)
		if err1 != nil || err2 != nil {
			continue
		}
		found = append(found, &mergeRange{c1: min(c1, c2), r1: min(r1, r2), c2: max(c1, c2), r2: max(r1, r2)})
	}
	if len(found) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(found, func(a, b *mergeRange) int { return a.r1 - b.r1 })
	return &merges{pending: found}, nil
}

// sheetPart follows xl/workbook.xml and its relationships to the zip entry
// that holds the sheet's cells.
func sheetPart(zr *zip.Reader, sheet string) (string, error) {
	const book = "xl/workbook.xml"
	id := ""
	err := scanElements(zr, book, "sheet", func(attrs []xml.Attr) bool {
		name, rid := "", ""
		for _, a := range attrs {
			switch {
			case a.Name.Local == "name":
				name = a.Value
			case a.Name.Local == "id" && a.Name.Space != "":
				rid = a.Value
			}
		}
		if name == sheet {
			id = rid
			return false
		}
		return true
	})
	if err != nil {
		return "", err
	}
	target := ""
	err = scanElements(zr, "xl/_rels/workbook.xml.rels", "Relationship", func(attrs []xml.Attr) bool {
		var rid, tgt string
		for _, a := range attrs {
			switch a.Name.Local {
			case "Id":
				rid = a.Value
			case "Target":
				tgt = a.Value
			}
		}
		if id != "" && rid == id {
			target = tgt
			return false
		}
		return true
	})
	if err != nil {
		return "", err
	}
	if target == "" {
		return "", errors.New("sheet not found in the workbook's parts")
	}
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(target, "/"), nil
	}
	return path.Join(path.Dir(book), target), nil
}

// scanElements calls fn with the attributes of every element called local
// in the zip entry name, until fn returns false.
func scanElements(zr *zip.Reader, name, local string, fn func([]xml.Attr) bool) error {
	f, err := zr.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == local && !fn(se.Attr) {
			return nil
		}
	}
}
