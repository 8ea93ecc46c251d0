//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package suppress

import "os"

// Locks do nothing here: this platform has no advisory lock we use.
func lockShared(*os.File) error    { return nil }
func lockExclusive(*os.File) error { return nil }
func unlock(*os.File)              {}
