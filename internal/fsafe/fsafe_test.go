package fsafe

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCauseDropsOperationAndPath(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "missing.csv"))
	if got := Cause(err); !errors.Is(got, fs.ErrNotExist) || got.Error() != "no such file or directory" {
		t.Errorf("Cause = %q", got)
	}
	plain := errors.New("plain")
	if Cause(plain) != plain {
		t.Error("Cause changed an error that is not a PathError")
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Error("SyncDir of a missing folder succeeded")
	}
}
