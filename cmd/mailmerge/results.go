package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
)

const resultsHelp = `Usage: mailmerge results merge CAMPAIGN.toml [--results FILE] [--force] [--json]

What is done with a campaign's results files. See mailmerge help results merge.
`

const resultsMergeHelp = `Usage: mailmerge results merge CAMPAIGN.toml [--results FILE] [--force] [--json]

Joins the results files of a campaign sent in shards, by
send --shard I/N, each in results.shard-I-of-N.csv beside the results
file, into the campaign's results file: one line per row of the list, in
row order, each as its shard recorded it, every column kept. Afterwards
send --resume (no shard) goes on from the merged file, and sends nobody
a second copy.

It first checks that the shards add up to the list: every shard from 0 to
N-1 has its file, all of one N, and every row of the list is in exactly
one of them, the one its address hashes to, under the address it has now.
Otherwise it writes nothing, names the rows (the row, its address and its
shard, and the command that finishes a shard) and exits 2. A shard still
sending holds its file: merge waits for nobody and refuses.

The results file is written whole to a temporary file beside it, synced,
then renamed into place. One that is already there (an earlier merge, or
an unsharded send) is never replaced: merge refuses, or with --force
moves it aside first, to results-YYYYMMDD-HHMMSS.csv as send --restart does.

Exit status 0 when it wrote the results file; 2 when the shards do not add
up, a shard is still sending, or the results file exists without --force.

Flags:
    --results FILE    the campaign's results file, instead of [send] results;
                      the shard files are beside it: DIR/results.csv after send --sandbox DIR
    --force           move an existing results file aside (kept, renamed) first
    --json            print one JSON object on stdout: the results file, n, the
                      shard files, the rows by status, the problems (fault, row,
                      email, shard), exit_status, error and hint

Examples:
    mailmerge results merge campaign.toml
    mailmerge results merge campaign.toml --force --json
`

// cmdResults runs results merge.
func cmdResults(args []string, ui *ui) int {
	if len(args) > 0 && args[0] == "merge" {
		return cmdMerge(args[1:], ui)
	}
	if len(args) > 0 {
		ui.errorf("unknown command \"results %s\"", args[0])
	} else {
		ui.errorf("results needs a command: merge")
	}
	ui.hint("run mailmerge help results merge")
	return exitUsage
}

// cmdMerge runs results merge; with --json it ends, whatever happened,
// with one JSON object on stdout.
func cmdMerge(args []string, ui *ui) int {
	return withJSON(args, ui, func(s *campaign.MergeSummary) int { return merge(args, ui, s) },
		func(s campaign.MergeSummary, status int) { ui.mergeJSON(s, status) })
}

func merge(args []string, ui *ui, sum *campaign.MergeSummary) int {
	fs := flag.NewFlagSet("results merge", flag.ContinueOnError)
	fs.Bool("json", false, "")
	results := fs.String("results", "", "")
	force := fs.Bool("force", false, "")
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	c, err := campaign.Load(path, campaign.Options{Mailer: mailer(), Getenv: os.Getenv})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	*sum, err = c.Merge(ctx, campaign.MergeOptions{Results: *results, Force: *force})
	if err != nil {
		return mergeError(ui, path, asRun(fs, path), *sum, err)
	}
	counts := ""
	for _, st := range []journal.Status{journal.Sent, journal.Failed, journal.Skipped, journal.Unknown, journal.Bounced} {
		if n := sum.Counts[st]; n > 0 || st != journal.Bounced {
			counts += fmt.Sprintf(", %s %d", st, n)
		}
	}
	fmt.Fprintf(ui.stdout, "merged %d shards: %d rows into %s (%s)\n", sum.N, sum.ListRows, sum.Results, counts[2:])
	if sum.RotatedTo != "" {
		fmt.Fprintf(ui.stdout, "the earlier results were kept in %s\n", sum.RotatedTo)
	}
	return exitOK
}

