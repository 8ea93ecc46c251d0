package campaign

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// Errors of results merge, for errors.Is.
var (
	// ErrNoShards: there is no shard results file beside the results file.
	ErrNoShards = errors.New("no shard results to merge")
	// ErrShardCounts: the shard files beside the results file are of different N.
	ErrShardCounts = errors.New("shard results of different shard counts")
	// ErrShardsIncomplete: the shard files do not hold every row of the
	// list exactly once; MergeSummary.Problems says which rows.
	ErrShardsIncomplete = errors.New("the shards do not hold every row of the list exactly once")
)

// MergeOptions control results merge. Only cmd fills them from flags.
type MergeOptions struct {
	Results string // overrides [send] results: the shard files are beside it
	// Force moves a results file that is already there aside, as send
	// --restart does, instead of refusing: nothing is overwritten.
	Force bool
}

// MergeSummary is what results merge found, and wrote when Problems is empty.
type MergeSummary struct {
	Results   string      // the campaign's results file
	Shards    []ShardFile // the shard files found, in shard order
	N         int         // how many shards the list was sent in
	ListRows  int
	Counts    map[journal.Status]int // rows of the merged file by outcome
	RotatedTo string                 // where Force moved the results file that was there
	// Problems are the rows that kept the shards from merging: at most
	// maxMergeShown of each Fault; Faults counts them all.
	Problems []MergeProblem
	Faults   map[MergeFault]int
}

// MergeFault is what is wrong with one row of a merge.
type MergeFault string

const (
	Missing   MergeFault = "missing"   // no shard file holds the row: its shard has not finished
	Doubled   MergeFault = "doubled"   // two shard files hold the row
	Misplaced MergeFault = "misplaced" // a shard file holds a row whose address is in another shard, or past the list's end
	Changed   MergeFault = "changed"   // the row's address is not the one its shard recorded
	NoFile    MergeFault = "no file"   // a shard has no results file at all
)

// MergeProblem is one row that keeps the shards from merging.
type MergeProblem struct {
	Fault MergeFault
	Row   int    // 0 for NoFile
	Email string // the row's address in the list; for Misplaced past the end, the shard's
	Shard Shard  // the shard the row belongs to by its address (NoFile: the shard)
	Other Shard  // Doubled and Misplaced: the shard file that holds it as well, or instead
}

// maxMergeShown is how many problems of each fault a merge keeps to show.
const maxMergeShown = 10

// noShard marks, in the owners of the rows, a row number the list skipped.
const noShard = ^uint16(0)

// shardSet is the open results files of the N shards; nil for a shard
// that has none.
type shardSet struct {
	n   int
	j   []*journal.Journal
	sum *MergeSummary
}

// Merge joins the results files of the shards of a list into the
// campaign's results file: one line per row of the list, in row order,
// each copied as its shard recorded it. It checks first that the shard
// files are all there, of one N, and hold every row of the list exactly
// once, in the shard its address hashes to, under the address it has now;
// otherwise it writes nothing, returns ErrShardsIncomplete and the
// summary's Problems say which rows. The results file is written whole to
// a temporary file, synced and renamed into place. One that is already
// there is never replaced: Merge refuses, or with Force moves it aside.
func (c *Campaign) Merge(ctx context.Context, opts MergeOptions) (MergeSummary, error) {
	results := c.resultsOf(SendOptions{Results: opts.Results})
	sum := MergeSummary{Results: results, Counts: map[journal.Status]int{}, Faults: map[MergeFault]int{}}
	files, err := shardFiles(results)
	if err != nil {
		return sum, err
	}
	if len(files) == 0 {
		return sum, fmt.Errorf("%w: there is no %s beside %s", ErrNoShards, shardPattern(results), results)
	}
	sum.Shards, sum.N = files, files[0].N
	for _, f := range files[1:] {
		if f.N != sum.N {
			return sum, fmt.Errorf("%w: %s is a shard of %d, %s of %d", ErrShardCounts, files[0].Path, sum.N, f.Path, f.N)
		}
	}
	if exists(results) && !opts.Force {
		return sum, fmt.Errorf("%s: %w: merging would replace it", results, ErrResultsExist)
	}
	set := &shardSet{n: sum.N, j: make([]*journal.Journal, sum.N), sum: &sum}
	defer set.close()
	for _, f := range files {
		if set.j[f.I], err = journal.Open(f.Path); err != nil {
			return sum, err
		}
	}
	for i, j := range set.j {
		if j == nil {
			set.fault(MergeProblem{Fault: NoFile, Shard: Shard{I: i, N: sum.N}})
		}
	}
	owners, err := c.mergeRows(ctx, set)
	if err != nil {
		return sum, err
	}
	set.strays(owners)
	if len(sum.Problems) > 0 {
		return sum, ErrShardsIncomplete
	}
	header, err := set.header()
	if err != nil {
		return sum, err
	}
	if opts.Force {
		if sum.RotatedTo, err = journal.Rotate(results); err != nil {
			return sum, err
		}
	}
	return sum, set.write(results, header, owners)
}

