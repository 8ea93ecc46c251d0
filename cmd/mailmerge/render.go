package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
)

func cmdRender(args []string, ui *ui) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	out := fs.String("out", "", "")
	force := fs.Bool("force", false, "")
	limit := fs.Int("limit", 0, "")
	deterministic := fs.Bool("deterministic", false, "")
	skipInvalid := fs.Bool("skip-invalid", false, "")
	show := fs.Int("show", 0, "")
	rows := rowsFlag(fs)
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	if !counted(fs, ui, map[string]string{
		"limit": "leave --limit out to write every message",
		"show":  "leave --show out to print no message",
	}) {
		return exitUsage
	}
	if *out == "" && *show == 0 {
		ui.errorf("render needs --out DIR, the folder for the .eml files, or --show N to print the first messages")
		ui.hint(asRun(fs, path) + " --out out/preview")
		return exitUsage
	}
	sel, ok := selection(fs, *rows, ui)
	if !ok {
		return exitUsage
	}
	c, err := campaign.Load(path, campaign.Options{Deterministic: *deterministic, Mailer: mailer(), Rows: sel, Getenv: os.Getenv})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	opts := campaign.RenderOptions{Force: *force, Limit: *limit, SkipInvalid: *skipInvalid, Show: *show, Shown: ui.showMessage}
	sum, err := c.Render(context.Background(), *out, opts, ui.problem)
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
	skip := ""
	if !*skipInvalid {
		skip = asRun(fs, path) + " --skip-invalid"
	}
	return rendered(ui, sum, *out, skip)
}

// rendered says what render wrote, and its exit status: 2 when errors kept
// it from writing, 0 when it wrote every row, or with --skip-invalid the
// valid ones (the skipped rows are listed above as warnings). skip is the
// command with --skip-invalid, "" when it has it.
func rendered(ui *ui, sum campaign.RenderSummary, out string, skip string) int {
	if sum.Refused {
		if out == "" {
			return exitUsage
		}
		ui.errorf("nothing was written to %s", out)
		if skip != "" && sum.Valid > 0 && sum.Errors == sum.Rows-sum.Valid {
			ui.hint("to write the valid rows and list the others: " + skip)
		}
		return exitUsage
	}
	if out == "" {
		return exitOK
	}
	skipped := ""
	if sum.Skipped > 0 {
		skipped = fmt.Sprintf("; skipped %d invalid %s (listed above)", sum.Skipped, plural(sum.Skipped, "row", "rows"))
	}
	fmt.Fprintf(ui.stdout, "rendered %d %s (%s) to %s%s; index: %s\n", sum.Written, plural(sum.Written, "message", "messages"),
		human.Bytes(sum.Bytes), out, skipped, out+"/index.csv")
	return exitOK
}
