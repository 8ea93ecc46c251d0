//go:build unix

package compose_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mailmerge/mailmerge/internal/compose"
)

// hostile makes a campaign folder with a report and, beside it, a folder
// with a secret; inside the campaign folder a FIFO, a link leading out and
// a folder. It returns the campaign folder and the secret's path.
func hostile(t *testing.T) (dir, secret string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "campaign")
	writeFiles(t, dir, map[string]int{"reports/1.pdf": 10, "logo.png": 20})
	writeFiles(t, base, map[string]int{"outside/secret.txt": 6})
	secret = filepath.Join(base, "outside", "secret.txt")
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "leak.pdf")); err != nil {
		t.Fatal(err)
	}
	return dir, secret
}

// A path written with data must lead to a regular file inside the campaign
// folder; each refusal names the column and the path. Compose and Validate
// agree, and none of them blocks.
func TestFilesNamedByData(t *testing.T) {
	dir, secret := hostile(t)
	c, err := compose.New(attachmentSpec(dir))
	if err != nil {
		t.Fatal(err)
	}
	spec := attachmentSpec(dir)
	spec.HTML = file("body.html", `<p><img src="{{.files}}"></p>`)
	images, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	outside := "is outside the campaign folder and file_roots"
	for _, tc := range []struct {
		files, want string
	}{
		{"reports/1.pdf", ""},
		{"../../../../etc/hostname", outside},
		{"/etc/passwd", outside},
		{"../outside/secret.txt", outside},
		{secret, outside},
		{"leak.pdf", outside},
		{"/etc/host*", outside},
		{"/dev/zero", outside},
		{"pipe", "is a named pipe (FIFO), not a file"},
		{"reports", "is a folder, not a file"},
	} {
		for _, cc := range []struct {
			c          *compose.Composer
			where, pre string
		}{{c, "campaign.toml:1: attachments: ", "attachment "}, {images, "body.html:1: ", "inline image "}} {
			fields := map[string]string{"email": "a@example.com", "files": tc.files}
			_, err := cc.c.Compose(1, fields)
			_, verr := cc.c.Validate(1, fields)
			want := ""
			if tc.want != "" {
				want = cc.where + cc.pre + tc.files + ` from column "files": ` + tc.want
			}
			if got := errText(err); got != want || errText(verr) != want {
				t.Errorf("%s%q:\n Compose  %s\n Validate %s\n want     %s", cc.pre, tc.files, got, errText(verr), want)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A path the author wrote, with no template action, may name any file; a
// folder in FileRoots lets data name files inside it.
func TestFilesNamedByAuthorAndFileRoots(t *testing.T) {
	dir, secret := hostile(t)
	spec := attachmentSpec(dir)
	spec.Attachments = []compose.Source{src("attachments", secret)}
	spec.HTML = file("body.html", `<img src="`+secret+`">`)
	m := mustCompose(t, spec, 1, map[string]string{"email": "a@example.com"})
	if !bytes.Contains(render(t, m), []byte("eHh4eHh4")) { // "xxxxxx" in base64
		t.Error("the literal attachment is not in the message")
	}

	spec = attachmentSpec(dir)
	spec.FileRoots = []string{"../outside"}
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{secret, "../outside/secret.txt", "leak.pdf"} {
		if _, err := c.Compose(1, map[string]string{"email": "a@example.com", "files": p}); err != nil {
			t.Errorf("%s under file_roots: %v", p, err)
		}
	}
	if _, err := c.Compose(1, map[string]string{"email": "a@example.com", "files": "/etc/passwd"}); err == nil {
		t.Error("file_roots let data name /etc/passwd")
	}
	spec.FileRoots = []string{"../missing"}
	if _, err := compose.New(spec); err == nil || !strings.Contains(err.Error(), "file_roots: ") ||
		!strings.Contains(err.Error(), "missing: no such file or directory") {
		t.Errorf("a missing file_roots folder: %v", err)
	}
}

// A file that grows after the check is not read past the limit: writing
// the message fails instead.
func TestAttachmentGrowsAfterCheck(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]int{"a.bin": 100})
	spec := attachmentSpec(dir)
	spec.MaxAttachments = 1000
	m := mustCompose(t, spec, 1, map[string]string{"email": "a@example.com", "files": "a.bin"})
	writeFiles(t, dir, map[string]int{"a.bin": 5000})
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err == nil || !strings.Contains(err.Error(), "holds more than 1000 bytes") {
		t.Errorf("WriteTo = %v", err)
	}
	if buf.Len() > 2000 {
		t.Errorf("wrote %d bytes", buf.Len())
	}
}