// shardPattern is how the shard files beside results are named.
func shardPattern(results string) string {
	ext := filepath.Ext(results)
	return filepath.Base(results[:len(results)-len(ext)]) + ".shard-I-of-N" + ext
}

// mergeRows walks the list and returns the shard of every row by its
// address (owners[row-1]), noting the rows whose shard file does not hold
// them, or holds another address.
func (c *Campaign) mergeRows(ctx context.Context, set *shardSet) ([]uint16, error) {
	list, _, err := c.openList()
	if err != nil {
		return nil, err
	}
	defer list.Close()
	rows := rowReader{list: list}
	var owners []uint16
	for {
		rec, _, err := rows.next(ctx)
		if err == io.EOF {
			return owners, nil
		}
		if err != nil {
			return nil, err
		}
		if rec.Row <= 0 {
			continue // a line of the list the reader could not number: never recorded
		}
		key := c.shardKey(c.composer.Recipient(rec.Fields), rec.Fields)
		s := Shard{I: ShardOf(key, set.n), N: set.n}
		for len(owners) < rec.Row {
			owners = append(owners, noShard)
		}
		owners[rec.Row-1] = uint16(s.I)
		set.sum.ListRows = rec.Row
		j := set.j[s.I]
		if j == nil {
			set.sum.Faults[Missing]++ // the shard's NoFile says it
			continue
		}
		prev, ok := j.Lookup(rec.Row)
		switch {
		case !ok:
			set.fault(MergeProblem{Fault: Missing, Row: rec.Row, Email: key, Shard: s})
		case prev.Status != journal.Skipped && prev.EmailHash != journal.HashEmail(key):
			set.fault(MergeProblem{Fault: Changed, Row: rec.Row, Email: key, Shard: s})
		}
	}
}

// strays notes the rows a shard file holds that are not its own: another
// shard's by the address (Doubled when that shard holds it too), or past
// the end of the list.
func (set *shardSet) strays(owners []uint16) {
	for t, j := range set.j {
		if j == nil {
			continue
		}
		for row := 1; row <= j.LastRow(); row++ {
			if _, ok := j.Lookup(row); !ok {
				continue
			}
			holder := Shard{I: t, N: set.n}
			if row > len(owners) || owners[row-1] == noShard {
				set.fault(MergeProblem{Fault: Misplaced, Row: row, Email: recorded(j, row), Other: holder})
				continue
			}
			own := int(owners[row-1])
			if own == t {
				continue
			}
			p := MergeProblem{Fault: Misplaced, Row: row, Email: recorded(j, row), Shard: Shard{I: own, N: set.n}, Other: holder}
			if o := set.j[own]; o != nil {
				if _, ok := o.Lookup(row); ok {
					p.Fault = Doubled
				}
			}
			set.fault(p)
		}
	}
}

// recorded is the address a results file holds for row, for a message.
func recorded(j *journal.Journal, row int) string {
	line, ok, err := j.Line(row)
	if !ok || err != nil {
		return ""
	}
	rec, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil || len(rec) < 2 {
		return ""
	}
	return fsafe.UnescapeCell(rec[1])
}

// fault counts a problem and keeps the first few of its kind.
func (set *shardSet) fault(p MergeProblem) {
	set.sum.Faults[p.Fault]++
	if set.sum.Faults[p.Fault] <= maxMergeShown {
		set.sum.Problems = append(set.sum.Problems, p)
	}
}

// header is the header line the shard files share. Files written by
// versions with other columns do not merge: their lines would not fit
// one header.
func (set *shardSet) header() ([]byte, error) {
	var first []byte
	for i, j := range set.j {
		h, err := j.Header()
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first = h
		} else if !bytes.Equal(h, first) {
			return nil, fmt.Errorf("the results files of shards 0 and %d have different columns: %q and %q (written by different versions)",
				i, bytes.TrimSpace(first), bytes.TrimSpace(h))
		}
	}
	return first, nil
}

// write writes the merged results file: the header and each row's line
// from its shard, to a temporary file beside results that is synced and
// then renamed to it, so that results is never half written.
func (set *shardSet) write(results string, header []byte, owners []uint16) error {
	dir := filepath.Dir(results)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(results)+".merge-*")
	if err != nil {
		return fmt.Errorf("write merged results: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is none
	defer tmp.Close()
	w := bufio.NewWriterSize(tmp, 256<<10)
	w.Write(header)
	for i, own := range owners {
		if own == noShard {
			continue
		}
		j := set.j[own]
		line, _, err := j.Line(i + 1)
		if err != nil {
			return err
		}
		w.Write(line)
		prev, _ := j.Lookup(i + 1)
		set.sum.Counts[prev.Status]++
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write merged results %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write merged results %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write merged results %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), results); err != nil {
		return fmt.Errorf("write merged results: %w", err)
	}
	return fsafe.SyncDir(dir)
}

// close lets go of the shard files, as a run that ended in good order
// does: a row left in flight by a crash is recorded unknown, and the file
// is compacted to one line per row.
func (set *shardSet) close() {
	for _, j := range set.j {
		if j != nil {
			j.Close()
		}
	}
}
