package suppress

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// List is the addresses of one or more suppression files, read once. Ask
// it with [List.Has]. A List is safe for many goroutines at once; a nil
// List holds nothing.
//
// A false match would mean not mailing someone who never asked to stop, so
// every match is exact: the addresses themselves are kept, packed one
// after another in 1 MB chunks (a byte for the file, a byte for the length,
// the address), and an index of 8 bytes an address, sorted, finds them: the
// high 32 bits are a hash of the address, the low 32 bits where it sits.
// A lookup compares the few addresses that share its hash, byte for byte.
// A million addresses of about 22 characters cost about 32 MB and no
// pointers, so the garbage collector never scans them.
type List struct {
	files  []string
	chunks [][]byte
	index  []uint64
	seed   maphash.Seed
}

const (
	chunkBits = 20
	chunkSize = 1 << chunkBits
	maxChunks = 1 << (32 - chunkBits) // the low 32 bits of an index entry address the chunks
	maxFiles  = math.MaxUint8 + 1     // the file is one byte of each entry
)

// Load reads the suppression files at paths, in order. A file that does not
// exist counts as empty. An error is a *FileError naming the file and,
// where it has one, the line.
func Load(paths ...string) (*List, error) {
	if len(paths) > maxFiles {
		return nil, fmt.Errorf("more than %d suppression files", maxFiles)
	}
	l := newList()
	for i, p := range paths {
		l.files = append(l.files, p)
		if err := l.load(i, p); err != nil {
			return nil, err
		}
	}
	l.seal()
	return l, nil
}

func newList() *List { return &List{seed: maphash.MakeSeed()} }

// load adds the addresses of the file at path, under a shared lock so that
// a line a File is appending is read whole or not at all.
func (l *List) load(file int, path string) error {
	f, _, err := fsafe.OpenRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &FileError{Path: path, Err: fsafe.Cause(err)}
	}
	defer f.Close()
	if err := lockShared(f); err != nil {
		return &FileError{Path: path, Err: err}
	}
	defer unlock(f)
	if n, err := countLines(f); err == nil {
		l.index = slices.Grow(l.index, n) // no copies as it grows, no spare room after
	}
	s := scanner{name: path, lay: &layout{}}
	return s.scan(f, func(addr []byte) error { return l.add(file, addr) })
}

// countLines counts the lines of f, an upper bound of its addresses, by
// reading it once ahead: a million lines take a few milliseconds.
func countLines(f *os.File) (int, error) {
	buf := make([]byte, 64<<10)
	n := 1
	for off := int64(0); ; {
		k, err := f.ReadAt(buf, off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		off += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// add appends addr, in normal form, to the chunks and the index; seal
// sorts the index.
func (l *List) add(file int, addr []byte) error {
	n := len(l.chunks)
	if n == 0 || len(l.chunks[n-1])+2+len(addr) > chunkSize {
		if n == maxChunks {
			return fmt.Errorf("more than %d GB of addresses", maxChunks*chunkSize>>30)
		}
		l.chunks = append(l.chunks, make([]byte, 0, chunkSize))
		n++
	}
	c := &l.chunks[n-1]
	ref := uint32(n-1)<<chunkBits | uint32(len(*c))
	*c = append(*c, byte(file), byte(len(addr)))
	*c = append(*c, addr...)
	l.index = append(l.index, l.hash(addr)<<32|uint64(ref))
	return nil
}

// seal sorts the index and drops every address already held, so that the
// first file that names an address is the one reported.
func (l *List) seal() {
	slices.Sort(l.index)
	out := l.index[:0]
	run := 0 // where the entries sharing the current hash start in out
	for _, e := range l.index {
		if len(out) == 0 || out[len(out)-1]>>32 != e>>32 {
			run = len(out)
		}
		_, a := l.entry(e)
		if !slices.ContainsFunc(out[run:], func(o uint64) bool { _, b := l.entry(o); return bytes.Equal(a, b) }) {
			out = append(out, e)
		}
	}
	l.index = slices.Clip(out)
}

func (l *List) hash(addr []byte) uint64 { return maphash.Bytes(l.seed, addr) >> 32 }

// entry returns the file index and the address an index entry points at.
func (l *List) entry(e uint64) (file int, addr []byte) {
	ref := uint32(e)
	c := l.chunks[ref>>chunkBits]
	at := int(ref & (chunkSize - 1))
	return int(c[at]), c[at+2 : at+2+int(c[at+1])]
}

// Has reports whether addr is suppressed, and by which file (the first
// that names it, as passed to Load). addr may be in any case and carry a
// display name; it is compared in its [Normalize]d form.
func (l *List) Has(addr string) (file string, ok bool) {
	if l == nil {
		return "", false
	}
	var buf [MaxAddress + 2]byte
	a, err := appendNormal(buf[:0], []byte(addr))
	if err != nil {
		return "", false
	}
	if i, ok := l.find(a); ok {
		return l.files[i], true
	}
	return "", false
}

// find returns the file index of addr, which is in normal form.
func (l *List) find(addr []byte) (int, bool) {
	h := l.hash(addr)
	i, _ := slices.BinarySearch(l.index, h<<32)
	for ; i < len(l.index) && l.index[i]>>32 == h; i++ {
		if file, a := l.entry(l.index[i]); bytes.Equal(a, addr) {
			return file, true
		}
	}
	return 0, false
}

// Len is the number of distinct addresses.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.index)
}

// Files are the paths passed to Load.
func (l *List) Files() []string {
	if l == nil {
		return nil
	}
	return slices.Clone(l.files)
}

// HeapBytes is about how much memory the list holds, for a caller that
// budgets the garbage collector around it.
func (l *List) HeapBytes() int64 {
	if l == nil {
		return 0
	}
	return int64(len(l.chunks))*chunkSize + int64(cap(l.index))*8
}
