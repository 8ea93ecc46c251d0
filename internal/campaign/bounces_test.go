package campaign_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// dsn is the report a Postfix would write for a message it could not
// deliver: an RFC 3464 multipart/report returning the original's headers.
func dsn(original []byte, finalRcpt, status, diag string) []byte {
	head, _, _ := bytes.Cut(original, []byte("\r\n\r\n"))
	return []byte("From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n" +
		"To: nami@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n" +
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; " + finalRcpt + "\r\nAction: failed\r\nStatus: " + status + "\r\nDiagnostic-Code: smtp; " + diag + "\r\n\r\n" +
		"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n" + string(head) + "\r\n--B--\r\n")
}

// bouncesSetup sends a 4-row campaign through the SMTP sandbox, then fills
// an IMAP sandbox with what the mailbox of its sender would get back:
//   - row 2: a DSN that names a forwarding address, so only its Message-ID matches;
//   - row 3: an Exim text report with no Message-ID, matched by address;
//   - row 4: a soft bounce (4.2.2, mailbox full);
//   - row 1: a refusal of the sender's IP (5.7.1, a block list), not of the address;
//   - a mailto: unsubscribe reply, and real reports about strangers from the corpus.
func bouncesSetup(t *testing.T) (*campaign.Campaign, *sandbox.IMAPServer, campaign.BounceOptions) {
	t.Helper()
	smtpSrv := startSandbox(t, sandbox.Options{Dir: t.TempDir(), KeepData: true})
	c := newSendCampaign(t, 4, sendKeys{})
	send(t, c, campaign.SendOptions{Server: target(smtpSrv)})
	sent := map[string][]byte{}
	for _, d := range smtpSrv.Deliveries() {
		sent[d.To[0]] = d.Data
	}
	imapSrv, err := sandbox.StartIMAP("nami@example.com", "s3cret", "Bounces")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	exim := "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\r\nTo: nami@example.com\r\n" +
		"Subject: Mail delivery failed: returning message to sender\r\n\r\n" +
		"A message that you sent could not be delivered to one or more of its\r\nrecipients. This is a permanent error. The following address(es) failed:\r\n\r\n" +
		"  " + addr(3) + "\r\n    SMTP error from remote mail server after RCPT TO:<" + addr(3) + ">:\r\n    550 5.1.1 User unknown\r\n"
	msgs := [][]byte{
		dsn(sent[addr(2)], "old-address@forward.example.net", "5.1.1", "550 5.1.1 <old-address@forward.example.net>: User unknown"),
		[]byte(exim),
		dsn(sent[addr(4)], addr(4), "4.2.2", "452 4.2.2 Mailbox full"),
		dsn(sent[addr(1)], addr(1), "5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
		[]byte("From: " + addr(1) + "\r\nTo: unsubscribe@example.com\r\nSubject: unsubscribe T0KEN.1\r\n\r\n"),
		[]byte("From: a friend <friend@example.org>\r\nSubject: lunch?\r\n\r\nhi\r\n"),
	}
	for _, name := range []string{"lhost-postfix-01.eml", "lhost-qmail-02.eml", "lhost-gmail-06.eml"} {
		raw, err := os.ReadFile(filepath.Join("..", "bounce", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, raw)
	}
	for _, m := range msgs {
		if err := imapSrv.Append("INBOX", m); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(imapSrv.Addr)
	p, _ := strconv.Atoi(port)
	opts := campaign.BounceOptions{Mailbox: &mailbox.Config{Host: host, Port: p, Security: security.SSL,
		Username: imapSrv.Username, Password: imapSrv.Password, RootCAs: imapSrv.RootCAs()}}
	return c, imapSrv, opts
}

func TestBouncesRecordsHardBouncesAndChangesNothingTheSecondTime(t *testing.T) {
	c, imapSrv, opts := bouncesSetup(t)
	sum, err := c.Bounces(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// Corpus: postfix-01 (hard), qmail-02 (2 hard), gmail-06 (delayed), none of them ours.
	if sum.Messages != 9 || sum.Hard != 5 || sum.Blocked != 1 || sum.Soft != 1 || sum.Delayed != 1 || sum.Unmatched != 4 ||
		sum.Recorded != 2 || sum.Suppressed != 2 || len(sum.Unsubscribes) != 1 || sum.Unsubscribes[0].Token != "T0KEN.1" {
		t.Errorf("summary %+v", sum)
	}
	for _, b := range sum.Bounces {
		if b.Row == 2 && b.MatchedBy != "message-id" || b.Row == 3 && b.MatchedBy != "address" {
			t.Errorf("row %d matched by %q", b.Row, b.MatchedBy)
		}
	}
	rows := readResults(t, c.ResultsPath())
	want := map[int]string{1: "sent", 2: "bounced", 3: "bounced", 4: "sent"}
	for row, st := range want {
		if rows[row].status != st {
			t.Errorf("row %d is %s, want %s", row, rows[row].status, st)
		}
	}
	if r := rows[2]; r.email != addr(2) || r.code != 550 || !strings.HasPrefix(r.reply, "550 5.1.1 <old-address") || r.messageID == "" {
		t.Errorf("row 2 recorded as %+v", r)
	}
	bounced, err := os.ReadFile(filepath.Join(c.Dir, campaign.BouncedName))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{addr(2), addr(3)} {
		if !strings.Contains(string(bounced), a) {
			t.Errorf("%s is not in bounced.csv:\n%s", a, bounced)
		}
	}
	if strings.Contains(string(bounced), addr(4)) || strings.Contains(string(bounced), addr(1)) || strings.Contains(string(bounced), "userunknown@example.jp") {
		t.Errorf("a soft, blocked or unmatched bounce was suppressed:\n%s", bounced)
	}
	// Read-only: nothing flagged, moved or deleted.
	left, err := imapSrv.Messages("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 9 {
		t.Errorf("INBOX holds %d messages, want 9", len(left))
	}
	for _, m := range left {
		if len(m.Flags) > 0 {
			t.Errorf("message %d flagged %v", m.UID, m.Flags)
		}
	}

	results, _ := os.ReadFile(c.ResultsPath())
	again, err := c.Bounces(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Recorded != 0 || again.Suppressed != 0 || again.Hard != 5 {
		t.Errorf("second run: %+v", again)
	}
	results2, _ := os.ReadFile(c.ResultsPath())
	bounced2, _ := os.ReadFile(filepath.Join(c.Dir, campaign.BouncedName))
	if !bytes.Equal(results, results2) || !bytes.Equal(bounced, bounced2) {
		t.Errorf("the second run changed the files")
	}
}

// A resumed send treats bounced as final: nobody gets a second copy.
func TestResumeSkipsBouncedRows(t *testing.T) {
	c, _, opts := bouncesSetup(t)
	if _, err := c.Bounces(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	srv := startSandbox(t, sandbox.Options{Dir: t.TempDir()})
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, RetryFailed: true, ResendUnknown: true})
	if sum.Sent != 0 || sum.Previous["bounced"] != 2 || len(srv.Deliveries()) != 0 {
		t.Errorf("resume sent %d, previous %v", sum.Sent, sum.Previous)
	}
}

func TestMoveToMovesOnlyReports(t *testing.T) {
	c, imapSrv, opts := bouncesSetup(t)
	opts.MoveTo = "Bounces"
	sum, err := c.Bounces(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := imapSrv.Messages("INBOX")
	moved, _ := imapSrv.Messages("Bounces")
	if sum.Moved != 8 || len(moved) != 8 || len(inbox) != 1 || !strings.Contains(string(inbox[0].Raw), "lunch?") {
		t.Errorf("moved %d: INBOX %d, Bounces %d", sum.Moved, len(inbox), len(moved))
	}
}

func TestBouncesNeedsAResultsFile(t *testing.T) {
	c := newSendCampaign(t, 1, sendKeys{})
	_, err := c.Bounces(context.Background(), campaign.BounceOptions{Mailbox: &mailbox.Config{Host: "127.0.0.1"}})
	if err == nil || !strings.Contains(err.Error(), "no results file") {
		t.Fatalf("got %v", err)
	}
}

func TestIMAPConfigFromProviderAndSMTP(t *testing.T) {
	for _, tc := range []struct{ smtp, imap, want string }{
		{`provider = "qq"` + "\nusername = \"a@qq.com\"", "", "imap.qq.com:0 ssl a@qq.com INBOX"},
		{`host = "mail.example.com"` + "\nusername = \"a\"", `port = 143` + "\nsecurity = \"starttls\"\nfolder = \"Bounces\"\nusername = \"b\"", "mail.example.com:143 starttls b Bounces"},
	} {
		c := newSendCampaign(t, 1, sendKeys{smtp: tc.smtp, send: "\n[imap]\n" + tc.imap})
		cfg, err := c.IMAPConfig()
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("%s:%d %s %s %s", cfg.Host, cfg.Port, cfg.Security, cfg.Username, cmpOr(cfg.Folder, "INBOX"))
		if got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// A mailto: unsubscribe reply whose token the campaign's secret made puts
// the token's address in the unsubscribe file, once; a forged one nobody.
func TestBouncesRecordsUnsubscribeReplies(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "list.csv"), "name,email\nAna,"+addr(1)+"\nBo,"+addr(2)+"\n")
	writeFile(t, filepath.Join(dir, "body.txt"), "Hello {{.name}}\n")
	writeFile(t, filepath.Join(dir, "campaign.toml"), `recipients = "list.csv"
from = "Nami <nami@example.com>"
to = "{{.email}}"
subject = "News"
text = "body.txt"
[unsubscribe]
mailto = "unsubscribe@example.com"
secret_env = "UNSUB_SECRET"
`)
	getenv := func(string) string { return "0123456789abcdef0123456789abcdef" }
	c, err := campaign.Load(filepath.Join(dir, "campaign.toml"), campaign.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	smtpSrv := startSandbox(t, sandbox.Options{Dir: t.TempDir(), KeepData: true})
	send(t, c, campaign.SendOptions{Server: target(smtpSrv)})
	token := ""
	for _, d := range smtpSrv.Deliveries() {
		if d.To[0] == addr(2) {
			_, after, _ := strings.Cut(string(d.Data), "subject=unsubscribe%20")
			token, _, _ = strings.Cut(after, ">")
		}
	}
	if token == "" {
		t.Fatal("no mailto: link in the message")
	}
	imapSrv, err := sandbox.StartIMAP("nami@example.com", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.Close()
	for _, m := range []string{
		"From: " + addr(2) + "\r\nSubject: unsubscribe " + token + "\r\n\r\n",
		"From: mallory@example.net\r\nSubject: unsubscribe " + strings.Replace(token, ".", "x.", 1) + "\r\n\r\n",
	} {
		if err := imapSrv.Append("INBOX", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(imapSrv.Addr)
	p, _ := strconv.Atoi(port)
	opts := campaign.BounceOptions{Mailbox: &mailbox.Config{Host: host, Port: p, Security: security.SSL,
		Username: imapSrv.Username, Password: imapSrv.Password, RootCAs: imapSrv.RootCAs()}}
	for run, want := range []int{1, 0} {
		sum, err := c.Bounces(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Unsubscribes) != 2 || sum.Unsubscribed != want || sum.Unsubscribes[0].Address != addr(2) || sum.Unsubscribes[1].Address != "" {
			t.Errorf("run %d: %+v", run+1, sum.Unsubscribes)
		}
	}
	b, _ := os.ReadFile(c.UnsubscribeFile())
	if strings.Count(string(b), addr(2)) != 1 || strings.Contains(string(b), addr(1)) || strings.Contains(string(b), "mallory") {
		t.Errorf("%s:\n%s", c.UnsubscribeFile(), b)
	}
}
