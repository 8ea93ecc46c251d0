//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package suppress

import (
	"errors"
	"os"
	"syscall"
)

// lockShared waits until no other process is appending to f.
func lockShared(f *os.File) error { return flock(f, syscall.LOCK_SH) }

// lockExclusive waits until f is this process's alone, for a read of its
// tail and an append that must not interleave with another process's.
func lockExclusive(f *os.File) error { return flock(f, syscall.LOCK_EX) }

func unlock(f *os.File) { flock(f, syscall.LOCK_UN) }

// flock holds the lock only for one read or one append, so waiting for it
// is short. Where the file system has no locks the file goes unprotected.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.EINVAL):
			return nil
		}
		return err
	}
}
