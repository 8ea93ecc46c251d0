package campaign_test

import (
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// TestSendRecipientRefusalsDoNotStop: twelve unknown mailboxes in a row
// say nothing about the server; the eight good rows after them are sent.
func TestSendRecipientRefusalsDoNotStop(t *testing.T) {
	for _, refusal := range []error{
		sandbox.Refuse(550, "5.1.2", "bad destination system address"),
		sandbox.Refuse(550, "5.1.1", "user unknown"),
		sandbox.Refuse(552, "5.2.2", "mailbox full"),
		sandbox.Refuse(550, "", "no such user"), // 5.0.0, undefined: RFC 5321's 550 decides
	} {
		srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: func(to string) error {
			if to <= addr(12) {
				return refusal
			}
			return nil
		}}})
		c := newSendCampaign(t, 20, sendKeys{send: "workers = 1\n"})
		sum := send(t, c, campaign.SendOptions{Server: target(srv)})
		if sum.Stopped || sum.Sent != 8 || sum.Failed != 12 || sum.Remaining != 0 {
			t.Fatalf("%v: summary = %+v, want 8 sent, 12 failed, not stopped", refusal, sum)
		}
		if sum.Unfixable != 12 {
			t.Errorf("%v: %d failures counted as refused for the recipient alone, want 12", refusal, sum.Unfixable)
		}
		checkOnce(t, readResults(t, sum.Results), copies(srv))
	}
}

// TestSendStreakSpansRecipientRefusals: refusals of the sender's account
// stop the run even when unknown mailboxes come between them.
func TestSendStreakSpansRecipientRefusals(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n%2 == 0 {
			return sandbox.Refuse(550, "5.1.1", "user unknown")
		}
		return sandbox.Refuse(554, "5.7.1", "sending disabled for this account")
	}}})
	const rows = 60
	c := newSendCampaign(t, rows, sendKeys{send: "workers = 1\nstop_after_failures = 4\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if !sum.Stopped || sum.Sent != 0 || sum.Failed < 7 || sum.Failed > 12 || sum.Failed+sum.Remaining != rows {
		t.Fatalf("summary = %+v, want stopped after 4 account refusals and about as many unknown mailboxes", sum)
	}
	if !strings.Contains(sum.StopReason, "4 messages in a row failed") || !strings.Contains(sum.StopReason, "5.7.1") {
		t.Errorf("stop reason %q", sum.StopReason)
	}
	checkOnce(t, readResults(t, sum.Results), copies(srv))
}

// TestSendStopAfterFailuresZero: 0 turns the stop off; every row is tried.
func TestSendStopAfterFailuresZero(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: func(string) error {
		return sandbox.Refuse(554, "5.7.1", "sending disabled for this account")
	}}})
	const rows = 30
	c := newSendCampaign(t, rows, sendKeys{send: "stop_after_failures = 0\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Stopped || sum.Failed != rows || sum.Unfixable != 0 {
		t.Fatalf("summary = %+v, want all %d tried and failed, none as the recipient's fault", sum, rows)
	}
}

// TestSendReportsDamagedLines: a line of the results file that a power
// loss turned to zero bytes is skipped when the run resumes, and the
// summary names it: its row counts as never sent.
func TestSendReportsDamagedLines(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 4, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Limit: 2})
	if sum.Sent != 2 || len(sum.DamagedLines) != 0 {
		t.Fatalf("first run: %+v", sum)
	}
	b, err := os.ReadFile(sum.Results)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\r\n")
	lines[2] = strings.Repeat("\x00", len(lines[2])-2) + "\r\n" // row 2, after the header and row 1
	writeFile(t, sum.Results, strings.Join(lines, ""))

	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if !slices.Equal(sum.DamagedLines, []int{3}) || sum.Sent != 3 || sum.Previous["sent"] != 1 {
		t.Fatalf("resume: %+v, want line 3 reported damaged and its row sent again", sum)
	}
}

// TestSendCapWaitReported: when an hourly cap is full the run says until
// when the next message waits; stopped then, it leaves the rest for
// --resume.
func TestSendCapWaitReported(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	const rows = 6
	c := newSendCampaign(t, rows, sendKeys{send: "workers = 1\nrate = \"20/s, 3/h\"\n"})
	stop := make(chan struct{})
	var mu sync.Mutex
	var waits []campaign.Progress
	start := time.Now()
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Stop: stop, Progress: func(p campaign.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if !p.WaitingUntil.IsZero() {
			if len(waits) == 0 {
				close(stop)
			}
			waits = append(waits, p)
		}
	}})
	end := time.Now()
	if len(waits) == 0 {
		t.Fatal("no progress report said the run waits for the cap")
	}
	// The fourth message goes an hour after the first.
	w := waits[0]
	if w.WaitingUntil.Before(start.Add(time.Hour)) || w.WaitingUntil.After(end.Add(time.Hour)) || w.WaitingFor != "hourly limit" {
		t.Errorf("reported a wait for %q until %v, want the hourly limit until an hour after the first send, between %v and %v",
			w.WaitingFor, w.WaitingUntil, start.Add(time.Hour), end.Add(time.Hour))
	}
	if w.Rate != "20/s, 3/h" {
		t.Errorf("reported rate %q", w.Rate)
	}
	if !sum.Stopped || sum.Sent != 3 || sum.Remaining != rows-3 {
		t.Fatalf("summary = %+v, want stopped with 3 sent and %d remaining", sum, rows-3)
	}
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, Rate: "unlimited"})
	if sum.Sent != rows-3 || sum.Previous["sent"] != 3 {
		t.Fatalf("resume: %+v, want the %d others sent", sum, rows-3)
	}
	checkOnce(t, readResults(t, sum.Results), copies(srv))
}
