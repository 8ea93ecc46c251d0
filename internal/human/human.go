// Package human formats what a person reads: sizes, shortened replies, and
// the hint an error carries.
package human

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Bytes writes a size the way a person reads it: "512 bytes", "3.5 KB",
// "25 MB" (a whole number of units without decimals, as limits are written).
func Bytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GB"}, {1 << 20, "MB"}, {1 << 10, "KB"}} {
		if n >= u.size {
			if n%u.size == 0 {
				return fmt.Sprintf("%d %s", n/u.size, u.name)
			}
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// Width is how many columns s takes on a terminal: two for a wide or
// full-width character (Chinese, Japanese, Korean), none for a combining
// mark or a format character, one for the rest. Tables align by it, since
// a count of runes puts Chinese text out of line.
func Width(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		case isWide(r):
			n += 2
		default:
			n++
		}
	}
	return n
}

func isWide(r rune) bool {
	k := width.LookupRune(r).Kind()
	return k == width.EastAsianWide || k == width.EastAsianFullwidth
}

// Clip shortens s to at most max runes, ending in "…" when it cut. It never
// splits a character, so a Chinese server reply stays readable.
func Clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Hinter is an error that knows what the user could do about it.
type Hinter interface {
	error
	Hint() string
}

// Hint returns the first non-empty hint in err's chain, or "".
func Hint(err error) string {
	for err != nil {
		if h, ok := err.(Hinter); ok && h.Hint() != "" {
			return h.Hint()
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if h := Hint(e); h != "" {
					return h
				}
			}
			return ""
		default:
			return ""
		}
	}
	return ""
}

// FileError is a problem in a file the user has to resolve (a results
// file, a suppression list): "path:line: what", and Help says how.
type FileError struct {
	Path string
	Line int // 0 when the problem is not on one line
	Err  error
	Help string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Hint says how to resolve the problem.
func (e *FileError) Hint() string { return e.Help }
