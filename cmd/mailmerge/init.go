package main

import (
	"flag"
	"strings"

	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/starter"
)

// cmdInit writes the starter campaign into a folder and prints what to
// run next.
func cmdInit(args []string, ui *ui) int {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	xlsx := fs.Bool("xlsx", false, "")
	dirs, ok := parseArgs(fs, args, ui)
	if !ok {
		return exitUsage
	}
	dir := "."
	switch len(dirs) {
	case 0:
	case 1:
		dir = dirs[0]
	default:
		ui.errorf("init takes one folder, got %d arguments: %s", len(dirs), strings.Join(dirs, " "))
		ui.hint("run mailmerge help init")
		return exitUsage
	}
	files, err := starter.Files(*xlsx)
	if err == nil {
		_, err = starter.Write(dir, files)
	}
	if err != nil {
		ui.errorf("%v", err)
		ui.hint(human.Hint(err))
		return exitUsage
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	ui.initNext(dir, names, starter.ListName(*xlsx))
	return exitOK
}