// mergeError explains why results merge wrote nothing.
// asRun is the merge command as it was run, for a hint that runs it again.
func mergeError(ui *ui, path, asRun string, sum campaign.MergeSummary, err error) int {
	switch {
	case errors.Is(err, campaign.ErrShardsIncomplete):
		for _, p := range sum.Problems {
			ui.errorf("%s", mergeProblem(p, sum.Results))
			ui.hint(mergeHint(p, path))
		}
		shown := map[campaign.MergeFault]int{}
		for _, p := range sum.Problems {
			shown[p.Fault]++
		}
		for _, f := range []campaign.MergeFault{campaign.Missing, campaign.Doubled, campaign.Misplaced, campaign.Changed} {
			if more := sum.Faults[f] - shown[f]; more > 0 {
				ui.errorf("and %d more %s %s", more, f, plural(more, "row", "rows"))
			}
		}
		ui.errorf("nothing was merged: the shards do not hold every row of the list exactly once")
	case errors.Is(err, campaign.ErrResultsExist):
		ui.errorf("%v", err)
		ui.hint("to keep it under another name and merge: " + strings.Replace(asRun+" --force", " --force --force", " --force", 1))
	case errors.Is(err, campaign.ErrNoShards):
		ui.errorf("%v", err)
		ui.hint("send the shards first: mailmerge send " + shellQuote(path) + " --shard 0/N, then 1/N, up to N-1/N")
	case errors.Is(err, campaign.ErrShardCounts):
		ui.errorf("%v", err)
		ui.hint("keep the files of one sharded run beside the results file: move the others away")
	default:
		ui.loadError(err)
	}
	return exitUsage
}

// mergeProblem is the line that names one row that keeps the shards from merging.
func mergeProblem(p campaign.MergeProblem, results string) string {
	switch p.Fault {
	case campaign.NoFile:
		return fmt.Sprintf("shard %s has no results file %s", p.Shard, p.Shard.ResultsPath(results))
	case campaign.Missing:
		return fmt.Sprintf("row %d (%s) is missing: shard %s has not recorded it", p.Row, p.Email, p.Shard)
	case campaign.Doubled:
		return fmt.Sprintf("row %d (%s) is in two shards: %s, its own, and %s", p.Row, p.Email, p.Shard, p.Other)
	case campaign.Changed:
		return fmt.Sprintf("row %d is now %s, not the address shard %s recorded: the list changed", p.Row, p.Email, p.Shard)
	}
	if p.Shard.All() {
		return fmt.Sprintf("row %d (%s) is in shard %s, and the list has no such row: the list changed", p.Row, p.Email, p.Other)
	}
	return fmt.Sprintf("row %d (%s) is in shard %s, but its address is in shard %s: the list changed", p.Row, p.Email, p.Other, p.Shard)
}

// mergeHint is what to do about one problem.
func mergeHint(p campaign.MergeProblem, path string) string {
	run := "mailmerge send " + shellQuote(path) + " --shard " + p.Shard.String()
	switch p.Fault {
	case campaign.NoFile:
		return "send that shard: " + run
	case campaign.Missing:
		return "finish that shard: " + run + " --resume"
	}
	return "rows are matched to results by position and shards by address: restore the list the shards were sent from"
}

// mergeJSON is results merge --json.
func (u *ui) mergeJSON(s campaign.MergeSummary, status int) {
	type problem struct {
		Fault string `json:"fault"`
		Row   int    `json:"row"`
		Email string `json:"email"`
		Shard string `json:"shard"`
		Other string `json:"other,omitempty"`
	}
	v := struct {
		Results    string         `json:"results"`
		N          int            `json:"n"`
		Shards     []string       `json:"shards"`
		Rows       int            `json:"rows"`
		Counts     map[string]int `json:"counts"`
		RotatedTo  string         `json:"rotated_to,omitempty"`
		Problems   []problem      `json:"problems"`
		Faults     map[string]int `json:"faults"`
		ExitStatus int            `json:"exit_status"`
		Error      string         `json:"error,omitempty"`
		Hint       string         `json:"hint,omitempty"`
	}{Results: s.Results, N: s.N, Shards: []string{}, Rows: s.ListRows, Counts: map[string]int{}, RotatedTo: s.RotatedTo,
		Problems: []problem{}, Faults: map[string]int{}, ExitStatus: status}
	for _, f := range s.Shards {
		v.Shards = append(v.Shards, f.Path)
	}
	for st, n := range s.Counts {
		v.Counts[string(st)] = n
	}
	for f, n := range s.Faults {
		v.Faults[string(f)] = n
	}
	for _, p := range s.Problems {
		v.Problems = append(v.Problems, problem{string(p.Fault), p.Row, p.Email, p.Shard.String(), p.Other.String()})
	}
	v.Error, v.Hint, _ = u.report.lines()
	_ = json.NewEncoder(u.stdout).Encode(v)
}
