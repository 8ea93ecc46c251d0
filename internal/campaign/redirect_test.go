package campaign_test

import (
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// TestSendRedirect: test sends reach the one address given and nobody
// else, are recorded in results.test.csv, and leave the campaign's results
// file alone; a second test starts over instead of asking for --resume.
func TestSendRedirect(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	real := newSendCampaign(t, 5, sendKeys{top: `cc = "{{.boss}}"` + "\n" + `bcc = "audit@example.org"`})
	me := &mail.Address{Address: "me@example.net"}
	c, err := campaign.Load(real.Path, campaign.Options{RedirectTo: me})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		sum := send(t, c, campaign.SendOptions{Server: target(srv), Limit: 2})
		if want := filepath.Join(c.Dir, campaign.TestResultsName); sum.Results != want || sum.Sent != 2 {
			t.Fatalf("sent %d, results %s; want 2 in %s", sum.Sent, sum.Results, want)
		}
		if rows := readResults(t, sum.Results); len(rows) != 2 || rows[1].status != "sent" || rows[2].status != "sent" {
			t.Errorf("results.test.csv: %v", rows)
		}
	}
	if got := copies(srv); len(got) != 1 || got[me.Address] != 4 {
		t.Errorf("envelope recipients %v, want me@example.net 4 times and nobody else", got)
	}
	if _, err := os.Stat(c.ResultsPath()); !os.IsNotExist(err) {
		t.Errorf("the campaign's results file after test sends: %v", err)
	}

	// The real run needs no --resume and reaches everyone.
	sum := send(t, real, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 5 || sum.Results != real.ResultsPath() {
		t.Errorf("real run: sent %d to %s", sum.Sent, sum.Results)
	}
	if n := copies(srv)[addr(5)]; n != 1 {
		t.Errorf("%s got %d copies", addr(5), n)
	}
}

// TestSendRedirectResultsName: test sends never write into a results file
// that happens to carry their file's name.
func TestSendRedirectResultsName(t *testing.T) {
	real := newSendCampaign(t, 1, sendKeys{send: `results = "results.test.csv"`})
	c, err := campaign.Load(real.Path, campaign.Options{RedirectTo: &mail.Address{Address: "me@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), campaign.SendOptions{Server: &campaign.Server{Host: "localhost", Port: 1}})
	if err == nil || !strings.Contains(err.Error(), "results.test.csv") {
		t.Errorf("send: %v", err)
	}
}
