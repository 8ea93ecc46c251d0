package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

const greeting = "../../samples/greeting/campaign.toml"

// lockedBuffer is a bytes.Buffer the command writes to while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPreviewRefusesToListenBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8025", ":8025", "[::]:0", "192.0.2.7:8025"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"preview", "--listen", addr, greeting}, nil, &stdout, &stderr); code != exitUsage {
			t.Errorf("--listen %s: exit %d, want %d", addr, code, exitUsage)
		}
		want := `mailmerge: error: listen address "` + addr + `": preview listens on loopback only` + "\n" +
			"mailmerge: hint: the page shows every recipient's message: use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT\n"
		if stderr.String() != want {
			t.Errorf("--listen %s: stderr\n%s\nwant\n%s", addr, stderr.String(), want)
		}
		if stdout.Len() != 0 {
			t.Errorf("--listen %s: stdout %q", addr, stdout.String())
		}
	}
}

func TestPreviewUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"preview"}, "mailmerge: error: preview needs a campaign file\n"},
		{[]string{"preview", "missing.toml"}, "mailmerge: error: missing.toml: no such file or directory\n"},
		{[]string{"preview", "--port", "1", greeting}, "mailmerge: error: flag provided but not defined: -port\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, nil, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if !strings.HasPrefix(stderr.String(), tc.stderr) {
			t.Errorf("%v: stderr %q, want it to start %q", tc.args, stderr.String(), tc.stderr)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"help", "preview"}, nil, &stdout, &stderr); code != exitOK || !strings.HasPrefix(stdout.String(), "Usage: mailmerge preview CAMPAIGN.toml") {
		t.Errorf("help preview: exit %d, %q", code, stdout.String())
	}
}

// printedAddress waits for the address preview prints and returns its
// origin ("http://127.0.0.1:PORT/") and its token.
func printedAddress(t *testing.T, stdout, stderr *lockedBuffer) (origin, token string) {
	t.Helper()
	addr := regexp.MustCompile(`^preview: (http://127\.0\.0\.1:\d+/)([A-Za-z0-9_-]{32,})/ \(Ctrl-C to stop\)\n$`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], m[2]
		}
	}
	t.Fatalf("no address printed; stdout %q, stderr %q", stdout.String(), stderr.String())
	return "", ""
}

// previewRun is servePreview running on a free port, as a user starts it.
type previewRun struct {
	stdout, stderr lockedBuffer
	origin, token  string // the printed address: origin + token + "/"
	cancel         context.CancelFunc
	done           chan int
}

// startPreview starts servePreview with the given browser opener (nil: no
// --open) and waits for the address it prints.
func startPreview(t *testing.T, start startFunc) *previewRun {
	t.Helper()
	return startPreviewOf(t, start, campaign.Selection{})
}

// startPreviewOf is startPreview of the rows sel, as --rows gives them.
func startPreviewOf(t *testing.T, start startFunc, sel campaign.Selection) *previewRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &previewRun{cancel: cancel, done: make(chan int, 1)}
	go func() {
		p.done <- servePreview(ctx, greeting, "127.0.0.1:0", sel, start, newUI(&p.stdout, &p.stderr))
	}()
	p.origin, p.token = printedAddress(t, &p.stdout, &p.stderr)
	return p
}

// stop stops the preview as Ctrl-C would; it must end with exit 0.
func (p *previewRun) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.done:
		if code != exitOK {
			t.Errorf("exit %d after Ctrl-C, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("preview did not stop")
	}
}

// TestPreviewServesUntilInterrupted runs the command as a user would, reads
// the address it prints, asks the page for the list and then stops it as
// Ctrl-C would.
func TestPreviewServesUntilInterrupted(t *testing.T) {
	p := startPreview(t, nil)
	origin, url := p.origin, p.origin+p.token+"/"
	if got, want := p.stderr.String(), "loaded "+greeting+": 5 recipients, 0 with problems\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}

	// Without the token in the printed address, nothing is shown.
	res, err := http.Get(origin + "api/rows")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("GET api/rows without the token: %d, want 403", res.StatusCode)
	}
	if rows, err := apiRows(url); err != nil || rows.Total != 5 || rows.Rows[0].To != "王小明 <wang.xiaoming@example.com>" {
		t.Errorf("GET api/rows: %+v, %v", rows, err)
	}

	p.stop(t)
}

