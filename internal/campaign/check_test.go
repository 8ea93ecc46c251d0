package campaign_test

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

const checkCampaign = `recipients = "recipients.csv"
from       = "Nami <nami@example.com>"
to         = "{{.name}} <{{.email}}>"
subject    = "Hello {{.name}}"
text       = "body.txt"
`

// checkServer is a loopback [smtp] and a [send] rate, so that check finds
// nothing to say about the settings.
const checkServer = `
[smtp]
host     = "127.0.0.1"
security = "none"

[send]
rate = "10/s"
`

// loadCheck writes a campaign folder (file name -> text) and loads it.
func loadCheck(t *testing.T, files map[string]string) (*campaign.Campaign, string) {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{"campaign.toml": checkCampaign + checkServer, "body.txt": "Hi {{.name}}\n"}
	for k, v := range files {
		all[k] = v
	}
	for name, text := range all {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := campaign.Load(filepath.Join(dir, "campaign.toml"), campaign.Options{Deterministic: true, Mailer: "mailmerge/test"})
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

func collect(ps *[]campaign.Problem) func(campaign.Problem) {
	return func(p campaign.Problem) { *ps = append(*ps, p) }
}

func TestCheckSummary(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{"recipients.csv": "name,email\n" +
		"Alice,alice@example.com\n" +
		"Bob,bob@example\n" + // no dot in the domain
		"Carol,carol@example.com\n" +
		"Dan,dan@example.com,extra\n" + // ragged
		"Eve,\n"}) // no address
	var ps []campaign.Problem
	sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 5 || sum.Valid != 2 || sum.Errors != 3 || sum.Warnings != 0 || sum.Duplicates != 0 {
		t.Errorf("summary %+v, want 5 rows, 2 valid, 3 errors", sum)
	}
	if !slices.Equal(sum.Columns, []string{"name", "email"}) {
		t.Errorf("columns %q", sum.Columns)
	}
	list := filepath.Join(dir, "recipients.csv")
	want := []struct {
		row int
		msg string
	}{
		{2, list + `:3: row 2: ` + filepath.Join(dir, "campaign.toml") + `:3: to: "bob@example" is not a valid address: domain "example" has no dot`},
		{0, list + `: line 5: 3 fields, but the header has 2 columns`},
		{5, list + `:6: row 5: `},
	}
	if len(ps) != len(want) {
		t.Fatalf("problems %+v", ps)
	}
	for i, w := range want {
		if ps[i].Severity != campaign.Error || !strings.HasPrefix(ps[i].Message, w.msg) {
			t.Errorf("problem %d = %+v, want %q", i, ps[i], w.msg)
		}
		if w.row != 0 && ps[i].Row != w.row {
			t.Errorf("problem %d row %d, want %d", i, ps[i].Row, w.row)
		}
	}
}

func TestCheckDuplicates(t *testing.T) {
	c, _ := loadCheck(t, map[string]string{"recipients.csv": "name,email\n" +
		"Alice,alice@example.com\nBob,bob@example.com\nAl,ALICE@example.com\nCarol,carol@example.com\nRobert,bob@example.com\nAli,alice@example.com\n"})
	var ps []campaign.Problem
	sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 6 || sum.Valid != 6 || sum.Errors != 0 || sum.Warnings != 2 || sum.Duplicates != 3 {
		t.Errorf("summary %+v, want 6 valid, 2 warnings, 3 duplicates", sum)
	}
	if len(ps) != 2 || ps[0].Severity != campaign.Warning || !strings.HasSuffix(ps[0].Message, "rows 1, 3, 6 have the same recipient address: alice@example.com") ||
		!strings.HasSuffix(ps[1].Message, "rows 2, 5 have the same recipient address: bob@example.com") || ps[0].Row != 1 || ps[1].Row != 2 {
		t.Errorf("problems %+v", ps)
	}
}

func TestCheckListProblem(t *testing.T) {
	for name, list := range map[string]string{
		"header only": "name,email\n",
		"empty":       "",
		"empty name":  "name,,email\nA,b,a@example.com\n",
	} {
		c, _ := loadCheck(t, map[string]string{"recipients.csv": list})
		var ps []campaign.Problem
		sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
		if err != nil {
			t.Fatal(err)
		}
		if sum.Rows != 0 || sum.Errors != 1 || len(ps) != 1 || ps[0].Hint == "" {
			t.Errorf("%s: summary %+v, problems %+v", name, sum, ps)
		}
	}
}

func TestCheckUnknownColumn(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{
		"recipients.csv": "name,email\nAlice,alice@example.com\n",
		"body.txt":       "Hi {{.name}}\n\n{{.city}}\n",
	})
	var ps []campaign.Problem
	sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors != 1 || sum.Valid != 0 || len(ps) != 1 ||
		ps[0].Message != filepath.Join(dir, "body.txt")+`:3: unknown column "city"` ||
		ps[0].Hint != `the list has columns "name", "email"` {
		t.Errorf("summary %+v, problems %+v", sum, ps)
	}
}

