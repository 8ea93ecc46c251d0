package campaign_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

func TestParseSelection(t *testing.T) {
	good := []struct{ in, want string }{
		{"2-10,15", "2-10,15"},
		{" 15 , 2 - 10 ", "2-10,15"},
		{"3,1,2", "1-3"},         // sorted, and touching rows joined
		{"5-9,7-12,1", "1,5-12"}, // overlaps joined
		{"4-4", "4"},
	}
	for _, g := range good {
		s, err := campaign.ParseSelection(g.in)
		if err != nil || s.String() != g.want {
			t.Errorf("ParseSelection(%q) = %q, %v; want %q", g.in, s.String(), err, g.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "no rows given"},
		{"  ", "no rows given"},
		{"0", `"0": there is no row 0`},
		{"1-0", `"1-0": there is no row 0`},
		{"10-2", `"10-2" runs backwards: write 2-10`},
		{"2,,3", `"2,,3" has an empty item`},
		{"2,", `"2," has an empty item`},
		{"abc", `"abc" is not a row number`},
		{"5-", `"5-" is not a row number`},
		{"-5", `"-5" is not a row number`},
		{"1-2-3", `"1-2-3" is not a row number`},
		{"+3", `"+3" is not a row number`},
		{"1e3", `"1e3" is not a row number`},
		{"99999999999", `no list has row 99999999999`},
	}
	for _, b := range bad {
		if _, err := campaign.ParseSelection(b.in); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseSelection(%q) error = %v, want one saying %q", b.in, err, b.want)
		}
	}
}

func TestSelectionHas(t *testing.T) {
	s, err := campaign.ParseSelection("2-4,9,20-21")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for row := 1; row <= 25; row++ {
		if s.Has(row) {
			got = append(got, row)
		}
	}
	if want := []int{2, 3, 4, 9, 20, 21}; !slices.Equal(got, want) {
		t.Errorf("selected rows = %v, want %v", got, want)
	}
	if !(campaign.Selection{}).Has(7) || !(campaign.Selection{}).All() {
		t.Error("the zero Selection does not select every row")
	}
}

// withRows loads c's campaign file again with a selection of rows.
func withRows(t *testing.T, c *campaign.Campaign, rows string) *campaign.Campaign {
	t.Helper()
	sel, err := campaign.ParseSelection(rows)
	if err != nil {
		t.Fatal(err)
	}
	c, err = campaign.Load(c.Path, campaign.Options{Rows: sel})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recipients are the envelope recipients the server got, sorted.
func recipients(srv *sandbox.Server) []string {
	var got []string
	for to, n := range copies(srv) {
		for range n {
			got = append(got, to)
		}
	}
	sort.Strings(got)
	return got
}

// rowsOf are the row numbers of a results file, sorted.
func rowsOf(rows map[int]resultRow) []int { return slices.Sorted(maps.Keys(rows)) }

// A send of some rows sends those and records those alone; a resume
// without --rows then sends the rest, and nobody gets a second copy.
func TestSendRowsSendsAndRecordsOnlyTheSelection(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 12, sendKeys{})
	sum := send(t, withRows(t, c, "2-4,10"), campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 4 || sum.Total != 4 || sum.Check.Rows != 4 || sum.Check.ListRows != 12 || sum.Check.Selected != "2-4,10" {
		t.Fatalf("summary = %+v, want 4 of 4 selected rows of 12 sent", sum)
	}
	want := []string{addr(2), addr(3), addr(4), addr(10)}
	if got := recipients(srv); !slices.Equal(got, want) {
		t.Fatalf("the server got %v, want %v", got, want)
	}
	if got := rowsOf(readResults(t, sum.Results)); !slices.Equal(got, []int{2, 3, 4, 10}) {
		t.Fatalf("results file rows = %v, want 2, 3, 4, 10", got)
	}

	rest := send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if rest.Sent != 8 || rest.Previous["sent"] != 4 {
		t.Fatalf("resume without rows: %+v, want the other 8 sent", rest)
	}
	rows := readResults(t, rest.Results)
	if len(rows) != 12 {
		t.Fatalf("results file has %d rows after the resume, want 12", len(rows))
	}
	checkOnce(t, rows, copies(srv))
}

// --limit counts within the selection, and --redirect-to sends the
// selected rows to oneself.
func TestSendRowsWithLimitAndRedirect(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 10, sendKeys{})
	sum := send(t, withRows(t, c, "5-9"), campaign.SendOptions{Server: target(srv), Limit: 2})
	if sum.Sent != 2 || sum.Remaining != 3 {
		t.Fatalf("limit 2 in rows 5-9: %+v, want 2 sent and 3 remaining", sum)
	}
	if got := rowsOf(readResults(t, sum.Results)); !slices.Equal(got, []int{5, 6}) {
		t.Fatalf("results file rows = %v, want 5, 6", got)
	}
	sum = send(t, withRows(t, c, "5-9"), campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent != 3 || sum.Previous["sent"] != 2 {
		t.Fatalf("resume of rows 5-9: %+v, want the other 3 sent", sum)
	}

	me, err := campaign.ParseAddress("me@example.org")
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := campaign.ParseSelection("2,8")
	test, err := campaign.Load(c.Path, campaign.Options{Rows: sel, RedirectTo: me})
	if err != nil {
		t.Fatal(err)
	}
	before := len(srv.Deliveries())
	sum = send(t, test, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 2 || filepath.Base(sum.Results) != campaign.TestResultsName {
		t.Fatalf("test send of rows 2 and 8: %+v", sum)
	}
	if got := rowsOf(readResults(t, sum.Results)); !slices.Equal(got, []int{2, 8}) {
		t.Fatalf("test results rows = %v, want 2, 8", got)
	}
	if n := len(srv.Deliveries()) - before; n != 2 {
		t.Fatalf("the test send delivered %d messages, want 2", n)
	}
}

// A row outside the selection whose address changed since the results
// were written stops a resume: rows may have moved, and a selected row may
// now be someone an earlier run sent to.
func TestSendRowsResumeRefusesAChangedRowOutside(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 6, sendKeys{})
	send(t, withRows(t, c, "1-3"), campaign.SendOptions{Server: target(srv)})
	list := c.RecipientsPath()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, list, strings.Replace(string(b), addr(1), "moved@example.com", 1))
	before := srv.Received()
	_, err = withRows(t, c, "4-6").Send(context.Background(), campaign.SendOptions{Server: target(srv), Resume: true})
	if !errors.Is(err, campaign.ErrListChanged) {
		t.Fatalf("resume of rows 4-6 after row 1 changed: %v, want ErrListChanged", err)
	}
	if srv.Received() != before {
		t.Fatal("the refused run sent messages")
	}
}

