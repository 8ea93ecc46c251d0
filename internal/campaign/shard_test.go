package campaign_test

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// The shard of an address must never change: files written by one version
// are resumed and merged by another. These values are pinned by hand.
func TestShardOfIsPinned(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		n, want int
	}{
		{"user0001@example.com", 4, 0},
		{"user0001@example.com", 1024, 328},
		{"ana@example.com", 1024, 712},
		{"", 4, 1},
		{"", 1024, 805},
		{"bob@example.org", 1024, 970},
		{"  Bob@Example.ORG ", 1024, 970}, // trimmed and lower-cased
		{"zoë@例え.jp", 4, 3},
		{"zoë@例え.jp", 1024, 335},
		{"anything@example.com", 1, 0},
	} {
		if got := campaign.ShardOf(tc.addr, tc.n); got != tc.want {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", tc.addr, tc.n, got, tc.want)
		}
	}
	// It is FNV-1a 64 as hash/fnv computes it, as the documentation says.
	for _, a := range []string{"user0001@example.com", "x@y.z", "Ünïcode@例え.jp"} {
		h := fnv.New64a()
		h.Write([]byte(strings.ToLower(a)))
		if got, want := campaign.ShardOf(a, 1000), int(h.Sum64()%1000); got != want {
			t.Errorf("ShardOf(%q, 1000) = %d, hash/fnv says %d", a, got, want)
		}
	}
}

func TestParseShard(t *testing.T) {
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == campaign.JobIndexVar {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		text, index string
		want        campaign.Shard
		err         string
	}{
		{text: "0/4", want: campaign.Shard{I: 0, N: 4}},
		{text: "3/4", want: campaign.Shard{I: 3, N: 4}},
		{text: "0/1", want: campaign.Shard{I: 0, N: 1}},
		{text: "1023/1024", want: campaign.Shard{I: 1023, N: 1024}},
		{text: "auto/4", index: "2", want: campaign.Shard{I: 2, N: 4}},
		{text: "4/4", err: "--shard 4/4: there is no shard 4 of 4"},
		{text: "0/0", err: "--shard 0/0: the count of shards must be 1 to 1024, not 0"},
		{text: "-1/3", err: `--shard -1/3: "-1" is not a shard number`},
		{text: "a/b", err: `--shard a/b: "a" is not a shard number`},
		{text: "1/b", err: `--shard 1/b: "b" is not a count of shards`},
		{text: "1/1000000", err: "--shard 1/1000000: the count of shards must be 1 to 1024, not 1000000"},
		{text: "2", err: "--shard 2: is not I/N"},
		{text: " 1/4", err: `--shard  1/4: " 1" is not a shard number`},
		{text: "auto/4", err: "--shard auto/4: JOB_COMPLETION_INDEX is not set"},
		{text: "auto/4", index: "4", err: `--shard auto/4: JOB_COMPLETION_INDEX is "4", not a shard from 0 to 3`},
		{text: "auto/4", index: "x", err: `--shard auto/4: JOB_COMPLETION_INDEX is "x", not a shard from 0 to 3`},
	} {
		got, err := campaign.ParseShard(tc.text, env(tc.index))
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("ParseShard(%q) error = %v, want %q", tc.text, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseShard(%q) = %v, %v, want %v", tc.text, got, err, tc.want)
		}
		var se *campaign.ShardError
		if err != nil && (!errors.As(err, &se) || se.Hint() == "") {
			t.Errorf("ParseShard(%q): %v has no hint", tc.text, err)
		}
	}
}

