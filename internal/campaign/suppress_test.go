package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/suppress"
)

// suppressKeys names three suppress files; missing.csv never exists.
const suppressKeys = `suppress = ["unsubscribed.csv", "bounced.txt", "missing.csv"]
cc = "{{.boss}}"`

// unsubscribeAddrs adds addrs to the campaign's unsubscribed.csv the way the
// unsubscribe endpoint does.
func unsubscribeAddrs(t *testing.T, c *campaign.Campaign, addrs ...string) {
	t.Helper()
	f, err := suppress.Open(filepath.Join(c.Dir, "unsubscribed.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, a := range addrs {
		if _, err := f.Add(a, "unsubscribe: one-click"); err != nil {
			t.Fatal(err)
		}
	}
}

// reload loads the campaign file again, as the next command would.
func reload(t *testing.T, c *campaign.Campaign, opts campaign.Options) *campaign.Campaign {
	t.Helper()
	c, err := campaign.Load(c.Path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Suppressed rows never reach the server, whichever of their addresses is
// held and in whatever case; the results file says which file held it.
func TestSendSkipsSuppressedRows(t *testing.T) {
	maildir := t.TempDir()
	srv := startSandbox(t, sandbox.Options{Dir: maildir})
	c := newSendCampaign(t, 6, sendKeys{top: suppressKeys})
	unsubscribeAddrs(t, c, "USER0002@Example.COM")
	// A plain list: row 4's To, and row 5's cc alone.
	writeFile(t, filepath.Join(c.Dir, "bounced.txt"), "# hard bounces\nuser0004@EXAMPLE.com\nBoss <boss5@example.org>\n")
	c = reload(t, c, campaign.Options{})

	check, err := c.Check(context.Background(), campaign.CheckOptions{}, func(p campaign.Problem) {
		if p.Row > 0 {
			t.Errorf("check: %s", p.Message)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []campaign.Suppressed{
		{Row: 2, Address: addr(2), File: "unsubscribed.csv"},
		{Row: 4, Address: addr(4), File: "bounced.txt"},
		{Row: 5, Address: "boss5@example.org", File: "bounced.txt"},
	}
	if check.Suppressed != 3 || !slices.Equal(check.SuppressedRows, want) || check.Valid != 6 {
		t.Errorf("check: %d suppressed %+v, %d valid; want 3 %+v, 6 valid", check.Suppressed, check.SuppressedRows, check.Valid, want)
	}

	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 3 || sum.Skipped != 3 || sum.Suppressed != 3 || sum.Check.Suppressed != 3 {
		t.Fatalf("summary = %+v, want 3 sent and 3 skipped as suppressed", sum)
	}
	rows := readResults(t, sum.Results)
	for row, file := range map[int]string{2: "unsubscribed.csv", 4: "bounced.txt", 5: "bounced.txt"} {
		if r := rows[row]; r.status != "skipped" || r.reply != "suppressed: "+file || r.email != addr(row) {
			t.Errorf("row %d = %+v, want skipped, reply %q", row, r, "suppressed: "+file)
		}
	}
	got := copies(srv)
	for _, a := range []string{addr(2), addr(4), addr(5), "boss2@example.org", "boss4@example.org", "boss5@example.org"} {
		if got[a] != 0 {
			t.Errorf("%s got %d messages", a, got[a])
		}
	}
	for i := 1; i <= 6; i++ {
		if r := rows[i]; r.status == "sent" && (got[addr(i)] != 1 || got[fmt.Sprintf("boss%d@example.org", i)] != 1) {
			t.Errorf("row %d is sent, but it and its cc got %d and %d copies", i, got[addr(i)], got[fmt.Sprintf("boss%d@example.org", i)])
		}
	}
	// What reached the mailbox on disk, not only the server's log.
	msgs, err := sandbox.ReadMaildir(maildir)
	if err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, m := range msgs {
		to = append(to, m.DeliveredTo)
	}
	slices.Sort(to)
	if want := []string{"boss1@example.org", "boss3@example.org", "boss6@example.org", addr(1), addr(3), addr(6)}; !slices.Equal(to, want) {
		t.Errorf("the Maildir holds messages to %q, want %q", to, want)
	}
}

// --resume sends a suppressed row once its address left the file, like a
// corrected skipped row; a row sent before its address was suppressed is
// done; a failed row suppressed since is not retried.
func TestResumeAfterSuppressionChanged(t *testing.T) {
	ref := &refuser{match: only(addr(3)), err: sandbox.Refuse(550, "5.1.1", "user unknown")}
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: ref.rcpt}})
	c := newSendCampaign(t, 4, sendKeys{top: `suppress = ["unsubscribed.csv"]`})
	unsubscribeAddrs(t, c, addr(2))
	c = reload(t, c, campaign.Options{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 2 || sum.Failed != 1 || sum.Suppressed != 1 {
		t.Fatalf("first run: %+v, want 2 sent, row 3 failed, row 2 suppressed", sum)
	}

	// Row 2 re-subscribed (the file edited by hand); rows 1 and 3 unsubscribed since.
	writeFile(t, filepath.Join(c.Dir, "unsubscribed.csv"), suppress.Header+"\n")
	unsubscribeAddrs(t, c, addr(1), addr(3))
	ref.lift()
	c = reload(t, c, campaign.Options{})
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, RetryFailed: true})
	if sum.Sent != 1 || sum.Suppressed != 1 || sum.Skipped != 1 || sum.Previous["sent"] != 2 {
		t.Errorf("resume: %+v, want row 2 sent, row 3 suppressed, rows 1 and 4 left sent", sum)
	}
	rows := readResults(t, sum.Results)
	if r := rows[3]; r.status != "skipped" || r.reply != "suppressed: unsubscribed.csv" {
		t.Errorf("row 3 = %+v, want skipped as suppressed", r)
	}
	if r := rows[1]; r.status != "sent" {
		t.Errorf("row 1 = %+v, want it left sent", r)
	}
	got := copies(srv)
	for i, n := range map[int]int{1: 1, 2: 1, 3: 0, 4: 1} {
		if got[addr(i)] != n {
			t.Errorf("%s got %d messages, want %d", addr(i), got[addr(i)], n)
		}
	}

	// Nothing changed: a second resume leaves the suppressed row as it is.
	sum = send(t, reload(t, c, campaign.Options{}), campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent+sum.Skipped != 0 || sum.Previous["skipped"] != 1 {
		t.Errorf("second resume: %+v, want nothing done and row 3 left skipped", sum)
	}
}

// A Campaign sent twice reads the files again for the second run.
func TestSendTwiceReadsSuppressionAgain(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 3, sendKeys{top: `suppress = ["unsubscribed.csv"]`})
	if sum := send(t, c, campaign.SendOptions{Server: target(srv), Limit: 1}); sum.Sent != 1 {
		t.Fatalf("first run: %+v", sum)
	}
	unsubscribeAddrs(t, c, addr(3))
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent != 1 || sum.Suppressed != 1 {
		t.Errorf("resume on the same Campaign: %+v, want row 2 sent and row 3 suppressed", sum)
	}
}

// A test send to oneself skips the rows the real run would skip.
func TestRedirectSkipsSuppressedRows(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 3, sendKeys{top: `suppress = ["unsubscribed.csv"]`})
	unsubscribeAddrs(t, c, addr(1))
	me := &mail.Address{Address: "me@example.net"}
	c = reload(t, c, campaign.Options{RedirectTo: me})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 2 || sum.Suppressed != 1 || copies(srv)[me.Address] != 2 {
		t.Errorf("test send: %+v, %v; want rows 2 and 3 to me, row 1 suppressed", sum, copies(srv))
	}
}

// A malformed suppress file stops the campaign from loading with one error
// naming the file and line; a missing one is empty.
func TestSuppressFileMalformed(t *testing.T) {
	c := newSendCampaign(t, 2, sendKeys{top: `suppress = ["missing.csv", "bounced.csv"]`})
	writeFile(t, filepath.Join(c.Dir, "bounced.csv"), "email,time,reason\nana@example.com,2026-01-01T00:00:00Z,x\nbo.example.com,2026-01-01T00:00:00Z,y\n")
	_, err := campaign.Load(c.Path, campaign.Options{})
	var fe *suppress.FileError
	if !errors.As(err, &fe) || len(campaign.Problems(err)) != 1 {
		t.Fatalf("Load = %v, want one *suppress.FileError", err)
	}
	want := filepath.Join(c.Dir, "bounced.csv") + `:3: "bo.example.com" is not an e-mail address: the @ is missing`
	if err.Error() != want {
		t.Errorf("error = %s\nwant %s", err, want)
	}
	if err := os.Remove(filepath.Join(c.Dir, "bounced.csv")); err != nil {
		t.Fatal(err)
	}
	if _, err := campaign.Load(c.Path, campaign.Options{}); err != nil {
		t.Errorf("missing suppress files: %v", err)
	}
}

// Preview marks the suppressed rows.
func TestMessagesMarkSuppressed(t *testing.T) {
	c := newSendCampaign(t, 3, sendKeys{top: `suppress = ["unsubscribed.csv"]`})
	unsubscribeAddrs(t, c, strings.ToUpper(addr(2)))
	c = reload(t, c, campaign.Options{})
	var marks []string
	err := c.Messages(context.Background(), func(r campaign.Rendered) error {
		marks = append(marks, fmt.Sprintf("%d:%s:%s", r.Row, r.Suppressed, r.SuppressedAddress))
		return nil
	})
	if want := []string{"1::", "2:unsubscribed.csv:" + addr(2), "3::"}; err != nil || !slices.Equal(marks, want) {
		t.Errorf("Messages = %q, %v; want %q", marks, err, want)
	}
	r, err := c.Message(context.Background(), 2)
	if err != nil || r.Suppressed != "unsubscribed.csv" {
		t.Errorf("Message(2) = %+v, %v; want it suppressed by unsubscribed.csv", r, err)
	}
}
