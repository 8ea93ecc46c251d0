//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package journal

import "os"

// lockFile does nothing here: this platform has no advisory lock we use.
func lockFile(*os.File) error { return nil }
