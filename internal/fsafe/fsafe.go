// Package fsafe holds the file-system rules every package follows: how an
// operating-system error is shown, how a new file's name is made durable,
// and how a file named by untrusted data is read (Roots.Open: inside given
// folders, regular files only, never blocking; LimitReader: bounded).
package fsafe

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
)

// Cause drops the operation and path of a *fs.PathError, for messages that
// name the file themselves: "list.csv: no such file or directory", not
// "list.csv: open /abs/list.csv: no such file or directory".
func Cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// SyncDir fsyncs a folder, so that a file created, renamed or removed in it
// survives a power loss. Where a folder cannot be synced (Windows, where a
// rename is durable once it returns, and file systems that answer EINVAL)
// there is nothing more to do, and SyncDir returns nil.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