// TestCheckReportsAtMost caps the problems reported one by one while the
// summary counts all.
func TestCheckReportsAtMost(t *testing.T) {
	var b strings.Builder
	b.WriteString("name,email\n")
	for i := 0; i < campaign.MaxReported+20; i++ {
		b.WriteString("X,not-an-address\n")
	}
	c, _ := loadCheck(t, map[string]string{"recipients.csv": b.String()})
	var ps []campaign.Problem
	sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors != campaign.MaxReported+20 || len(ps) != campaign.MaxReported {
		t.Errorf("errors %d, reported %d", sum.Errors, len(ps))
	}
}

func TestRender(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{"recipients.csv": "name,email\nAlice,alice@example.com\nBob,bob@example.com\nCarol,carol@example.com\n"})
	out := filepath.Join(dir, "out")
	sum, err := c.Render(context.Background(), out, campaign.RenderOptions{}, func(p campaign.Problem) { t.Error(p.Message) })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 3 || sum.Rows != 3 || sum.Bytes == 0 {
		t.Errorf("summary %+v", sum)
	}
	want := []string{"00001-alice@example.com.eml", "00002-bob@example.com.eml", "00003-carol@example.com.eml", "index.csv"}
	if got := entries(t, out); !slices.Equal(got, want) {
		t.Errorf("out holds %q, want %q", got, want)
	}
	index, err := os.ReadFile(filepath.Join(out, "index.csv"))
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(string(index), "\ufeff")
	if !ok {
		t.Error("index.csv does not start with a BOM")
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !slices.Equal(rows[0], []string{"row", "to", "subject", "file", "bytes"}) ||
		!slices.Equal(rows[2][:4], []string{"2", "Bob <bob@example.com>", "Hello Bob", "00002-bob@example.com.eml"}) {
		t.Errorf("index.csv %q", rows)
	}
	first, _ := os.ReadFile(filepath.Join(out, want[0]))

	// Deterministic: a second render with --force gives the same bytes.
	if _, err := c.Render(context.Background(), out, campaign.RenderOptions{}, nil); !errors.Is(err, campaign.ErrNotEmpty) {
		t.Fatalf("render into a full folder: %v, want ErrNotEmpty", err)
	}
	if _, err := c.Render(context.Background(), out, campaign.RenderOptions{Force: true}, nil); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(out, want[0]))
	if string(first) != string(again) {
		t.Error("deterministic renders differ")
	}
}

func TestRenderLimit(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{"recipients.csv": "name,email\nAlice,alice@example.com\nBob,bob@example.com\nCarol,carol@example.com\n"})
	out := filepath.Join(dir, "out")
	sum, err := c.Render(context.Background(), out, campaign.RenderOptions{Limit: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 2 || sum.Rows != 3 || sum.Valid != 3 {
		t.Errorf("summary %+v, want 2 written of 3 checked", sum)
	}
	if got := entries(t, out); !slices.Equal(got, []string{"00001-alice@example.com.eml", "00002-bob@example.com.eml", "index.csv"}) {
		t.Errorf("out holds %q", got)
	}
}

// TestRenderFailureLeavesNothing: with one bad row nothing is written, not
// even the folder or a temporary one beside it, and a folder that was there
// keeps its files.
func TestRenderFailureLeavesNothing(t *testing.T) {
	c, dir := loadCheck(t, map[string]string{"recipients.csv": "name,email\nAlice,alice@example.com\nBob,bob@example\nCarol,carol@example.com\n"})
	before := entries(t, dir)
	out := filepath.Join(dir, "out")
	var ps []campaign.Problem
	sum, err := c.Render(context.Background(), out, campaign.RenderOptions{}, collect(&ps))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Errors != 1 || sum.Written != 0 || sum.Bytes != 0 || len(ps) != 1 {
		t.Errorf("summary %+v, problems %+v", sum, ps)
	}
	if got := entries(t, dir); !slices.Equal(got, before) {
		t.Errorf("campaign folder now holds %q, was %q", got, before)
	}

	// An earlier render stays as it was.
	earlier := map[string]string{
		"out/index.csv":               "row,to,subject,file,bytes\r\n1,a@example.com,Hi,00001-a@example.com.eml,1\r\n",
		"out/00001-a@example.com.eml": "x",
	}
	writeFiles(t, dir, earlier)
	if _, err := c.Render(context.Background(), out, campaign.RenderOptions{Force: true}, func(campaign.Problem) {}); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, out); !slices.Equal(got, []string{"00001-a@example.com.eml", "index.csv"}) {
		t.Errorf("a failed --force render changed the folder: %q", got)
	}
	if got, want := entries(t, dir), slices.Sorted(slices.Values(append(before, "out"))); !slices.Equal(got, want) {
		t.Errorf("campaign folder now holds %q", got)
	}
}

