package campaign_test

import (
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// Lasting reads back, from the results file alone, the failures that
// --retry-failed would only repeat.
func TestLastingFailuresFromTheResultsFile(t *testing.T) {
	for _, c := range []struct {
		e    journal.Entry
		want bool
	}{
		{journal.Entry{Status: journal.Failed, Code: 550, Reply: "5.1.1 <x@example.com>: user unknown (at rcpt)"}, true},
		{journal.Entry{Status: journal.Failed, Code: 552, Reply: "5.2.2 mailbox full (at rcpt) [cc@example.com refused: 552 mailbox full]"}, true},
		{journal.Entry{Status: journal.Failed, Code: 550, Reply: "no such user here (at rcpt)"}, true}, // no enhanced code: 550 at RCPT
		// As runs before the reply was written once recorded it.
		{journal.Entry{Status: journal.Failed, Code: 550, Reply: "5.1.1 no such user (at rcpt) [x@example.com refused: 550 5.1.1 no such user]"}, true},
		{journal.Entry{Status: journal.Failed, Code: 0, Reply: "server does not offer SMTPUTF8 (at mail)"}, true},
		{journal.Entry{Status: journal.Failed, Code: 550, Reply: "5.7.1 relaying denied (at rcpt)"}, false}, // policy: fixable
		{journal.Entry{Status: journal.Failed, Code: 554, Reply: "5.1.1 user unknown (at data-end)"}, false},
		{journal.Entry{Status: journal.Failed, Code: 451, Reply: "gave up after 5 attempts: 4.2.2 over quota (at rcpt)"}, false},
		{journal.Entry{Status: journal.Failed, Code: 550, Reply: "5.1.1 user unknown"}, false}, // no stage: not ours to judge
		{journal.Entry{Status: journal.Unknown, Code: 550, Reply: "5.1.1 user unknown (at rcpt)"}, false},
	} {
		if got := campaign.Lasting(c.e); got != c.want {
			t.Errorf("Lasting(%d %q) = %v, want %v", c.e.Code, c.e.Reply, got, c.want)
		}
	}
}
