package campaign_test

import (
	"slices"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// TestFailureClassesFromTheResultsFile: the replies a real server gave,
// read back from the results file, group by enhanced status code when the
// reply has one (a temporary one retried until the run gave up included),
// else by the reply code, and an unknown outcome by the missing reply.
func TestFailureClassesFromTheResultsFile(t *testing.T) {
	rcpt := map[string]error{
		addr(1): sandbox.Refuse(550, "5.1.1", "no such user"),
		addr(2): sandbox.Refuse(550, "5.1.1", "no such user"),
		addr(3): sandbox.Refuse(550, "5.1.1", "user unknown here"),
		addr(4): sandbox.Refuse(452, "4.2.2", "mailbox full"),
		addr(5): sandbox.Refuse(550, "", "go away"), // go-smtp adds the undefined 5.0.0
	}
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{
		Rcpt: func(to string) error { return rcpt[to] },
		Data: func(d sandbox.Delivery) error {
			switch d.To[0] {
			case addr(6), addr(7):
				return sandbox.Refuse(554, "5.7.1", "message refused as spam")
			case addr(8):
				return sandbox.ErrDropAfterStore
			}
			return nil
		},
	}})
	c := newSendCampaign(t, 10, sendKeys{send: "attempts = 2\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 2 || sum.Failed != 7 || sum.Unknown != 1 {
		t.Fatalf("summary = %+v, want 2 sent, 7 failed, 1 unknown", sum)
	}
	s, err := journal.ReadSummary(sum.Results, 0, campaign.Lasting, campaign.FailureClass)
	if err != nil {
		t.Fatal(err)
	}
	want := []journal.ClassCount{
		{Class: "5.1.1 user unknown", Rows: 3},
		{Class: "5.7.1 delivery not authorized", Rows: 2},
		{Class: "4.2.2 mailbox full", Rows: 1},
		{Class: "550 mailbox unavailable", Rows: 1},
		{Class: "no reply after the message", Rows: 1},
	}
	if !slices.Equal(s.Classes, want) {
		t.Errorf("classes\n got %v\nwant %v", s.Classes, want)
	}
}

// FailureClass on replies a test server cannot easily give: none at all,
// codes that do not agree, a subject RFC 3463 does not define.
func TestFailureClassWithoutAUsableEnhancedCode(t *testing.T) {
	for _, c := range []struct {
		e    journal.Entry
		want string
	}{
		{journal.Entry{Status: journal.Failed, Reply: "server does not offer SMTPUTF8 (at mail)"}, "needs SMTPUTF8"},
		{journal.Entry{Status: journal.Failed, Reply: "gave up after 5 attempts: mail from: connection lost: EOF (at mail)"}, "no reply from the server"},
		{journal.Entry{Status: journal.Failed, Code: 550, Reply: "4.2.2 mailbox full (at rcpt)"}, "550 mailbox unavailable"},
		{journal.Entry{Status: journal.Failed, Code: 550, Reply: "5.9.9 odd (at rcpt)"}, "550 mailbox unavailable"},
		{journal.Entry{Status: journal.Failed, Code: 554, Reply: "5.7.999 custom policy (at data-end)"}, "5.7.999 refused by policy"},
		{journal.Entry{Status: journal.Failed, Code: 421, Reply: "gave up after 3 attempts: 4.7.0 too fast (at mail)"}, "4.7.0 refused by policy"},
		{journal.Entry{Status: journal.Sent, Code: 250, Reply: "2.0.0 ok"}, ""},
	} {
		if got := campaign.FailureClass(c.e); got != c.want {
			t.Errorf("FailureClass(%s %d %q) = %q, want %q", c.e.Status, c.e.Code, c.e.Reply, got, c.want)
		}
	}
}