// pageRows is the first page of the list, as api/rows gives it.
type pageRows struct {
	Total int `json:"total"`
	Rows  []struct {
		Row int    `json:"row"`
		To  string `json:"to"`
	} `json:"rows"`
}

// apiRows asks the preview at url (with its token) for the list.
func apiRows(url string) (pageRows, error) {
	var rows pageRows
	res, err := http.Get(url + "api/rows")
	if err != nil {
		return rows, err
	}
	defer res.Body.Close()
	err = json.NewDecoder(res.Body).Decode(&rows)
	return rows, err
}

// TestPreviewRows: --rows lists the rows selected and no others.
func TestPreviewRows(t *testing.T) {
	sel, err := campaign.ParseSelection("4,2")
	if err != nil {
		t.Fatal(err)
	}
	p := startPreviewOf(t, nil, sel)
	defer p.stop(t)
	if got, want := p.stderr.String(), "loaded "+greeting+": 2 recipients (rows 2,4), 0 with problems\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	rows, err := apiRows(p.origin + p.token + "/")
	if err != nil || rows.Total != 2 || len(rows.Rows) != 2 || rows.Rows[0].Row != 2 || rows.Rows[1].Row != 4 {
		t.Errorf("GET api/rows: %+v, %v; want rows 2 and 4", rows, err)
	}
}

// TestPreviewOpensPrivateFile: --open gives the browser a file only this
// user can read, which leads to the tokened address; the command line,
// which any local user can see, holds no token; the file goes when the
// preview ends.
func TestPreviewOpensPrivateFile(t *testing.T) {
	type opened struct {
		argv    []string
		page    string
		content []byte
		modes   [2]os.FileMode // the file's and its folder's
	}
	got := make(chan opened, 1)
	start := func(argv []string, _ func(error)) error {
		o := opened{argv: argv, page: argv[len(argv)-1]}
		for i, name := range []string{o.page, filepath.Dir(o.page)} {
			if fi, err := os.Stat(name); err == nil {
				o.modes[i] = fi.Mode()
			}
		}
		o.content, _ = os.ReadFile(o.page)
		got <- o
		return nil
	}
	p := startPreview(t, start)
	token, url := p.token, p.origin+p.token+"/"

	var o opened
	select {
	case o = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no browser opened")
	}
	if cmdline := strings.Join(o.argv, " "); strings.Contains(cmdline, token) {
		t.Errorf("the browser's command line %q holds the token", cmdline)
	}
	if o.modes != [2]os.FileMode{0o600, os.ModeDir | 0o700} {
		t.Errorf("page %s mode %v in a folder of mode %v, want -rw------- in drwx------", o.page, o.modes[0], o.modes[1])
	}
	for _, want := range []string{`<meta http-equiv="refresh" content="0; url=` + url + `">`, `<a href="` + url + `">`} {
		if !strings.Contains(string(o.content), want) {
			t.Errorf("page %s:\n%s\nwant it to hold %s", o.page, o.content, want)
		}
	}

	p.stop(t)
	if _, err := os.Stat(filepath.Dir(o.page)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the preview: stat %s: %v, want it removed", filepath.Dir(o.page), err)
	}
}

// TestPreviewSaysWhenNoBrowserOpens: on a machine without a browser the
// opener (xdg-open) starts but fails; --open says so and gives the address
// to open by hand instead of leaving the user waiting for a window.
func TestPreviewSaysWhenNoBrowserOpens(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the opener is xdg-open on Linux only")
	}
	bin := t.TempDir()
	// What xdg-open does where it finds no browser: exit status 3.
	script := "#!/bin/sh\necho 'xdg-open: no method available for opening' >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	p := startPreview(t, startDetached)

	want := "mailmerge: warning: could not open a browser: xdg-open: exit status 3\nmailmerge: hint: open " + p.origin + p.token + "/ yourself\n"
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr %q, want it to hold %q", p.stderr.String(), want)
		}
	}
	p.stop(t)
}

// TestPreviewPortInUse: a port another program holds is refused with a
// hint that says what to do, not only the system's words.
func TestPreviewPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"preview", "--listen", addr, greeting}, nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("--listen %s (busy): exit %d, want %d", addr, code, exitUsage)
	}
	want := "mailmerge: hint: another program is listening on " + addr + ": choose another port with --listen, or leave --listen out for a free one\n"
	if !strings.Contains(stderr.String(), "address already in use") || !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("--listen %s (busy): stderr\n%s\nwant the error, then\n%s", addr, stderr.String(), want)
	}
}
