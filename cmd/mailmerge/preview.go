package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
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
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return servePreview(ctx, path, *listen, *open, ui)
}

// servePreview runs the preview until ctx is done; Ctrl-C ends it with
// status 0.
func servePreview(ctx context.Context, path, listen string, open bool, ui *ui) int {
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
		return exitUsage
	}
	srv := preview.New(ctx, path, preview.Options{
		Campaign: campaign.Options{Mailer: mailer()},
		OnReload: func(s preview.Summary) { previewLoaded(ui, "reloaded", s) },
	})
	previewLoaded(ui, "loaded", srv.Summary())
	url := "http://" + hostPort(ln.Addr()) + srv.Path()
	fmt.Fprintf(ui.stdout, "preview: %s (Ctrl-C to stop)\n", url)
	if open {
		if err := openBrowser(url); err != nil {
			ui.warnf("could not open a browser: %v", err)
			ui.hint("open " + url + " yourself")
		}
	}
	if err := srv.Run(ctx, ln); err != nil {
		ui.errorf("%v", err)
		return exitUsage
	}
	return exitOK
}

// previewLoaded tells the terminal what the page now shows.
func previewLoaded(ui *ui, verb string, s preview.Summary) {
	if len(s.Problems) > 0 {
		for _, p := range s.Problems {
			ui.problem(p)
		}
		ui.infof("%s %s: the page shows these problems until the files are fixed", verb, s.Files[0])
		return
	}
	ui.infof("%s %s: %d %s, %d with problems", verb, s.Files[0], s.Rows, plural(s.Rows, "recipient", "recipients"), s.Invalid)
}

// hostPort writes a listener's address as a browser wants it.
func hostPort(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return net.JoinHostPort(tcp.IP.String(), fmt.Sprint(tcp.Port))
	}
	return a.String()
}

// openBrowser asks the desktop to open url; it does not wait for the
// browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reap it; its status means nothing to us
	return nil
}
