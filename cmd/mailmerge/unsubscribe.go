package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/suppress"
	"github.com/mailmerge/mailmerge/internal/unsubscribe"
)

// cmdUnsubscribe runs unsubscribe serve: the one-click endpoint of the
// campaign's links, until Ctrl-C or SIGTERM.
func cmdUnsubscribe(args []string, ui *ui) int {
	fs := flag.NewFlagSet("unsubscribe", flag.ContinueOnError)
	listen := fs.String("listen", unsubscribe.DefaultListen, "")
	public := fs.Bool("public", false, "")
	positional, ok := parseArgs(fs, args, ui)
	if !ok {
		return exitUsage
	}
	if len(positional) != 2 || positional[0] != "serve" {
		ui.errorf("unsubscribe takes serve and one campaign file, got: %s", strings.Join(positional, " "))
		ui.hint("mailmerge unsubscribe serve CAMPAIGN.toml [--listen ADDR]")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveUnsubscribe(ctx, positional[1], *listen, *public, ui)
}

// serveUnsubscribe answers the links of the campaign at path on listen
// until ctx is done; that ends it with status 0.
func serveUnsubscribe(ctx context.Context, path, listen string, public bool, ui *ui) int {
	u, err := campaign.LoadUnsubscribe(path, os.Getenv)
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	list, err := suppress.Open(u.File)
	if err != nil {
		ui.errorf("%v", err)
		return exitUsage
	}
	defer list.Close()
	ln, err := unsubscribe.Listen(listen, public)
	if err != nil {
		ui.errorf("%v", err)
		switch {
		case errors.Is(err, unsubscribe.ErrNotLoopback):
			ui.hint("run it behind a web server on this machine (127.0.0.1:PORT), or add --public when the proxy is on another machine")
		case errors.Is(err, syscall.EADDRINUSE):
			ui.hint("another program is listening on " + listen + ": choose another port with --listen")
		}
		return exitUsage
	}
	fmt.Fprintf(ui.stdout, "unsubscribe: listening on http://%s for %s, recording in %s (Ctrl-C to stop)\n", hostPort(ln.Addr()), u.URL, u.File)
	logf := func(format string, args ...any) { fmt.Fprintf(ui.stderr, format+"\n", args...) }
	if err := unsubscribe.Serve(ctx, ln, unsubscribe.NewEndpoint(u.Signer, list, logf)); err != nil {
		ui.errorf("%v", err)
		return exitUsage
	}
	return exitOK
}
