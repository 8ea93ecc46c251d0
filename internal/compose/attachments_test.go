package compose_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/compose"
)

// attachmentSpec attaches whatever the row's "files" column says, from dir.
func attachmentSpec(dir string) compose.Spec {
	return compose.Spec{
		From:        src("from", "Nami <nami@example.com>"),
		To:          src("to", "{{.email}}"),
		Subject:     src("subject", "Your files"),
		Text:        file("body.txt", "Attached."),
		Attachments: []compose.Source{src("attachments", "{{.files}}")},
		Dir:         dir,
	}
}

// listAndGlob makes two composers for dir: one attaching the "files"
// column as it is (a ';'-list), one attaching what pattern renders.
func listAndGlob(t *testing.T, dir, pattern string) (lists, globs *compose.Composer) {
	t.Helper()
	lists, err := compose.New(attachmentSpec(dir))
	if err != nil {
		t.Fatal(err)
	}
	spec := attachmentSpec(dir)
	spec.Attachments = []compose.Source{src("attachments", pattern)}
	if globs, err = compose.New(spec); err != nil {
		t.Fatal(err)
	}
	return lists, globs
}

func writeFiles(t *testing.T, dir string, sizes map[string]int) {
	t.Helper()
	for name, size := range sizes {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(m *compose.Message) string {
	var out []string
	for _, a := range m.Attachments {
		out = append(out, filepath.Base(a))
	}
	return strings.Join(out, ",")
}

// A cell may list several files with ';', and a glob in the template's
// own text attaches every match in sorted order; the message carries them
// in that order.
func TestAttachmentListsAndGlobs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]int{
		"reports/007-march.pdf": 10, "reports/007-jan.pdf": 10, "reports/007-feb.pdf": 10,
		"reports/008-jan.pdf": 10, "notes.txt": 5, "reports/007-dir/x.pdf": 1,
	})
	lists, globs := listAndGlob(t, dir, "reports/{{.files}}-*")
	for _, tc := range []struct {
		c           *compose.Composer
		files, want string
	}{
		{lists, "notes.txt", "notes.txt"},
		{lists, "notes.txt; reports/008-jan.pdf", "notes.txt,008-jan.pdf"},
		{lists, " ; notes.txt ;", "notes.txt"},
		{lists, "", ""},
		{globs, "007", "007-feb.pdf,007-jan.pdf,007-march.pdf"}, // folders are not attached
		{globs, "008", "008-jan.pdf"},
	} {
		m, err := tc.c.Compose(1, map[string]string{"email": "a@example.com", "files": tc.files})
		if err != nil {
			t.Errorf("%q: %v", tc.files, err)
			continue
		}
		if got := names(m); got != tc.want {
			t.Errorf("%q attached %q, want %q", tc.files, got, tc.want)
		}
		_, parts := parseBack(t, render(t, m))
		attached := 0
		for _, p := range parts {
			if cd := p.header["Content-Disposition"]; len(cd) > 0 && strings.HasPrefix(cd[0], "attachment") {
				attached++
			}
		}
		if attached != len(m.Attachments) {
			t.Errorf("%q: %d attachment parts for %d files", tc.files, attached, len(m.Attachments))
		}
	}
	_, err := globs.Compose(1, map[string]string{"email": "a@example.com", "files": "009"})
	if err == nil || err.Error() != `campaign.toml:1: attachments: attachment reports/009-* from column "files": the pattern matches no file` {
		t.Errorf("pattern without match: %v", err)
	}
}

// Glob characters in data match only themselves: a cell "007-*.pdf" names
// that one file, with or without a glob in the template.
func TestAttachmentGlobFromDataIsLiteral(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]int{"reports/007-jan.pdf": 10, "reports/007-*.pdf": 3, "reports/[x]-1.pdf": 2})
	lists, globs := listAndGlob(t, dir, "reports/{{.files}}-*.pdf")
	for _, tc := range []struct {
		c           *compose.Composer
		files, want string
	}{
		{lists, "reports/007-*.pdf", "007-*.pdf"},
		{lists, "reports/00?-jan.pdf", ""},
		{globs, "[x]", "[x]-1.pdf"},
		{globs, "00?", ""},
		{globs, "*", ""},
	} {
		m, err := tc.c.Compose(1, map[string]string{"email": "a@example.com", "files": tc.files})
		got := ""
		if err == nil {
			got = names(m)
		}
		if got != tc.want {
			t.Errorf("%q attached %q (%v), want %q", tc.files, got, err, tc.want)
		}
	}
}

// Providers refuse large mail, so the attachments of one message have a
// total limit of their own, 20 MB unless set.
func TestAttachmentTotalLimit(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]int{"a.bin": 600, "b.bin": 600})
	spec := attachmentSpec(dir)
	spec.MaxAttachments = 1000
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compose(1, map[string]string{"email": "a@example.com", "files": "a.bin"}); err != nil {
		t.Errorf("one file under the limit: %v", err)
	}
	_, err = c.Compose(1, map[string]string{"email": "a@example.com", "files": "a.bin;b.bin"})
	if err == nil || !strings.Contains(err.Error(), "attachments total 1.2 KB, over the limit of 1000 bytes") {
		t.Errorf("two files over the limit: %v", err)
	}
	if compose.DefaultMaxAttachments != 20<<20 {
		t.Errorf("default limit %d, want 20 MB", compose.DefaultMaxAttachments)
	}
}