func TestLoadProblems(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       []string
	}{
		{"unknown key", strings.Replace(checkCampaign, "subject ", "subjet ", 1), []string{`campaign.toml:4: unknown key "subjet"`}},
		{"missing from", strings.Replace(checkCampaign, `from       = "Nami <nami@example.com>"`, "", 1), []string{`campaign.toml:1: from: from is required`}},
		{"missing text", strings.Replace(checkCampaign, `body.txt`, `nope.txt`, 1), []string{`campaign.toml:5: text: `}},
		{"header name", checkCampaign + "[headers]\n\"X-Evil\\r\\nBcc\" = \"x\"\n", []string{`campaign.toml:7: headers."X-Evil\r\nBcc": header name`}},
		{"several", strings.Replace(checkCampaign, `"Hello {{.name}}"`, `"Hello {{env \"HOME\"}}"`, 1) + "delimiter = \"::\"\n",
			[]string{`campaign.toml:6: delimiter: "::" is not a delimiter`, `campaign.toml:4: subject: function "env" not defined`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "campaign.toml")
			os.WriteFile(p, []byte(tc.toml), 0o644)
			os.WriteFile(filepath.Join(dir, "body.txt"), []byte("Hi"), 0o644)
			os.WriteFile(filepath.Join(dir, "recipients.csv"), []byte("name,email\nA,a@example.com\n"), 0o644)
			_, err := campaign.Load(p, campaign.Options{})
			ps := campaign.Problems(err)
			if len(ps) != len(tc.want) {
				t.Fatalf("problems %+v, want %d", ps, len(tc.want))
			}
			for i, w := range tc.want {
				msg := strings.TrimPrefix(ps[i].Message, dir+string(filepath.Separator))
				if !strings.HasPrefix(msg, w) || strings.ContainsAny(msg, "\r\n") {
					t.Errorf("problem %d = %q, want prefix %q", i, msg, w)
				}
			}
		})
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// A shard looks for duplicates among its own rows: two rows with one
// address always fall in one shard, which finds them; the others find
// none, and the row numbers are the list's.
func TestCheckDuplicatesInShard(t *testing.T) {
	c, _ := loadCheck(t, map[string]string{"recipients.csv": "name,email\n" +
		"Alice,alice@example.com\nBob,bob@example.com\nAl,ALICE@example.com\nCarol,carol@example.com\nRobert,bob@example.com\nAli,alice@example.com\n"})
	found := map[string]int{}
	for i := range 3 {
		s := campaign.Shard{I: i, N: 3}
		sc, err := campaign.Load(c.Path, campaign.Options{Shard: s})
		if err != nil {
			t.Fatal(err)
		}
		var ps []campaign.Problem
		if _, err := sc.Check(context.Background(), campaign.CheckOptions{}, collect(&ps)); err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			for _, addr := range []string{"alice", "bob"} {
				if strings.Contains(p.Message, addr+"@example.com") {
					found[addr]++
					if want := campaign.ShardOf(addr+"@example.com", 3); i != want {
						t.Errorf("shard %d reports %s, whose shard is %d", i, p.Message, want)
					}
				}
			}
		}
		for _, want := range []struct{ addr, rows string }{{"alice", "rows 1, 3, 6"}, {"bob", "rows 2, 5"}} {
			if campaign.ShardOf(want.addr+"@example.com", 3) == i && !slices.ContainsFunc(ps, func(p campaign.Problem) bool { return strings.Contains(p.Message, want.rows) }) {
				t.Errorf("shard %d: %v, want %s as duplicates", i, ps, want.rows)
			}
		}
	}
	if found["alice"] != 1 || found["bob"] != 1 {
		t.Errorf("duplicates reported %v times, want each once over the shards", found)
	}
}
