package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
)

func cmdRender(args []string, ui *ui) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	out := fs.String("out", "", "")
	force := fs.Bool("force", false, "")
	limit := fs.Int("limit", 0, "")
	deterministic := fs.Bool("deterministic", false, "")
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	if *out == "" {
		ui.errorf("render needs --out DIR, the folder for the .eml files")
		ui.hint(asRun(fs, path) + " --out out/preview")
		return exitUsage
	}
	if !counted(fs, ui, map[string]string{"limit": "leave --limit out to write every message"}) {
		return exitUsage
	}
	c, err := campaign.Load(path, campaign.Options{Deterministic: *deterministic, Mailer: mailer()})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	sum, err := c.Render(context.Background(), *out, campaign.RenderOptions{Force: *force, Limit: *limit}, ui.problem)
	if errors.Is(err, campaign.ErrNotEmpty) {
		ui.errorf("%v", err)
		ui.hint("choose an empty folder, or add --force to replace an earlier render")
		return exitUsage
	}
	if err != nil {
		ui.errorf("%v", err)
		ui.hint(human.Hint(err))
		return exitUsage
	}
	ui.checkSummary("check", sum.CheckSummary)
	if sum.Errors > 0 {
		ui.errorf("nothing was written to %s", *out)
		return exitUsage
	}
	fmt.Fprintf(ui.stdout, "rendered %d %s (%s) to %s; index: %s\n", sum.Written, plural(sum.Written, "message", "messages"),
		human.Bytes(sum.Bytes), *out, *out+"/index.csv")
	return exitOK
}
