package suppress

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openFile(t *testing.T, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.now = func() time.Time { return time.Date(2026, 11, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)) }
	t.Cleanup(func() { f.Close() })
	return f
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func add(t *testing.T, f *File, addr, reason string, want bool) {
	t.Helper()
	added, err := f.Add(addr, reason)
	if err != nil || added != want {
		t.Fatalf("Add(%q) = %v, %v; want %v", addr, added, err, want)
	}
}

func TestFileCreatesAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "unsubscribed.csv")
	f := openFile(t, path)
	add(t, f, "Ana@Example.com", "unsubscribe: one-click", true)
	add(t, f, "ana@example.COM", "unsubscribe: one-click", false)
	add(t, f, "=cmd@example.com", "bounce: 5.1.1 user unknown\r\n=HYPERLINK()", true)
	want := "email,time,reason\n" +
		"ana@example.com,2026-11-02T02:04:05Z,unsubscribe: one-click\n" +
		"'=cmd@example.com,2026-11-02T02:04:05Z,bounce: 5.1.1 user unknown  =HYPERLINK()\n"
	if got := read(t, path); got != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600", st.Mode(), err)
	}
	l, err := Load(path)
	if err != nil || l.Len() != 2 {
		t.Fatalf("Load = %d, %v; want 2 addresses", l.Len(), err)
	}
	if _, ok := l.Has("=CMD@example.com"); !ok {
		t.Error("an escaped address does not read back")
	}
	if _, err := f.Add("not an address", "x"); err == nil {
		t.Error("Add took a line that is not an address")
	}
	// Open again: what the file holds is not added twice.
	add(t, openFile(t, path), "ANA@example.com", "again", false)
}

// A file the user made keeps its layout.
func TestFileKeepsTheUsersLayout(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, before, after string }{
		{"excel.csv", "\uFEFFName;Email;Reason\r\nAna;ana@example.com;asked",
			"\n;bo@example.com;\"x;y\"\n;cy@example.com;bounce\n"},
		{"plain.txt", "# by hand\nana@example.com\n", "bo@example.com\ncy@example.com\n"},
		{"comments.txt", "# nobody yet\n", "ana@example.com\nbo@example.com\ncy@example.com\n"},
		{"empty.csv", "", "email,time,reason\nana@example.com,2026-11-02T02:04:05Z,again\n" +
			"bo@example.com,2026-11-02T02:04:05Z,x;y\ncy@example.com,2026-11-02T02:04:05Z,bounce\n"},
	} {
		p := write(t, dir, c.name, c.before)
		f := openFile(t, p)
		add(t, f, "ana@example.com", "again", !strings.Contains(c.before, "ana@"))
		add(t, f, "bo@example.com", "x;y", true)
		add(t, f, "cy@example.com", "bounce", true)
		if got := read(t, p); got != c.before+c.after {
			t.Errorf("%s:\n%q\nwant\n%q", c.name, got, c.before+c.after)
		}
		if l, err := Load(p); err != nil || l.Len() != 3 {
			t.Errorf("%s: Load = %d, %v; want 3", c.name, l.Len(), err)
		}
	}
}

// 1,000 requests at once, each address twice, over two Files of one path
// (two open file descriptions, as two processes hold them): every address
// is stored, each once, and exactly one of its two Adds says so.
func TestFileParallelAdds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "unsubscribed.csv")
	files := []*File{openFile(t, path), openFile(t, path)}
	const n = 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := map[string]int{}
	for i := range 2 * n {
		wg.Go(func() {
			addr := fmt.Sprintf("User%d@example.com", i%n)
			ok, err := files[i%2].Add(addr, "unsubscribe: one-click")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				added[addr]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(read(t, path), "\n"), "\n")
	if lines[0] != Header || len(lines) != n+1 {
		t.Fatalf("%d lines after the header, want %d", len(lines)-1, n)
	}
	var got []string
	for _, l := range lines[1:] {
		got = append(got, strings.Split(l, ",")[0])
	}
	slices.Sort(got)
	if got = slices.Compact(got); len(got) != n {
		t.Errorf("%d distinct addresses, want %d", len(got), n)
	}
	for i := range n {
		if a := fmt.Sprintf("User%d@example.com", i); added[a] != 1 {
			t.Errorf("%s: Add said added %d times", a, added[a])
		}
	}
}

// A file another process appended to, or an editor replaced, is read again
// before an Add decides.
func TestFileSeesOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bounced.csv")
	f := openFile(t, path)
	add(t, f, "ana@example.com", "bounce", true)
	other, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	other.WriteString("bo@example.com,2026-01-01T00:00:00Z,by hand\n")
	other.Close()
	add(t, f, "BO@example.com", "bounce", false)

	edited := path + ".new"
	write(t, "", edited, "email\ncy@example.com\n")
	if err := os.Rename(edited, path); err != nil {
		t.Fatal(err)
	}
	add(t, f, "cy@example.com", "bounce", false)
	add(t, f, "ana@example.com", "bounce", true)
	if got, want := read(t, path), "email\ncy@example.com\nana@example.com\n"; got != want {
		t.Errorf("file:\n%q\nwant\n%q", got, want)
	}

	os.Remove(path)
	add(t, f, "ana@example.com", "bounce", true)
	if got := read(t, path); !strings.HasPrefix(got, Header+"\nana@example.com,") {
		t.Errorf("a removed file was not made again: %q", got)
	}
}
