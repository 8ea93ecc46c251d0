package main

import (
	"flag"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// rowsFlag adds --rows to a command's flags; selection reads it once they
// are parsed.
func rowsFlag(fs *flag.FlagSet) *string { return fs.String("rows", "", "") }

// selection reads --rows: every row when it was not given. A selection
// that does not parse is the flag's error, "--rows: ...", written out as
// given: --rows "" is a mistake, not every row.
func selection(fs *flag.FlagSet, text string, ui *ui) (campaign.Selection, bool) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "rows" })
	if !given {
		return campaign.Selection{}, true
	}
	s, err := campaign.ParseSelection(text)
	if err != nil {
		ui.errorf("--rows: %v", err)
		return s, false
	}
	return s, true
}