// A selection that runs past the list's end is an error of check, and send
// refuses it even with SkipInvalid.
func TestSelectionPastTheEnd(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := withRows(t, newSendCampaign(t, 5, sendKeys{}), "4-7,9")
	var ps []campaign.Problem
	sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
	if err != nil {
		t.Fatal(err)
	}
	pastEnd := slices.IndexFunc(ps, func(p campaign.Problem) bool {
		return p.Severity == campaign.Error && strings.HasSuffix(p.Message, "list.csv has 5 rows: the selected rows 6-7,9 are past its end")
	})
	if sum.PastEnd != "6-7,9" || sum.Rows != 2 || sum.ListRows != 5 || pastEnd < 0 {
		t.Fatalf("check: %+v, problems %+v", sum, ps)
	}
	_, err = c.Send(context.Background(), campaign.SendOptions{Server: target(srv), SkipInvalid: true})
	if !errors.Is(err, campaign.ErrInvalid) || srv.Received() != 0 {
		t.Fatalf("send with SkipInvalid: %v, %d received; want ErrInvalid and nothing sent", err, srv.Received())
	}
	if _, err := os.Stat(c.ResultsPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused run left a results file: %v", err)
	}
}

// --retry-failed with --rows retries the failures of the selection alone.
func TestSendRowsRetryFailedStaysInTheSelection(t *testing.T) {
	var refusing atomic.Bool
	refusing.Store(true)
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: func(to string) error {
		if refusing.Load() && (to == addr(3) || to == addr(7)) {
			return sandbox.Refuse(550, "5.7.1", "not now")
		}
		return nil
	}}})
	c := newSendCampaign(t, 8, sendKeys{})
	if sum := send(t, c, campaign.SendOptions{Server: target(srv)}); sum.Failed != 2 {
		t.Fatalf("first run: %+v, want rows 3 and 7 failed", sum)
	}
	refusing.Store(false)
	sum := send(t, withRows(t, c, "1-5"), campaign.SendOptions{Server: target(srv), Resume: true, RetryFailed: true})
	if sum.Sent != 1 || sum.Previous["sent"] != 4 {
		t.Fatalf("retry of rows 1-5: %+v, want row 3 sent and 4 left as sent", sum)
	}
	rows := readResults(t, sum.Results)
	if rows[3].status != "sent" || rows[7].status != "failed" {
		t.Fatalf("row 3 %q, row 7 %q; want sent and still failed", rows[3].status, rows[7].status)
	}
	checkOnce(t, rows, copies(srv))
}
