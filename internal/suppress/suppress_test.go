package suppress

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/human"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"ana@example.com":               "ana@example.com",
		"  Ana@Example.COM \r\n":        "ana@example.com",
		"Ana Lima <ANA@example.com>":    "ana@example.com",
		`"Lima, Ana" <ana@example.com>`: "ana@example.com",
		"<ana@example.com>":             "ana@example.com",
		"jürgen@Bücher.example":         "jürgen@xn--bcher-kva.example",
		"jürgen@xn--bcher-kva.example":  "jürgen@xn--bcher-kva.example",
		"ÅSA@example.com":               "åsa@example.com",
		`"ana lima"@example.com`:        `"ana lima"@example.com`,
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]error{
		"ana.example.com":  errNoAt,
		"@example.com":     errNoLocal,
		"ana@":             errNoDomain,
		"ana lima@x.com":   errSpace,
		"ana@x.com\x00":    errControl,
		"an\xffa@x.com":    errUTF8,
		"Ana <>":           errNoAt,
		"":                 errNoAt,
		"ana@exa mple.com": errSpace,
	} {
		if _, err := Normalize(in); !errors.Is(err, want) {
			t.Errorf("Normalize(%q) error = %v, want %v", in, err, want)
		}
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Each layout a user may hand us reads the same addresses, and Has names
// the first file that holds one.
func TestLoadLayouts(t *testing.T) {
	dir := t.TempDir()
	ours := write(t, dir, "unsubscribed.csv", "email,time,reason\n"+
		"ana@example.com,2026-01-02T03:04:05Z,unsubscribe: one-click\n"+
		"'-dash@example.com,2026-01-02T03:04:05Z,'=1+1\n"+
		"'kept@example.com,2026-01-02T03:04:05Z,\n")
	excel := write(t, dir, "excel.csv", "\uFEFFName;E-Mail-Typ;EMAIL\r\nBo;home;\"Bo <BO@Example.com>\"\r\n;;\r\nAna;x;ana@example.com\r\n")
	tabs := write(t, dir, "tabs.tsv", "id\temail\n1\tcy@example.com\n")
	plain := write(t, dir, "plain.txt", "# people who asked\n\n  Dee@Example.com  \nEd <ed@example.com>\n#last\nfe@bücher.example")
	l, err := Load(ours, excel, tabs, plain, filepath.Join(dir, "missing.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for addr, file := range map[string]string{
		"ANA@example.com":          ours,
		"-dash@example.com":        ours,
		"'kept@example.com":        ours,
		"bo@example.com":           excel,
		"Cy <cy@example.com>":      tabs,
		"dee@example.com":          plain,
		"ed@EXAMPLE.com":           plain,
		"fe@xn--bcher-kva.example": plain,
		"fe@BÜCHER.example":        plain,
	} {
		if got, ok := l.Has(addr); !ok || got != file {
			t.Errorf("Has(%q) = %q, %v; want %q", addr, got, ok, file)
		}
	}
	for _, addr := range []string{"nobody@example.com", "kept@example.com", "example.com", "", "=1+1"} {
		if got, ok := l.Has(addr); ok {
			t.Errorf("Has(%q) = %q, want not suppressed", addr, got)
		}
	}
	// ana is in two files: one address.
	if l.Len() != 8 {
		t.Errorf("Len = %d, want 8", l.Len())
	}
}

func TestLoadNothing(t *testing.T) {
	dir := t.TempDir()
	l, err := Load(filepath.Join(dir, "none.csv"), write(t, dir, "empty.csv", ""),
		write(t, dir, "header.csv", "email,time,reason\n"))
	if err != nil || l.Len() != 0 {
		t.Fatalf("Load = %d addresses, %v; want none", l.Len(), err)
	}
	if _, ok := l.Has("ana@example.com"); ok {
		t.Error("an empty list suppresses")
	}
	var none *List
	if _, ok := none.Has("ana@example.com"); ok || none.Len() != 0 {
		t.Error("a nil list suppresses")
	}
}

// A broken file stops the load with its name, the line and what is wrong.
func TestLoadMalformed(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, content, want string }{
		{"plain.txt", "ana@example.com\n\n# c\nbo.example.com\n", `plain.txt:4: "bo.example.com" is not an e-mail address: the @ is missing`},
		{"nohead.csv", "ana@example.com,2026-01-02T03:04:05Z,x\n", `nohead.csv:1: "ana@example.com,2026-01-02T03:04:05Z,x" is not an e-mail address: "," is not allowed in the domain`},
		{"quote.csv", "email,name\nana@example.com,Ana\n\"bo@example.com,Bo\nx\n", `quote.csv:3: extraneous or missing " in quoted-field`},
		{"cell.csv", "Name,Email\nAna,ana@example.com\nBo,bo@\n", `cell.csv:3: "bo@" is not an e-mail address: domain missing`},
		{"long.txt", strings.Repeat("a", 250) + "@example.com\n", "long.txt:1: \"" + strings.Repeat("a", 59) + "…\" is not an e-mail address: longer than 254 bytes, the most an address can have"},
		{"huge.txt", "ana@example.com\n" + strings.Repeat("x", 70<<10), "huge.txt:2: line longer than 64 KB"},
	} {
		p := write(t, dir, c.name, c.content)
		_, err := Load(p)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a *FileError", c.name, err)
			continue
		}
		if got := strings.TrimPrefix(err.Error(), dir+string(filepath.Separator)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if human.Hint(err) == "" {
			t.Errorf("%s: no hint", c.name)
		}
	}
}

func TestLoadRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.HasPrefix(err.Error(), dir+": ") {
		t.Errorf("Load(dir) = %v, want an error naming it", err)
	}
}
