package campaign

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// Shard is one of N parts of a list, as send --shard I/N names it: the
// rows whose recipient address hashes to I (ShardOf). N processes, on as
// many machines, send the N shards of one list with no coordinator; each
// records in a results file of its own (ResultsPath), and results merge
// joins those files. Shards are numbered 0 to N-1, as a Kubernetes Indexed
// Job numbers its pods. The zero value is the whole list.
type Shard struct {
	I, N int
}

// MaxShards bounds N: more processes than this share no list usefully,
// and a typo of many digits is an error rather than a million files.
const MaxShards = 1024

// ShardOf is the shard of n that the address addr belongs to: the 64-bit
// FNV-1a hash (hash/fnv New64a) of the address, trimmed and lower-cased,
// modulo n. Two rows with the same address are always in the same shard.
//
// It must never change: shard files written by one version are resumed
// and merged by another. TestShardOfIsPinned holds it to known values.
func ShardOf(addr string, n int) int {
	return int(journal.HashEmail(addr) % uint64(n))
}

// JobIndexVar is the environment variable --shard auto/N reads the shard
// from: a Kubernetes Indexed Job sets it to the pod's index.
const JobIndexVar = "JOB_COMPLETION_INDEX"

// errShardWith is Load refusing Options.Shard with Rows or RedirectTo;
// cmd refuses the flags before that.
var errShardWith = errors.New("a shard goes with neither a selection of rows nor a test address")

// ShardError is a --shard that does not parse; Help says how to write it.
type ShardError struct {
	Text string
	Err  error
	Help string
}

func (e *ShardError) Error() string { return fmt.Sprintf("--shard %s: %v", e.Text, e.Err) }
func (e *ShardError) Unwrap() error { return e.Err }

// Hint says how to write a shard.
func (e *ShardError) Hint() string { return e.Help }

// ParseShard reads "I/N", such as "0/4", or "auto/N", which takes I from
// the environment variable JobIndexVar through getenv (only cmd reads the
// environment). I runs from 0 to N-1 and N from 1 to MaxShards.
func ParseShard(text string, getenv func(string) string) (Shard, error) {
	fail := func(help, format string, args ...any) (Shard, error) {
		return Shard{}, &ShardError{Text: text, Err: fmt.Errorf(format, args...), Help: help}
	}
	const how = "write the shard and how many there are, I/N with I from 0 to N-1: --shard 0/4 is the first of four"
	index, count, ok := strings.Cut(text, "/")
	if !ok {
		return fail(how, "is not I/N")
	}
	if _, err := shardNumber(index); err != nil && index != "auto" {
		return fail(how, "%q is not a shard number", index)
	}
	n, err := shardNumber(count)
	switch {
	case err != nil:
		return fail(how, "%q is not a count of shards", count)
	case n < 1 || n > MaxShards:
		return fail(how, "the count of shards must be 1 to %d, not %s", MaxShards, count)
	}
	if index == "auto" {
		v := ""
		if getenv != nil {
			v = getenv(JobIndexVar)
		}
		if v == "" {
			return fail(fmt.Sprintf("a Kubernetes Indexed Job sets %s in each pod; elsewhere give the shard itself: --shard 0/%d", JobIndexVar, n),
				"%s is not set", JobIndexVar)
		}
		if i, err := shardNumber(v); err != nil || i >= n {
			return fail(fmt.Sprintf("%s must be 0 to %d: the Job's completions must be %d, the N of --shard auto/%d", JobIndexVar, n-1, n, n),
				"%s is %q, not a shard from 0 to %d", JobIndexVar, v, n-1)
		}
		index = v
	}
	i, _ := shardNumber(index)
	if i >= n {
		return fail(fmt.Sprintf("shards are numbered from 0, as Kubernetes' %s: the %d shards are 0/%d to %d/%d", JobIndexVar, n, n, n-1, n),
			"there is no shard %d of %d", i, n)
	}
	return Shard{I: i, N: n}, nil
}

// shardNumber reads digits only: no sign, no spaces.
func shardNumber(s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" || len(s) > 9 {
		return 0, errors.New("not a number")
	}
	return strconv.Atoi(s)
}

