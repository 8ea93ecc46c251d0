package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/preview"
)

func cmdPreview(args []string, ui *ui) int {
	fs := flag.NewFlagSet("preview", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "")
	open := fs.Bool("open", false, "")
	rows := rowsFlag(fs)
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	sel, ok := selection(fs, *rows, ui)
	if !ok {
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var start startFunc
	if *open {
		start = startDetached
	}
	return servePreview(ctx, path, *listen, sel, start, ui)
}

// servePreview runs the preview of the rows sel until ctx is done; Ctrl-C
// ends it with status 0. With start set, it opens the page in a browser
// with it.
func servePreview(ctx context.Context, path, listen string, sel campaign.Selection, start startFunc, ui *ui) int {
	if _, err := os.Stat(path); err != nil {
		ui.errorf("%s: %v", path, fsafe.Cause(err))
		return exitUsage
	}
	ln, err := preview.Listen(listen)
	if errors.Is(err, preview.ErrNotLoopback) {
		ui.errorf("%v", err)
		ui.hint("the page shows every recipient's message: use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT")
		return exitUsage
	}
	if err != nil {
		ui.errorf("%v", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			ui.hint("another program is listening on " + listen + ": choose another port with --listen, or leave --listen out for a free one")
		}
		return exitUsage
	}
	srv := preview.New(ctx, path, preview.Options{
		Campaign: campaign.Options{Mailer: mailer(), Rows: sel, Getenv: os.Getenv},
		OnReload: func(s preview.Summary) { previewLoaded(ui, "reloaded", s, sel) },
	})
	previewLoaded(ui, "loaded", srv.Summary(), sel)
	url := "http://" + hostPort(ln.Addr()) + srv.Path()
	fmt.Fprintf(ui.stdout, "preview: %s (Ctrl-C to stop)\n", url)
	if start != nil {
		// The opener may start and then find no browser (no desktop, an ssh
		// session): that is said too, later, rather than nothing at all.
		failed := func(err error) {
			ui.warnf("could not open a browser: %v", err)
			ui.hint("open " + url + " yourself")
		}
		remove, err := openBrowser(url, start, failed)
		if err != nil {
			failed(err)
		}
		defer remove()
	}
	if err := srv.Run(ctx, ln); err != nil {
		ui.errorf("%v", err)
		return exitUsage
	}
	return exitOK
}

// previewLoaded tells the terminal what the page now shows: the rows of
// sel.
func previewLoaded(ui *ui, verb string, s preview.Summary, sel campaign.Selection) {
	if len(s.Problems) > 0 {
		for _, p := range s.Problems {
			ui.problem(p)
		}
		ui.infof("%s %s: the page shows these problems until the files are fixed", verb, s.Files[0])
		return
	}
	rows := ""
	if !sel.All() {
		rows = " (rows " + sel.String() + ")"
	}
	suppressed := ""
	if s.Suppressed > 0 {
		suppressed = fmt.Sprintf(", %d suppressed", s.Suppressed)
	}
	ui.infof("%s %s: %d %s%s, %d with problems%s", verb, s.Files[0], s.Rows, plural(s.Rows, "recipient", "recipients"), rows, s.Invalid, suppressed)
}

// hostPort writes a listener's address as a browser wants it.
func hostPort(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return net.JoinHostPort(tcp.IP.String(), fmt.Sprint(tcp.Port))
	}
	return a.String()
}

// A startFunc starts a command line without waiting for it; failed is
// called, from another goroutine, if it then ends with an error.
type startFunc func(argv []string, failed func(error)) error

// openBrowser asks the desktop to open url without putting it on a command
// line, where any local user could read its token with ps: the browser
// opens a private file that redirects to it. remove deletes that file; call
// it when the preview ends, whatever the error.
func openBrowser(url string, start startFunc, failed func(error)) (remove func(), err error) {
	dir, err := os.MkdirTemp("", "mailmerge-preview-") // 0700
	if err != nil {
		return func() {}, err
	}
	remove = func() { _ = os.RemoveAll(dir) }
	page := filepath.Join(dir, "open.html")
	if err := os.WriteFile(page, redirectPage(url), 0o600); err != nil {
		return remove, fsafe.Cause(err)
	}
	return remove, start(browserCommand(page), failed)
}

// redirectPage sends the browser on to url at once, with a link in case
// it does not follow.
func redirectPage(url string) []byte {
	u := html.EscapeString(url)
	return []byte(`<!DOCTYPE html>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0; url=` + u + `">
<meta name="referrer" content="no-referrer">
<title>mailmerge preview</title>
<p><a href="` + u + `">Open the preview</a></p>
`)
}

// browserCommand is the command line that opens a file in the desktop's
// browser.
func browserCommand(file string) []string {
	switch runtime.GOOS {
	case "darwin":
		return []string{"open", file}
	case "windows":
		return []string{"rundll32", "url.dll,FileProtocolHandler", file}
	}
	return []string{"xdg-open", file}
}

// startDetached starts argv and does not wait for it; an exit status
// other than 0 goes to failed. Ended by a signal (Ctrl-C reaches the whole
// process group) it failed at nothing.
func startDetached(argv []string, failed func(error)) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		var exit *exec.ExitError
		if err := cmd.Wait(); errors.As(err, &exit) && exit.ExitCode() > 0 {
			failed(fmt.Errorf("%s: %w", argv[0], err))
		}
	}()
	return nil
}
