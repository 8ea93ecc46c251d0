// Package starter is the campaign that mailmerge init writes: a campaign
// file naming every key with a one-line comment, a list of two example
// rows, a Markdown body and an attachment. They are kept as files under
// files/, so that they read (and check) as the campaign a user will get.
package starter

import (
	"bytes"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/xuri/excelize/v2"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

//go:embed files
var embedded embed.FS

// CampaignFile is the name of the campaign file; Files puts it first.
const CampaignFile = "campaign.toml"

// The list as a CSV and as a workbook; the campaign file names the CSV.
const (
	listCSV      = "recipients.csv"
	listWorkbook = "recipients.xlsx"
)

// ListName is the name of the list Files writes.
func ListName(workbook bool) string {
	if workbook {
		return listWorkbook
	}
	return listCSV
}

// File is one file of the starter campaign, Name relative to its folder.
type File struct {
	Name string
	Data []byte
}

// Files returns the starter campaign, the campaign file first. With
// workbook the list is recipients.xlsx, holding the rows of recipients.csv
// as text cells (so a ticket "0417" keeps its zero), and the campaign file
// names it instead.
func Files(workbook bool) ([]File, error) {
	entries, err := embedded.ReadDir("files")
	if err != nil {
		return nil, err
	}
	var files []File
	for _, e := range entries {
		data, err := embedded.ReadFile(path.Join("files", e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: e.Name(), Data: data})
	}
	slices.SortStableFunc(files, func(a, b File) int {
		return boolInt(b.Name == CampaignFile) - boolInt(a.Name == CampaignFile)
	})
	if !workbook {
		return files, nil
	}
	for i, f := range files {
		switch f.Name {
		case CampaignFile:
			// One space less after the longer name keeps the comments in line.
			quoted := []byte(`"` + listCSV + `" `)
			if n := bytes.Count(f.Data, quoted); n != 1 {
				return nil, fmt.Errorf("starter %s names %q %d times, want once", CampaignFile, quoted, n)
			}
			files[i].Data = bytes.Replace(f.Data, quoted, []byte(`"`+listWorkbook+`"`), 1)
		case listCSV:
			data, err := toWorkbook(f.Data)
			if err != nil {
				return nil, fmt.Errorf("starter %s: %w", listCSV, err)
			}
			files[i] = File{Name: listWorkbook, Data: data}
		}
	}
	return files, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// toWorkbook writes the rows of a CSV file into the first sheet of a new
// workbook, every cell as text.
func toWorkbook(list []byte) ([]byte, error) {
	rows, err := csv.NewReader(bytes.NewReader(list)).ReadAll()
	if err != nil {
		return nil, err
	}
	book := excelize.NewFile()
	defer book.Close()
	const sheet = "recipients"
	if err := book.SetSheetName(book.GetSheetName(0), sheet); err != nil {
		return nil, err
	}
	for i, row := range rows {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		if err != nil {
			return nil, err
		}
		values := make([]any, len(row))
		for j, v := range row {
			values[j] = v
		}
		if err := book.SetSheetRow(sheet, cell, &values); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	if _, err := book.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ExistsError is a file Write would have written that is already there.
type ExistsError struct {
	Path string
	Help string
}

func (e *ExistsError) Error() string { return e.Path + " already exists" }
func (e *ExistsError) Hint() string  { return e.Help }

func exists(p string) error {
	return &ExistsError{Path: p, Help: "nothing was written: init never replaces a file; give it a new or empty folder"}
}

// Write writes files into dir, creating dir when it is missing, and
// returns their paths. It never replaces anything: when any of the files
// exists it writes none of them and returns an *ExistsError. Each file is
// created exclusively, so one that appears meanwhile is not clobbered
// either; the files this call wrote are then removed again. Files are 0644
// and a new folder 0755 (less what the umask takes), as an editor makes them.
func Write(dir string, files []File) ([]string, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f.Name)
	}
	made, err := prepare(dir, paths)
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if err := create(paths[i], f.Data); err != nil {
			for _, p := range paths[:i] {
				os.Remove(p)
			}
			if made {
				os.Remove(dir)
			}
			if errors.Is(err, fs.ErrExist) {
				return nil, exists(paths[i])
			}
			return nil, fmt.Errorf("%s: %w", paths[i], fsafe.Cause(err))
		}
	}
	return paths, nil
}

// prepare refuses when any path exists (a dangling symbolic link counts),
// then creates dir when missing and says whether it did.
func prepare(dir string, paths []string) (made bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return false, fmt.Errorf("%s: not a folder", dir)
	case err == nil:
		for _, p := range paths {
			if _, err := os.Lstat(p); err == nil {
				return false, exists(p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return false, fmt.Errorf("%s: %w", p, fsafe.Cause(err))
			}
		}
		return false, nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("%s: %w", dir, fsafe.Cause(err))
		}
		return true, nil
	default:
		return false, fmt.Errorf("%s: %w", dir, fsafe.Cause(err))
	}
}

// create writes a new file; it fails with fs.ErrExist when the name is taken.
func create(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
	}
	return err
}