// withShard loads c again to send shard s.
func withShard(t *testing.T, c *campaign.Campaign, s campaign.Shard) *campaign.Campaign {
	t.Helper()
	c, err := campaign.Load(c.Path, campaign.Options{Shard: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shardRows are the rows of the test list (addr(1) ... addr(rows)) in shard s.
func shardRows(rows int, s campaign.Shard) []int {
	var out []int
	for i := 1; i <= rows; i++ {
		if campaign.ShardOf(addr(i), s.N) == s.I {
			out = append(out, i)
		}
	}
	return out
}

func merge(c *campaign.Campaign, opts campaign.MergeOptions) (campaign.MergeSummary, error) {
	return c.Merge(context.Background(), opts)
}

// N shards sent one after another send every row exactly once, each
// recording its own rows in its own file; the merge joins them in row
// order, and a resume of the whole campaign then sends nobody.
func TestSendShardsThenMerge(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	const rows, n = 40, 3
	c := newSendCampaign(t, rows, sendKeys{})
	for i := range n {
		s := campaign.Shard{I: i, N: n}
		sum := send(t, withShard(t, c, s), campaign.SendOptions{Server: target(srv)})
		want := shardRows(rows, s)
		if sum.Shard != s.String() || sum.Sent != len(want) || sum.Check.Rows != len(want) || sum.Check.ListRows != rows {
			t.Fatalf("shard %s: %+v, want %d of %d rows sent", s, sum, len(want), rows)
		}
		if base := filepath.Base(sum.Results); base != "results.shard-"+string(rune('0'+i))+"-of-3.csv" {
			t.Fatalf("shard %s recorded in %s", s, base)
		}
		if got := rowsOf(readResults(t, sum.Results)); !slices.Equal(got, want) {
			t.Fatalf("shard %s recorded rows %v, want %v", s, got, want)
		}
	}
	if got := len(copies(srv)); got != rows || srv.Received() != rows {
		t.Fatalf("the server got %d messages for %d addresses, want %d once each", srv.Received(), got, rows)
	}

	m, err := merge(c, campaign.MergeOptions{})
	if err != nil {
		t.Fatalf("merge: %v (%+v)", err, m.Problems)
	}
	if m.N != n || m.ListRows != rows || m.Counts[journal.Sent] != rows || m.Results != c.ResultsPath() {
		t.Fatalf("merge summary = %+v", m)
	}
	merged := readResults(t, c.ResultsPath())
	if len(merged) != rows {
		t.Fatalf("merged file has %d rows, want %d", len(merged), rows)
	}
	checkOnce(t, merged, copies(srv))
	assertRowOrder(t, c.ResultsPath())

	again := send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if again.Sent != 0 || again.Previous["sent"] != rows || srv.Received() != rows {
		t.Fatalf("resume after the merge: %+v, server got %d; want nobody sent", again, srv.Received())
	}

	// A second merge does not replace the first unless told to, and then keeps it.
	if _, err := merge(c, campaign.MergeOptions{}); !errors.Is(err, campaign.ErrResultsExist) {
		t.Fatalf("merge over a results file: %v, want ErrResultsExist", err)
	}
	m, err = merge(c, campaign.MergeOptions{Force: true})
	if err != nil || m.RotatedTo == "" {
		t.Fatalf("merge --force: %v, rotated to %q", err, m.RotatedTo)
	}
	if len(readResults(t, m.RotatedTo)) != rows || len(readResults(t, c.ResultsPath())) != rows {
		t.Fatal("merge --force lost rows")
	}
}

// assertRowOrder checks that the rows of a results file come in row order.
func assertRowOrder(t *testing.T, path string) {
	t.Helper()
	var got []int
	if err := journal.Entries(path, func(e journal.Entry) error { got = append(got, e.Row); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(got) {
		t.Errorf("%s: rows are not in order: %v", path, got)
	}
}

// A shard stopped half way resumes on its own file, and sends only the
// rest of its rows.
func TestSendShardResume(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	const rows = 60
	s := campaign.Shard{I: 1, N: 2}
	c := withShard(t, newSendCampaign(t, rows, sendKeys{}), s)
	first := send(t, c, campaign.SendOptions{Server: target(srv), Limit: 5})
	want := shardRows(rows, s)
	if first.Sent != 5 || first.Remaining != len(want)-5 {
		t.Fatalf("first run: %+v, want 5 sent and %d remaining", first, len(want)-5)
	}
	if _, err := c.Send(context.Background(), campaign.SendOptions{Server: target(srv)}); !errors.Is(err, campaign.ErrResultsExist) {
		t.Fatalf("a second run of the shard without --resume: %v, want ErrResultsExist", err)
	}
	rest := send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if rest.Sent != len(want)-5 || rest.Previous["sent"] != 5 {
		t.Fatalf("resume: %+v", rest)
	}
	got := readResults(t, rest.Results)
	if !slices.Equal(rowsOf(got), want) {
		t.Fatalf("shard file rows = %v, want %v", rowsOf(got), want)
	}
	checkOnce(t, got, copies(srv))
}

// A merge refuses, writing nothing, when a shard has not finished, has
// no file, or a row is in two shards or in the wrong one.
func TestMergeRefuses(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	const rows, n = 30, 2
	c := newSendCampaign(t, rows, sendKeys{})
	if _, err := merge(c, campaign.MergeOptions{}); !errors.Is(err, campaign.ErrNoShards) {
		t.Fatalf("merge with no shards: %v, want ErrNoShards", err)
	}
	s0, s1 := campaign.Shard{I: 0, N: n}, campaign.Shard{I: 1, N: n}
	send(t, withShard(t, c, s0), campaign.SendOptions{Server: target(srv)})

	m, err := merge(c, campaign.MergeOptions{})
	if !errors.Is(err, campaign.ErrShardsIncomplete) || len(m.Problems) != 1 || m.Problems[0].Fault != campaign.NoFile || m.Problems[0].Shard != s1 {
		t.Fatalf("merge without shard 1: %v %+v", err, m.Problems)
	}

	// Shard 1 stops after 2 messages: the rest of its rows are missing.
	send(t, withShard(t, c, s1), campaign.SendOptions{Server: target(srv), Limit: 2})
	m, err = merge(c, campaign.MergeOptions{})
	missing := shardRows(rows, s1)[2:]
	if !errors.Is(err, campaign.ErrShardsIncomplete) || m.Faults[campaign.Missing] != len(missing) {
		t.Fatalf("merge of an unfinished shard: %v %+v", err, m)
	}
	if p := m.Problems[0]; p.Fault != campaign.Missing || p.Row != missing[0] || p.Email != addr(missing[0]) || p.Shard != s1 {
		t.Fatalf("first problem = %+v, want row %d (%s) missing from shard 1/2", p, missing[0], addr(missing[0]))
	}
	if _, err := os.Stat(c.ResultsPath()); err == nil {
		t.Fatal("a refused merge wrote the results file")
	}
	send(t, withShard(t, c, s1), campaign.SendOptions{Server: target(srv), Resume: true})

	// A row of shard 0 recorded in shard 1's file as well.
	stray := shardRows(rows, s0)[0]
	j, err := journal.Open(s1.ResultsPath(c.ResultsPath()))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(journal.Entry{Row: stray, Email: addr(stray), Status: journal.Sent, Code: 250}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	m, err = merge(c, campaign.MergeOptions{})
	if !errors.Is(err, campaign.ErrShardsIncomplete) || len(m.Problems) != 1 {
		t.Fatalf("merge with a row in two shards: %v %+v", err, m.Problems)
	}
	if p := m.Problems[0]; p.Fault != campaign.Doubled || p.Row != stray || p.Shard != s0 || p.Other != s1 {
		t.Fatalf("problem = %+v, want row %d doubled in shards 0/2 and 1/2", p, stray)
	}

	// The same row gone from its own shard: now it is in the wrong one.
	os.Remove(s0.ResultsPath(c.ResultsPath()))
	j, err = journal.Open(s0.ResultsPath(c.ResultsPath()))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range shardRows(rows, s0)[1:] {
		j.Record(journal.Entry{Row: r, Email: addr(r), Status: journal.Sent, Code: 250})
	}
	j.Close()
	m, err = merge(c, campaign.MergeOptions{})
	if !errors.Is(err, campaign.ErrShardsIncomplete) || m.Faults[campaign.Misplaced] != 1 || m.Faults[campaign.Missing] != 1 {
		t.Fatalf("merge with a row in the wrong shard: %v %+v", err, m)
	}
}

// Sharded and unsharded runs never mix: an unsharded send refuses while
// shard results are there unmerged, and a shard refuses to start beside
// an unsharded run's results.
func TestShardedAndUnshardedDoNotMix(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 10, sendKeys{})
	send(t, withShard(t, c, campaign.Shard{I: 0, N: 2}), campaign.SendOptions{Server: target(srv)})
	if _, err := c.Send(context.Background(), campaign.SendOptions{Server: target(srv)}); !errors.Is(err, campaign.ErrShardsUnmerged) {
		t.Fatalf("unsharded send beside shard results: %v, want ErrShardsUnmerged", err)
	}

	d := newSendCampaign(t, 10, sendKeys{})
	send(t, d, campaign.SendOptions{Server: target(srv), Limit: 3})
	if _, err := withShard(t, d, campaign.Shard{I: 1, N: 2}).Send(context.Background(), campaign.SendOptions{Server: target(srv)}); !errors.Is(err, campaign.ErrUnsharded) {
		t.Fatalf("shard beside an unsharded run's results: %v, want ErrUnsharded", err)
	}
}

// FNV-1a modulo a power of two depends only on the low bits of each byte,
// so shards could be uneven. On 200,000 different addresses shaped like a
// real list's (names, separators, numbers, common domains; a fixed seed,
// so the test is the same every time) the largest shard stays within 3%
// of the mean for every N from 2 to 16.
func TestShardsAreEven(t *testing.T) {
	first := []string{"ana", "eve", "bob", "li", "wei", "mohammed", "maria", "jose", "john", "david", "sarah", "emma", "olivia", "liam", "noah", "lucas", "sofia", "yuki", "hiro", "chen", "zhang", "wang", "ivan", "olga", "pierre", "marie", "hans", "anna", "lena", "tom", "kate", "raj", "priya", "amit", "fatima", "ali", "omar", "sara", "leo", "mia"}
	last := []string{"smith", "garcia", "li", "wang", "kim", "nguyen", "mueller", "rossi", "silva", "kowalski", "ivanov", "tanaka", "sato", "chen", "patel", "khan", "lopez", "brown", "jones", "dubois", "martin", "novak", "jensen", "berg", "costa"}
	domains := []string{"gmail.com", "qq.com", "163.com", "outlook.com", "yahoo.com", "hotmail.com", "example.org", "corp.example.com", "icloud.com", "web.de"}
	seps := []string{".", "_", "", ""}
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var addrs []string // a list holds each address once
	for len(addrs) < 200_000 {
		a := first[r.IntN(len(first))] + seps[r.IntN(len(seps))] + last[r.IntN(len(last))] + strconv.Itoa(r.IntN(1000))
		a += "@" + domains[r.IntN(len(domains))]
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	for n := 2; n <= 16; n++ {
		count := make([]int, n)
		for _, a := range addrs {
			count[campaign.ShardOf(a, n)]++
		}
		if largest := slices.Max(count); float64(largest)*float64(n) > 1.03*float64(len(addrs)) {
			t.Errorf("%d shards: %v: the largest is more than 3%% above the mean", n, count)
		}
	}
}