// All says whether the shard is the whole list: the zero value.
func (s Shard) All() bool { return s.N == 0 }

// String writes the shard as ParseShard reads it, "2/4"; "" for the whole list.
func (s Shard) String() string {
	if s.All() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// ResultsPath is where the shard records, beside results, the campaign's
// results file: results.shard-2-of-4.csv for results.csv.
func (s Shard) ResultsPath(results string) string {
	ext := filepath.Ext(results)
	return fmt.Sprintf("%s.shard-%d-of-%d%s", strings.TrimSuffix(results, ext), s.I, s.N, ext)
}

// shardKey is what a row's shard is computed from: the address the
// results file records it under, or, for a row without a valid one, its To
// as written, so that every row of the list belongs to exactly one shard.
// fields is nil for a row the list itself refused.
func (c *Campaign) shardKey(addr string, fields map[string]string) string {
	if fields == nil || addr != "" {
		return addr
	}
	return c.composer.ToText(fields)
}

// inShard says whether a row of the list, whose recipient address is addr
// (composer.Recipient, "" when it has none), is in Options.Shard. Row 0, a
// line the reader could not number, is in every shard: it is about the list.
func (c *Campaign) inShard(row int, addr string, fields map[string]string) bool {
	return c.shard.All() || row == 0 || ShardOf(c.shardKey(addr, fields), c.shard.N) == c.shard.I
}

// ShardFile is the results file of one shard, found beside the campaign's.
type ShardFile struct {
	Shard
	Path string
}

// shardFiles finds the results files of shards beside results, in the
// order of N, then I. Files --restart moved aside, and .inflight
// sidecars, do not match.
func shardFiles(results string) ([]ShardFile, error) {
	ext := filepath.Ext(results)
	stem := strings.TrimSuffix(filepath.Base(results), ext)
	names, err := filepath.Glob(filepath.Join(globEscape(filepath.Dir(results)), globEscape(stem)+".shard-*-of-*"+globEscape(ext)))
	if err != nil {
		return nil, err
	}
	var out []ShardFile
	for _, name := range names {
		mid := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), stem+".shard-"), ext)
		i, n, _ := strings.Cut(mid, "-of-")
		s, err := ParseShard(i+"/"+n, nil)
		if err != nil || s.ResultsPath(results) != name {
			continue // not a name send writes: 01-of-4, auto-of-4
		}
		out = append(out, ShardFile{Shard: s, Path: name})
	}
	slices.SortFunc(out, func(a, b ShardFile) int { return cmp.Or(a.N-b.N, a.I-b.I) })
	return out, nil
}

// globEscape quotes the characters filepath.Glob reads as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Errors of a send that would mix a sharded and an unsharded run.
var (
	// ErrShardsUnmerged: a send without --shard, with no results file,
	// found shard results beside it: it would send their rows again.
	ErrShardsUnmerged = errors.New("this campaign was sent in shards")
	// ErrUnsharded: a shard with no results file of its own found the
	// campaign's results file, of a run without --shard.
	ErrUnsharded = errors.New("this campaign was sent without --shard")
)

// unmixed refuses a send that would send rows again because their
// outcomes are in the results of the other kind of run: shard results
// not merged yet, or an unsharded run's results for a shard starting
// afresh. results is the campaign's results file, before Shard.ResultsPath.
func (c *Campaign) unmixed(results string, opts SendOptions) error {
	if c.redirect || opts.Restart {
		return nil
	}
	if c.shard.All() {
		files, err := shardFiles(results)
		if err != nil || len(files) == 0 || exists(results) {
			return err
		}
		return fmt.Errorf("%w: %s holds the outcomes of shard %s, and there is no %s to go by",
			ErrShardsUnmerged, files[0].Path, files[0].Shard, results)
	}
	if own := c.shard.ResultsPath(results); !exists(own) && exists(results) {
		return fmt.Errorf("%w: %s holds its outcomes, and shard %s would send those rows again",
			ErrUnsharded, results, c.shard)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
