package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// now is the clock Rotate names files by; tests replace it.
var now = time.Now

// Rotate moves the results file at path aside for --restart, to
// "results-YYYYMMDD-HHMMSS.csv" beside it (local time; "-1", "-2"... when
// that name is taken; nothing is overwritten), and returns the new name.
// Transactions left in flight are first recorded as unknown, so the moved
// file is complete. When there is no results file, Rotate returns "".
func Rotate(path string) (string, error) {
	_, errResults := os.Lstat(path)
	_, errInflight := os.Lstat(InflightPath(path))
	if errors.Is(errResults, fs.ErrNotExist) && errors.Is(errInflight, fs.ErrNotExist) {
		return "", nil
	}
	j, err := Open(path)
	if err != nil {
		return "", err
	}
	if err := j.Close(); err != nil {
		return "", err
	}
	ext := filepath.Ext(path)
	stem := strings.TrimSuffix(path, ext) + "-" + now().Format("20060102-150405")
	for i := 0; i < 10000; i++ {
		name := stem + ext
		if i > 0 {
			name = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		if err := moveNoReplace(path, name); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return "", fmt.Errorf("move results file aside: %w", err)
		}
		if err := fsafe.SyncDir(filepath.Dir(path)); err != nil {
			return name, fmt.Errorf("move results file aside: %w", err)
		}
		return name, nil
	}
	return "", fmt.Errorf("move results file aside: too many files named %s-N%s", stem, ext)
}

// moveNoReplace renames old to name unless name exists. A hard link makes the
// check and the move one step; where links are not supported it falls back
// to checking first.
func moveNoReplace(old, name string) error {
	err := os.Link(old, name)
	if err == nil {
		return os.Remove(old)
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(name); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(old, name)
}
