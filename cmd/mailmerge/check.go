package main

import (
	"context"
	"flag"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

func cmdCheck(args []string, ui *ui) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	c, err := campaign.Load(path, campaign.Options{Mailer: mailer()})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	sum, err := c.Check(context.Background(), ui.problem)
	if err != nil {
		ui.errorf("%v", err)
		return exitUsage
	}
	ui.checkSummary("check", sum)
	if sum.Errors > 0 {
		return exitUsage
	}
	return exitOK
}

func mailer() string { return "mailmerge/" + version }
