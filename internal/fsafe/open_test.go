//go:build unix

package fsafe

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// layout makes a campaign folder and, beside it, a folder with a secret
// that no path from data may reach. It returns both.
func layout(t testing.TB) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "campaign"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "reports")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, body string) {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "secret.txt"), "SECRET")
	write(filepath.Join(root, "reports", "1.pdf"), "report one")
	write(filepath.Join(root, "notes.txt"), "notes")
	links := map[string]string{
		filepath.Join(root, "leak.txt"):         filepath.Join(outside, "secret.txt"),
		filepath.Join(root, "up"):               "..",
		filepath.Join(root, "reports", "rel"):   "../../outside/secret.txt",
		filepath.Join(root, "reports", "inner"): "1.pdf",
		filepath.Join(root, "dev"):              "/dev/zero",
	}
	for link, target := range links {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func TestRootsOpen(t *testing.T) {
	root, outside := layout(t)
	roots, err := NewRoots(root, ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want string // content, or the error
	}{
		{"reports/1.pdf", "report one"},
		{"reports/inner", "report one"},
		{"reports/../notes.txt", "notes"},
		{"../outside/secret.txt", ErrOutside.Error()},
		{filepath.Join(outside, "secret.txt"), ErrOutside.Error()},
		{"/etc/hostname", ErrOutside.Error()},
		{"leak.txt", ErrOutside.Error()},
		{"up/outside/secret.txt", ErrOutside.Error()},
		{"reports/rel", ErrOutside.Error()},
		{"dev", ErrOutside.Error()},
		{"pipe", "is a named pipe (FIFO), not a file"},
		{"reports", "is a folder, not a file"},
		{".", "is a folder, not a file"},
		{"missing.pdf", "no such file or directory"},
		{"notes.txt/x", "not a directory"},
	} {
		name := tc.path
		if !filepath.IsAbs(name) {
			name = filepath.Join(root, name)
		}
		f, _, err := roots.Open(name)
		got := ""
		if err != nil {
			got = Cause(err).Error()
		} else {
			b, _ := io.ReadAll(f)
			f.Close()
			got = string(b)
		}
		if got != tc.want {
			t.Errorf("Open(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// A folder in file_roots is reached directly or through a link in the
// campaign folder that points into it.
func TestRootsSecondRootThroughLink(t *testing.T) {
	root, outside := layout(t)
	roots, err := NewRoots(root, ".", outside)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(outside, "secret.txt"), filepath.Join(root, "leak.txt")} {
		f, _, err := roots.Open(p)
		if err != nil {
			t.Errorf("Open(%q): %v", p, err)
			continue
		}
		f.Close()
	}
	if !roots.Contain(filepath.Join(root, "reports", "*.pdf")) || roots.Contain(filepath.Join(root, "..", "*")) {
		t.Error("Contain judged a pattern wrongly")
	}
	if _, err := NewRoots(root, "no-such-folder"); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("NewRoots with a missing folder: %v", err)
	}
}

func TestOpenRegular(t *testing.T) {
	root, _ := layout(t)
	if f, _, err := OpenRegular(filepath.Join(root, "leak.txt")); err != nil {
		t.Errorf("a path the author wrote may lead anywhere: %v", err)
	} else {
		f.Close()
	}
	_, _, err := OpenRegular("/dev/zero")
	var nr *NotRegularError
	if !errors.As(err, &nr) || err.Error() != "is a device, not a file" {
		t.Errorf("OpenRegular(/dev/zero) = %v", err)
	}
}

// A file read through LimitReader yields at most n+1 bytes of a source
// that never ends, and says it is too large.
func TestLimitReader(t *testing.T) {
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	counted := &countingReader{r: f}
	n, err := io.Copy(io.Discard, LimitReader(counted, 1000))
	var tl *TooLargeError
	if !errors.As(err, &tl) || n != 1000 || counted.n > 1001 {
		t.Errorf("copied %d, read %d: %v", n, counted.n, err)
	}
	b, err := io.ReadAll(LimitReader(strings.NewReader("exactly"), 7))
	if err != nil || string(b) != "exactly" {
		t.Errorf("at the limit: %q, %v", b, err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// FuzzResolve asserts that no path, however written, opens a file outside
// the roots: whatever Open returns is one of the files inside.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"reports/1.pdf", "../outside/secret.txt", "/etc/passwd", "leak.txt", "up/outside/secret.txt",
		"reports/rel", "reports/inner", "./reports/../../outside/secret.txt", "up/campaign/up/outside/secret.txt", "dev", "", "."} {
		f.Add(s)
	}
	root, _ := layout(f)
	roots, err := NewRoots(root, ".")
	if err != nil {
		f.Fatal(err)
	}
	var inside []fs.FileInfo
	for _, p := range []string{"reports/1.pdf", "notes.txt"} {
		st, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			f.Fatal(err)
		}
		inside = append(inside, st)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name := p
		if !filepath.IsAbs(name) {
			name = filepath.Join(root, name)
		}
		file, st, err := roots.Open(name)
		if err != nil {
			return
		}
		defer file.Close()
		for _, in := range inside {
			if os.SameFile(st, in) {
				return
			}
		}
		t.Fatalf("Open(%q) opened %s, which is not inside the root", p, file.Name())
	})
}
