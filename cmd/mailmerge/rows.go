package main

import (
	"flag"
	"os"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
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

// shardFlag reads --shard: the whole list when it was not given. auto/N
// takes the shard from the environment, as a Kubernetes Indexed Job sets
// it. A shard goes with neither --rows (rows by number, where a shard
// takes them by address: the shards would no longer add up to the list)
// nor --redirect-to (test sends all go to one address, and record in
// results.test.csv).
func shardFlag(fs *flag.FlagSet, text string, f sendFlags, ui *ui) (campaign.Shard, bool) {
	given := false
	fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == "shard" })
	if !given {
		return campaign.Shard{}, true
	}
	s, err := campaign.ParseShard(text, os.Getenv)
	switch {
	case err != nil:
		ui.errorf("%v", err)
		ui.hint(human.Hint(err))
		return s, false
	case f.rows != "":
		ui.errorf("--shard and --rows exclude each other: a shard takes its rows by address, --rows by number")
		ui.hint("send a shard whole (--shard " + s.String() + "), or rows of the whole list without --shard")
		return s, false
	case f.redirectTo != "":
		ui.errorf("--shard and --redirect-to exclude each other: test sends all go to one address")
		ui.hint("send the tests without --shard, then the shards")
		return s, false
	}
	return s, true
}
