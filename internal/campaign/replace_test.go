package campaign_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// writeFiles writes files (path under dir -> text), making their folders.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot is every file and link under dir with its content or target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			files[rel] = "-> " + target
			return err
		case d.IsDir():
			files[rel+"/"] = ""
		default:
			b, err := os.ReadFile(p)
			files[rel] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

const replaceList = "name,email,file\nAlice,alice@example.com,a.pdf\nBob,bob@example.com,b.pdf\n"

// earlierIndex is the index.csv of a render of one message.
const earlierIndex = "\ufeffrow,to,subject,file,bytes\r\n1,alice@example.com,Hi,00001-alice@example.com.eml,1\r\n"

// TestRenderForceRefuses: --force removes nothing, and says which file stopped
// it, when the folder is or holds a file of the campaign or one that no
// render wrote.
func TestRenderForceRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		toml   string            // appended to the campaign
		files  map[string]string // beside the campaign
		link   string            // made a link to out, and given as out instead
		out    string            // relative to the campaign folder; "." is the folder
		file   string            // the file the error names, relative to out; "" when out is it
		what   string
		inside bool // out given as a path relative to the working folder
	}{
		{name: "campaign folder", out: ".", file: "campaign.toml", what: "the campaign file"},
		{name: "campaign folder relative", out: ".", file: "campaign.toml", what: "the campaign file", inside: true},
		{name: "campaign folder with a slash", out: "./", file: "campaign.toml", what: "the campaign file", inside: true},
		{name: "its parent", out: "..", file: "{dir}/campaign.toml", what: "the campaign file"},
		{name: "link to campaign folder", out: ".", link: "again", file: "campaign.toml", what: "the campaign file"},
		{name: "the campaign file", out: "campaign.toml", what: "the campaign file"},
		{name: "the list's folder", toml: "", out: "lists", file: "recipients.csv", what: "the recipients list",
			files: map[string]string{"lists/recipients.csv": replaceList}},
		{name: "the text template", out: "body.txt", what: "the text template"},
		{name: "the HTML template's folder", toml: `html = "t/body.html"`, out: "t", file: "body.html", what: "the HTML template",
			files: map[string]string{"t/body.html": "<p>Hi</p>"}},
		{name: "results inside", toml: "[send]\nresults = \"out/results.csv\"", out: "out", file: "results.csv", what: "the results file",
			files: map[string]string{"out/index.csv": earlierIndex, "out/00001-alice@example.com.eml": "x"}},
		{name: "results sidecar", out: "results.csv.inflight", what: "the results file's sidecar",
			files: map[string]string{"results.csv": "row,email\n", "results.csv.inflight": "1\n"}},
		// A folder of attachments is not a render's, and found so before rendering.
		{name: "attachments", toml: `attachments = ["files/{{.file}}"]`, out: "files", file: "a.pdf", what: "which no render wrote"},
		{name: "attachments by link", toml: `attachments = ["files/{{.file}}"]`, out: "files", link: "docs", file: "a.pdf", what: "which no render wrote"},
		// Listed in an index.csv, they are still the messages' files.
		{name: "attachments listed in an index", toml: `attachments = ["files/{{.file}}"]`, out: "files", file: "a.pdf", what: "an attachment of row 1",
			files: map[string]string{"files/index.csv": "row,to,subject,file,bytes\r\n1,x,y,a.pdf,1\r\n2,x,y,b.pdf,1\r\n", "files/a.pdf": "a", "files/b.pdf": "b"}},
		{name: "attachment by glob", toml: `attachments = ["files/b*.pdf"]`, out: "files", file: "b.pdf", what: "an attachment of row 1",
			files: map[string]string{"files/index.csv": "row,to,subject,file,bytes\r\n1,x,y,a.pdf,1\r\n2,x,y,b.pdf,1\r\n"}},
		{name: "inline image", toml: `html = "body.html"`, out: "img", file: "logo.png", what: "an inline image of row 1",
			files: map[string]string{"body.html": `<img src="img/logo.png">`, "img/logo.png": "png",
				"img/index.csv": "row,to,subject,file,bytes\r\n1,x,y,logo.png,1\r\n"}},
		{name: "foreign file", out: "out", file: "keep.txt", what: "which no render wrote",
			files: map[string]string{"out/index.csv": earlierIndex, "out/00001-alice@example.com.eml": "x", "out/keep.txt": "mine"}},
		{name: "no index", out: "out", file: "00001-alice@example.com.eml", what: "which no render wrote",
			files: map[string]string{"out/00001-alice@example.com.eml": "x"}},
		{name: "not a render's index", out: "out", file: "index.csv", what: "which no render wrote",
			files: map[string]string{"out/index.csv": "name,email\nAlice,alice@example.com\n"}},
		{name: "listed folder", out: "out", file: "00001-alice@example.com.eml", what: "which no render wrote",
			files: map[string]string{"out/index.csv": earlierIndex, "out/00001-alice@example.com.eml/x": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"recipients.csv": replaceList, "files/a.pdf": "a", "files/b.pdf": "b"}
			for k, v := range tc.files {
				files[k] = v
			}
			toml := checkCampaign + tc.toml + "\n"
			if _, ok := tc.files["lists/recipients.csv"]; ok {
				toml = strings.Replace(toml, `"recipients.csv"`, `"lists/recipients.csv"`, 1)
				delete(files, "recipients.csv")
			}
			files["campaign.toml"] = toml
			c, dir := loadCheck(t, files)
			out := filepath.Join(dir, tc.out)
			if tc.link != "" {
				if err := os.Symlink(out, filepath.Join(dir, tc.link)); err != nil {
					t.Skip(err)
				}
				out = filepath.Join(dir, tc.link)
			}
			if tc.inside {
				t.Chdir(dir)
				out = tc.out
			}
			before := snapshot(t, filepath.Dir(dir))
			_, err := c.Render(context.Background(), out, campaign.RenderOptions{Force: true}, func(p campaign.Problem) { t.Error(p.Message) })
			var re *campaign.ReplaceError
			if !errors.As(err, &re) {
				t.Fatalf("render --force: %v, want a ReplaceError", err)
			}
			want := &campaign.ReplaceError{Out: out, What: tc.what}
			if tc.file != "" {
				want.File = filepath.Join(out, strings.ReplaceAll(tc.file, "{dir}", filepath.Base(dir)))
			}
			if *re != *want {
				t.Errorf("error %+v, want %+v", re, want)
			}
			if !strings.HasSuffix(err.Error(), "; nothing was removed") || re.Hint() == "" {
				t.Errorf("error %q, hint %q", err, re.Hint())
			}
			if after := snapshot(t, filepath.Dir(dir)); !mapsEqual(after, before) {
				t.Errorf("files changed:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRenderForceReplacesEarlier: a render over an earlier one, also one
// reached through a link, replaces it, and leaves nothing else behind.
func TestRenderForceReplacesEarlier(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{"recipients.csv": "name,email\nAlice,alice@example.com\nBob,bob@example.com\n"})
	real := filepath.Join(dir, "renders", "out")
	if _, err := c.Render(context.Background(), real, campaign.RenderOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "latest")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	writeFiles(t, dir, map[string]string{"recipients.csv": "name,email\nCarol,carol@example.com\n"})
	c, err := campaign.Load(filepath.Join(dir, "campaign.toml"), campaign.Options{Deterministic: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{real, link} {
		if _, err := c.Render(context.Background(), out, campaign.RenderOptions{Force: true}, func(p campaign.Problem) { t.Error(p.Message) }); err != nil {
			t.Fatalf("render --force over %s: %v", out, err)
		}
		if got, want := entries(t, out), []string{"00001-carol@example.com.eml", "index.csv"}; !slices.Equal(got, want) {
			t.Errorf("%s holds %q, want %q", out, got, want)
		}
	}
	if got := entries(t, filepath.Join(dir, "renders")); !slices.Equal(got, []string{"out"}) {
		t.Errorf("beside the output: %q", got)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link is gone: %v", err)
	}
}

// TestRenderIndexCells: names and subjects from the list cannot run as
// formulas in a spreadsheet, Excel sees UTF-8, and only the owner reads
// the addresses.
func TestRenderIndexCells(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{
		"campaign.toml": strings.Replace(checkCampaign, `"Hello {{.name}}"`, `"{{.subject}}"`, 1),
		"recipients.csv": "name,email,subject\n" +
			"=cmd|' /C calc'!A0,a@example.com,=1+1\n" +
			"@SUM(1+1),b@example.com,-2\n" +
			"王小明,c@example.com,+1\n" +
			"Dan,d@example.com,'quoted\n",
	})
	out := filepath.Join(dir, "out")
	if _, err := c.Render(context.Background(), out, campaign.RenderOptions{}, func(p campaign.Problem) { t.Error(p.Message) }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "index.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\r\n")
	want := []string{
		"\ufeffrow,to,subject,file,bytes",
		`1,'=cmd|' /C calc'!A0 <a@example.com>,'=1+1,00001-a@example.com.eml,`,
		`2,'@SUM(1+1) <b@example.com>,'-2,00002-b@example.com.eml,`,
		`3,王小明 <c@example.com>,'+1,00003-c@example.com.eml,`,
		`4,Dan <d@example.com>,''quoted,00004-d@example.com.eml,`,
	}
	if len(lines) != len(want)+1 {
		t.Fatalf("index.csv:\n%s", b)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("index.csv line %d = %q, want it to start %q", i+1, lines[i], w)
		}
	}
	if runtime.GOOS == "windows" {
		return
	}
	for name, mode := range map[string]fs.FileMode{out: fs.ModeDir | 0o700, filepath.Join(out, "index.csv"): 0o600} {
		if st, err := os.Stat(name); err != nil || st.Mode() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", name, st.Mode(), mode, err)
		}
	}
}
