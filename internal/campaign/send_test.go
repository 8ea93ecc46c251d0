package campaign_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// sendKeys are the campaign file's settings for one test; empty fields keep
// the defaults of newSendCampaign.
type sendKeys struct {
	top  string // extra top-level keys (cc, bcc, ...)
	smtp string // the [smtp] table's keys
	send string // extra [send] keys
}

// newSendCampaign writes a campaign with rows recipients
// user0001@example.com ... into a fresh folder and loads it. Retries wait
// 10 ms (unless keys.send sets retry_delay) and there is no rate limit, so
// tests stay quick.
func newSendCampaign(t *testing.T, rows int, keys sendKeys) *campaign.Campaign {
	t.Helper()
	dir := t.TempDir()
	var list strings.Builder
	list.WriteString("id,name,email,boss\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&list, "%d,Person %d,%s,boss%d@example.org\n", i, i, addr(i), i)
	}
	writeFile(t, filepath.Join(dir, "list.csv"), list.String())
	writeFile(t, filepath.Join(dir, "body.txt"), "Dear {{.name}},\n\nyour number is {{.id}}.\n")
	retryDelay := "retry_delay = \"10ms\"\n"
	if strings.Contains(keys.send, "retry_delay") {
		retryDelay = ""
	}
	toml := `recipients = "list.csv"
from       = "Nami <nami@example.com>"
to         = "{{.name}} <{{.email}}>"
subject    = "Hello {{.name}}"
text       = "body.txt"
` + keys.top + `
[smtp]
` + keys.smtp + `
[send]
` + retryDelay + keys.send
	path := filepath.Join(dir, "campaign.toml")
	writeFile(t, path, toml)
	c, err := campaign.Load(path, campaign.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func addr(i int) string { return fmt.Sprintf("user%04d@example.com", i) }

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startSandbox starts a sandbox server that the test closes at its end.
func startSandbox(t *testing.T, opts sandbox.Options) *sandbox.Server {
	t.Helper()
	srv, err := sandbox.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// target points a send run at srv with its credentials and CA.
func target(srv *sandbox.Server) *campaign.Server {
	return &campaign.Server{Host: "localhost", Port: srv.Port(), Security: srv.Security(),
		Username: srv.Username(), Password: srv.Password(), RootCAs: srv.RootCAs()}
}

func send(t *testing.T, c *campaign.Campaign, opts campaign.SendOptions) campaign.SendSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sum, err := c.Send(ctx, opts)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	// Every row this run had to deal with is accounted for once.
	if done := sum.Sent + sum.Failed + sum.Skipped + sum.Unknown + sum.Remaining; done != sum.Total {
		t.Errorf("sent %d + failed %d + skipped %d + unknown %d + remaining %d = %d, but the run had %d rows to deal with",
			sum.Sent, sum.Failed, sum.Skipped, sum.Unknown, sum.Remaining, done, sum.Total)
	}
	return sum
}

// copies counts the messages each envelope recipient got.
func copies(srv *sandbox.Server) map[string]int {
	n := map[string]int{}
	for _, d := range srv.Deliveries() {
		for _, to := range d.To {
			n[to]++
		}
	}
	return n
}

// resultRow is one line of a results file.
type resultRow struct {
	row              int
	email, status    string
	code             int
	reply, messageID string
	attempts         int
	time             string
	relay            string
}

// readResults parses a results file as Excel would: a BOM, then the header,
// then one row per recipient.
func readResults(t *testing.T, path string) map[int]resultRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("results file: %v", err)
	}
	if !bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		t.Fatalf("results file does not start with a byte order mark: %q", b[:min(len(b), 20)])
	}
	recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatalf("results file: %v", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(journal.Columns(), ",") {
		t.Fatalf("results header = %q, want %q", recs[0], journal.Columns())
	}
	rows := map[int]resultRow{}
	for _, r := range recs[1:] {
		var rr resultRow
		rr.row, _ = strconv.Atoi(r[0])
		rr.email, rr.status = r[1], r[2]
		rr.code, _ = strconv.Atoi(r[3])
		rr.reply, rr.messageID = r[4], r[5]
		rr.attempts, _ = strconv.Atoi(r[6])
		rr.time, rr.relay = r[7], r[8]
		if _, dup := rows[rr.row]; dup {
			t.Errorf("results file has row %d twice after the run closed it", rr.row)
		}
		rows[rr.row] = rr
	}
	return rows
}

// statuses counts the rows of each status.
func statuses(rows map[int]resultRow) map[string]int {
	n := map[string]int{}
	for _, r := range rows {
		n[r.status]++
	}
	return n
}

// checkOnce asserts the promise of the results file against what the
// server received: sent means exactly one copy, failed and skipped none,
// unknown at most one; and nobody got a copy the file does not account for.
func checkOnce(t *testing.T, rows map[int]resultRow, got map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.email] = true
		n := got[r.email]
		switch r.status {
		case "sent":
			if n != 1 {
				t.Errorf("row %d %s is sent but the server got %d copies", r.row, r.email, n)
			}
		case "failed", "skipped":
			if n != 0 {
				t.Errorf("row %d %s is %s but the server got %d copies", r.row, r.email, r.status, n)
			}
		case "unknown":
			if n > 1 {
				t.Errorf("row %d %s is unknown but the server got %d copies", r.row, r.email, n)
			}
		default:
			t.Errorf("row %d has status %q", r.row, r.status)
		}
	}
	for to, n := range got {
		if !seen[to] {
			t.Errorf("the server got %d copies for %s, which the results file does not mention", n, to)
		}
	}
}

func TestSendImplicitTLS(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 20, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 20 || sum.Failed+sum.Unknown+sum.Skipped+sum.Remaining != 0 || sum.Stopped {
		t.Fatalf("summary = %+v, want 20 sent", sum)
	}
	rows := readResults(t, sum.Results)
	if len(rows) != 20 {
		t.Fatalf("results file has %d rows, want 20", len(rows))
	}
	ids := map[string]string{}
	for _, d := range srv.Deliveries() {
		ids[d.To[0]] = d.MessageID
	}
	for i := 1; i <= 20; i++ {
		r := rows[i]
		if r.email != addr(i) || r.status != "sent" || r.code != 250 || r.attempts != 1 {
			t.Errorf("row %d = %+v, want %s sent 250 after 1 attempt", i, r, addr(i))
		}
		if _, err := time.Parse(time.RFC3339, r.time); err != nil {
			t.Errorf("row %d time %q: %v", i, r.time, err)
		}
		if want := "<" + ids[addr(i)] + ">"; r.messageID != want {
			t.Errorf("row %d message_id = %q, the server got %q", i, r.messageID, want)
		}
	}
	checkOnce(t, rows, copies(srv))
}

func TestSendStartTLS(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Security: security.StartTLS})
	c := newSendCampaign(t, 5, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 5 || sum.Stopped {
		t.Fatalf("summary = %+v, want 5 sent", sum)
	}
	checkOnce(t, readResults(t, sum.Results), copies(srv))
}

// TestSendStartTLSNotOffered: a configured STARTTLS is mandatory. Against a
// server that does not offer it the run stops before AUTH: the client holds
// a wrong password, so an AUTH would have shown as a failure at the server.
func TestSendStartTLSNotOffered(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Security: security.None})
	c := newSendCampaign(t, 5, sendKeys{})
	s := target(srv)
	s.Security, s.Password = security.StartTLS, "wrong"
	var debug bytes.Buffer
	ctx := context.Background()
	sum, err := c.Send(ctx, campaign.SendOptions{Server: s, Debug: &debug})
	if err == nil && !sum.Stopped {
		t.Fatalf("send went ahead without STARTTLS: %+v", sum)
	}
	if msg := fmt.Sprint(err, sum.StopReason); !strings.Contains(msg, "STARTTLS") {
		t.Errorf("error %q, stop reason %q: neither mentions STARTTLS", err, sum.StopReason)
	}
	if srv.AuthFailures() != 0 || regexp.MustCompile(`(C:|\*) AUTH`).MatchString(debug.String()) {
		t.Errorf("credentials went out in clear: %d auth failures at the server; transcript:\n%s", srv.AuthFailures(), debug.String())
	}
	if srv.Received() != 0 || sum.Sent != 0 {
		t.Errorf("server received %d messages, summary says %d sent", srv.Received(), sum.Sent)
	}
}

// TestSendAuthMechanisms configures the server by [smtp] as a user does,
// with ca_file and a forced mechanism, and reads the mechanism from the
// transcript, which must never show the password.
func TestSendAuthMechanisms(t *testing.T) {
	for _, mech := range []string{"plain", "login"} {
		t.Run(mech, func(t *testing.T) {
			srv := startSandbox(t, sandbox.Options{})
			caDir := t.TempDir()
			writeFile(t, filepath.Join(caDir, "ca.pem"), string(srv.CAPEM()))
			c := newSendCampaign(t, 3, sendKeys{smtp: fmt.Sprintf(
				"host = %q\nport = %d\nsecurity = \"ssl\"\nusername = %q\nauth = %q\nca_file = %q\n",
				"localhost", srv.Port(), srv.Username(), mech, filepath.Join(caDir, "ca.pem"))})
			var debug bytes.Buffer
			asked := 0
			sum := send(t, c, campaign.SendOptions{Debug: &debug, Password: func(campaign.Login) (string, error) {
				asked++
				return srv.Password(), nil
			}})
			if sum.Sent != 3 || asked != 1 {
				t.Fatalf("summary = %+v, password asked %d times; want 3 sent, asked once", sum, asked)
			}
			if want := "AUTH " + strings.ToUpper(mech); !strings.Contains(debug.String(), want) {
				t.Errorf("transcript lacks %q:\n%s", want, debug.String())
			}
			if strings.Contains(debug.String(), srv.Password()) {
				t.Errorf("the password appears in the transcript")
			}
			checkOnce(t, readResults(t, sum.Results), copies(srv))
		})
	}
}

func TestSendAuthFailureStops(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 5, sendKeys{})
	s := target(srv)
	s.Password = "not-the-app-code"
	sum := send(t, c, campaign.SendOptions{Server: s})
	if !sum.Stopped || sum.Sent != 0 || sum.StopHint == "" {
		t.Fatalf("summary = %+v, want stopped with a hint and nothing sent", sum)
	}
	if sum.Remaining != 5 || !sum.NothingSent {
		t.Errorf("remaining %d (nothing sent %v), want all 5 rows left for --resume", sum.Remaining, sum.NothingSent)
	}
	if srv.AuthFailures() != 1 || srv.Received() != 0 {
		t.Errorf("server saw %d auth failures and %d messages, want 1 and 0", srv.AuthFailures(), srv.Received())
	}
	if _, err := os.Stat(sum.Results); err == nil {
		if rows := readResults(t, sum.Results); len(rows) != 0 {
			t.Errorf("results file has %d rows after a failed login", len(rows))
		}
	}
	// Nothing was recorded, so there is nothing to resume; the same run
	// again, with the right password, gives everyone one copy.
	if _, err := c.Send(context.Background(), campaign.SendOptions{Server: target(srv), Resume: true}); !errors.Is(err, campaign.ErrNothingToResume) {
		t.Fatalf("resume after a failed login: %v, want ErrNothingToResume", err)
	}
	sum = send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 5 || sum.Stopped {
		t.Fatalf("resume after fixing the password: %+v", sum)
	}
	checkOnce(t, readResults(t, sum.Results), copies(srv))
}

func TestSendRecipientRefused(t *testing.T) {
	refused := map[string]bool{addr(3): true, addr(7): true}
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: func(to string) error {
		if refused[to] {
			return sandbox.Refuse(550, "5.1.1", "no such user")
		}
		return nil
	}}})
	c := newSendCampaign(t, 10, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 8 || sum.Failed != 2 || sum.Stopped {
		t.Fatalf("summary = %+v, want 8 sent, 2 failed", sum)
	}
	rows := readResults(t, sum.Results)
	for i := 1; i <= 10; i++ {
		r := rows[i]
		if refused[addr(i)] {
			if r.status != "failed" || r.code != 550 || !strings.Contains(r.reply, "no such user") || r.attempts != 1 {
				t.Errorf("row %d = %+v, want failed 550 no such user after 1 attempt", i, r)
			}
		} else if r.status != "sent" {
			t.Errorf("row %d = %+v, want sent", i, r)
		}
	}
	if len(sum.TopFailures) != 1 || sum.TopFailures[0].Count != 2 || !strings.Contains(sum.TopFailures[0].Reply, "550") {
		t.Errorf("top failures = %+v, want one 550 reply twice", sum.TopFailures)
	}
	checkOnce(t, rows, copies(srv))
}

// perRecipient counts Data calls per envelope recipient, for faults that
// depend on how often one message was offered.
type perRecipient struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *perRecipient) next(d sandbox.Delivery) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[string]int{}
	}
	p.n[d.To[0]]++
	return p.n[d.To[0]]
}

// TestSendTemporaryFailures: 451 twice, then 250. (A 4.7.x greylisting reply
// would also slow the run down, which is the limiter's business, not this
// test's.)
func TestSendTemporaryFailures(t *testing.T) {
	var offers perRecipient
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Data: func(d sandbox.Delivery) error {
		if offers.next(d) <= 2 {
			return sandbox.Refuse(451, "4.3.0", "temporary local problem")
		}
		return nil
	}}})
	c := newSendCampaign(t, 6, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 6 || sum.Failed != 0 {
		t.Fatalf("summary = %+v, want 6 sent", sum)
	}
	rows := readResults(t, sum.Results)
	for i := 1; i <= 6; i++ {
		if r := rows[i]; r.status != "sent" || r.attempts != 3 {
			t.Errorf("row %d = %+v, want sent after 3 attempts", i, r)
		}
	}
	checkOnce(t, rows, copies(srv))
}

func TestSendGivesUpAfterAttempts(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: func(to string) error {
		if to == addr(2) {
			return sandbox.Refuse(452, "4.2.2", "mailbox full")
		}
		return nil
	}}})
	c := newSendCampaign(t, 3, sendKeys{send: "attempts = 3\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	rows := readResults(t, sum.Results)
	if r := rows[2]; sum.Failed != 1 || r.status != "failed" || r.attempts != 3 || r.code != 452 || !strings.Contains(r.reply, "3 attempts") {
		t.Errorf("summary %+v, row 2 = %+v; want failed 452 after 3 attempts", sum, r)
	}
	checkOnce(t, rows, copies(srv))
}

// TestSendServerHangsUpEverySeven: a provider that caps messages per
// connection replies 421 and closes; every recipient still gets one copy.
// A 421 also halves the rate, and without a configured rate that would
// start at one message a second, so the test sets a high one.
func TestSendServerHangsUpEverySeven(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{
		Data: sandbox.Every[sandbox.Delivery](7, sandbox.Refuse(421, "4.7.0", "too many messages, closing")),
	}})
	c := newSendCampaign(t, 40, sendKeys{send: "rate = \"1000/s\"\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 40 || sum.Failed+sum.Unknown != 0 {
		t.Fatalf("summary = %+v, want 40 sent", sum)
	}
	rows := readResults(t, sum.Results)
	retried := 0
	for _, r := range rows {
		if r.attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no row needed a second attempt; the fault did not fire")
	}
	if srv.Sessions() < 2 {
		t.Errorf("server saw %d sessions; a 421 must close the connection", srv.Sessions())
	}
	checkOnce(t, rows, copies(srv))
}

// stallOnce is a fault that stalls the first command at stage for a minute.
func stallOnce(stage sandbox.Stage) func(sandbox.Stage) time.Duration {
	var once sync.Once
	return func(s sandbox.Stage) time.Duration {
		d := time.Duration(0)
		if s == stage {
			once.Do(func() { d = time.Minute })
		}
		return d
	}
}

// TestSendServerStalls: a reply that never comes trips the command timeout.
// Before the end of DATA that is safe to retry; after it the outcome is
// unknown and the message is not sent again.
func TestSendServerStalls(t *testing.T) {
	t.Run("before data", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Stall: stallOnce(sandbox.StageMail)}})
		c := newSendCampaign(t, 4, sendKeys{smtp: "command_timeout = \"300ms\"\n"})
		sum := send(t, c, campaign.SendOptions{Server: target(srv)})
		rows := readResults(t, sum.Results)
		if sum.Sent != 4 || statuses(rows)["sent"] != 4 {
			t.Fatalf("summary = %+v, want 4 sent", sum)
		}
		retried := 0
		for _, r := range rows {
			if r.attempts == 2 {
				retried++
			}
		}
		if retried != 1 {
			t.Errorf("%d rows took 2 attempts, want 1: %+v", retried, rows)
		}
		checkOnce(t, rows, copies(srv))
	})
	t.Run("after data", func(t *testing.T) {
		srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Stall: stallOnce(sandbox.StageData)}})
		c := newSendCampaign(t, 4, sendKeys{smtp: "command_timeout = \"300ms\"\ndata_timeout = \"300ms\"\n"})
		sum := send(t, c, campaign.SendOptions{Server: target(srv)})
		rows := readResults(t, sum.Results)
		if sum.Sent != 3 || sum.Unknown != 1 || statuses(rows)["unknown"] != 1 {
			t.Fatalf("summary = %+v, want 3 sent and 1 unknown", sum)
		}
		for _, r := range rows {
			if r.status == "unknown" && (r.attempts != 1 || copies(srv)[r.email] != 1) {
				t.Errorf("unknown row %+v: server has %d copies; it must not be resent", r, copies(srv)[r.email])
			}
		}
		checkOnce(t, rows, copies(srv))
	})
}

// TestSendRate measures only a lower bound: 11 messages at 20/s cannot
// take less than 10 intervals of 50 ms.
func TestSendRate(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 11, sendKeys{send: "rate = \"20/s\"\n"})
	start := time.Now()
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Errorf("11 messages at 20/s took %v, want at least 450ms", took)
	}
	if sum.Sent != 11 {
		t.Fatalf("summary = %+v", sum)
	}
}

// TestSendEnvelopeCcBcc: every cc and bcc address is an envelope recipient
// of the one message and gets a copy; Bcc never shows in the header.
func TestSendEnvelopeCcBcc(t *testing.T) {
	mail := t.TempDir()
	srv := startSandbox(t, sandbox.Options{Dir: mail})
	c := newSendCampaign(t, 3, sendKeys{top: `cc = "Boss <{{.boss}}>"` + "\n" + `bcc = "audit@example.net"` + "\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 3 {
		t.Fatalf("summary = %+v", sum)
	}
	for i, d := range srv.Deliveries() {
		if len(d.To) != 3 {
			t.Errorf("delivery %d has envelope %q, want to, cc and bcc", i, d.To)
		}
	}
	stored, err := sandbox.ReadMaildir(mail)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range stored {
		got[s.DeliveredTo]++
		if s.Header.Get("Bcc") != "" || bytes.Contains(bytes.ToLower(s.Message), []byte("audit@example.net")) {
			t.Errorf("%s: the bcc address is visible in the message:\n%s", s.Path, s.Message)
		}
		if !strings.Contains(s.Header.Get("Cc"), "@example.org") {
			t.Errorf("%s: Cc header = %q", s.Path, s.Header.Get("Cc"))
		}
	}
	for i := 1; i <= 3; i++ {
		for _, a := range []string{addr(i), fmt.Sprintf("boss%d@example.org", i)} {
			if got[a] != 1 {
				t.Errorf("%s got %d copies, want 1", a, got[a])
			}
		}
	}
	if got["audit@example.net"] != 3 {
		t.Errorf("bcc address got %d copies, want 3", got["audit@example.net"])
	}
}

func TestSendResultsExist(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 3, sendKeys{})
	send(t, c, campaign.SendOptions{Server: target(srv)})
	_, err := c.Send(context.Background(), campaign.SendOptions{Server: target(srv)})
	if !errors.Is(err, campaign.ErrResultsExist) {
		t.Fatalf("second send: %v, want ErrResultsExist", err)
	}
	if srv.Received() != 3 {
		t.Errorf("server received %d, want 3: the refused run sent something", srv.Received())
	}
}

func TestSendLimitThenResume(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 12, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Limit: 5})
	if sum.Sent != 5 || sum.Remaining != 7 {
		t.Fatalf("with --limit 5: %+v, want 5 sent, 7 remaining", sum)
	}
	if n := len(readResults(t, sum.Results)); n != 5 {
		t.Errorf("results file has %d rows after --limit 5", n)
	}
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent != 7 || sum.Previous["sent"] != 5 || sum.Remaining != 0 {
		t.Fatalf("resume: %+v, want 7 sent, 5 left from before", sum)
	}
	rows := readResults(t, sum.Results)
	if statuses(rows)["sent"] != 12 {
		t.Errorf("results: %v", statuses(rows))
	}
	checkOnce(t, rows, copies(srv))
	// Resuming a finished run sends nothing.
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent != 0 || srv.Received() != 12 {
		t.Errorf("resume of a finished run: %+v; server has %d", sum, srv.Received())
	}
}

func TestSendRestartRotates(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 3, sendKeys{})
	first := send(t, c, campaign.SendOptions{Server: target(srv)})
	old, err := os.ReadFile(first.Results)
	if err != nil {
		t.Fatal(err)
	}
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Restart: true})
	if sum.Sent != 3 || sum.RotatedTo == "" {
		t.Fatalf("restart: %+v, want 3 sent and the old file rotated", sum)
	}
	kept, err := os.ReadFile(sum.RotatedTo)
	if err != nil || !bytes.Equal(kept, old) {
		t.Errorf("rotated file %s differs from the old results (%v)", sum.RotatedTo, err)
	}
	if filepath.Dir(sum.RotatedTo) != filepath.Dir(sum.Results) {
		t.Errorf("rotated to %s, not beside %s", sum.RotatedTo, sum.Results)
	}
	if n := len(readResults(t, sum.Results)); n != 3 {
		t.Errorf("new results file has %d rows", n)
	}
}

// refuser refuses the recipients match picks at RCPT with err until lift:
// a server that recovers, for tests that resume afterwards.
type refuser struct {
	mu     sync.Mutex
	lifted bool
	match  func(to string) bool
	err    error
}

func (r *refuser) rcpt(to string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lifted && r.match(to) {
		return r.err
	}
	return nil
}

func (r *refuser) lift() {
	r.mu.Lock()
	r.lifted = true
	r.mu.Unlock()
}

func only(addr string) func(string) bool { return func(to string) bool { return to == addr } }

func TestSendRetryFailed(t *testing.T) {
	refusal := &refuser{match: only(addr(2)), err: sandbox.Refuse(550, "5.2.1", "mailbox disabled")}
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: refusal.rcpt}})
	c := newSendCampaign(t, 4, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Failed != 1 {
		t.Fatalf("summary = %+v, want 1 failed", sum)
	}
	refusal.lift()
	// --resume alone leaves the failure as it is.
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent != 0 || sum.Previous["failed"] != 1 {
		t.Fatalf("resume: %+v, want nothing sent, 1 failed from before", sum)
	}
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, RetryFailed: true})
	if sum.Sent != 1 || sum.Previous["sent"] != 3 {
		t.Fatalf("retry failed: %+v, want 1 sent", sum)
	}
	rows := readResults(t, sum.Results)
	if statuses(rows)["sent"] != 4 {
		t.Errorf("results: %v", statuses(rows))
	}
	checkOnce(t, rows, copies(srv))
}

// TestSendUnknownOutcome: the server stores the message and hangs up before
// its reply. That row is unknown, --resume leaves it alone, and only
// --resend-unknown sends a second copy.
func TestSendUnknownOutcome(t *testing.T) {
	var once sync.Once
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Data: func(d sandbox.Delivery) error {
		var err error
		if d.To[0] == addr(4) {
			once.Do(func() { err = sandbox.ErrDropAfterStore })
		}
		return err
	}}})
	c := newSendCampaign(t, 6, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 5 || sum.Unknown != 1 {
		t.Fatalf("summary = %+v, want 5 sent, 1 unknown", sum)
	}
	rows := readResults(t, sum.Results)
	if rows[4].status != "unknown" {
		t.Fatalf("row 4 = %+v, want unknown", rows[4])
	}
	checkOnce(t, rows, copies(srv))
	if copies(srv)[addr(4)] != 1 {
		t.Fatalf("server has %d copies for row 4", copies(srv)[addr(4)])
	}

	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent != 0 || sum.Previous["unknown"] != 1 || copies(srv)[addr(4)] != 1 {
		t.Fatalf("resume resent an unknown row: %+v", sum)
	}
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, ResendUnknown: true})
	if sum.Sent != 1 || copies(srv)[addr(4)] != 2 {
		t.Fatalf("resend unknown: %+v, server has %d copies for row 4", sum, copies(srv)[addr(4)])
	}
	if r := readResults(t, sum.Results)[4]; r.status != "sent" {
		t.Errorf("row 4 after --resend-unknown = %+v", r)
	}
}

func TestSendInvalidRows(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 5, sendKeys{})
	list := c.RecipientsPath()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, list, strings.Replace(string(b), addr(3), "not-an-address", 1))

	_, err = c.Send(context.Background(), campaign.SendOptions{Server: target(srv)})
	if !errors.Is(err, campaign.ErrInvalid) {
		t.Fatalf("send with an invalid row: %v, want ErrInvalid", err)
	}
	if srv.Sessions() != 0 {
		t.Errorf("the server saw %d connections for a campaign with errors", srv.Sessions())
	}

	sum := send(t, c, campaign.SendOptions{Server: target(srv), SkipInvalid: true})
	if sum.Sent != 4 || sum.Skipped != 1 {
		t.Fatalf("skip invalid: %+v, want 4 sent, 1 skipped", sum)
	}
	rows := readResults(t, sum.Results)
	if r := rows[3]; r.status != "skipped" || !strings.Contains(r.reply, "row 3") || !strings.Contains(r.reply, "not-an-address") {
		t.Errorf("row 3 = %+v, want skipped with the reason", r)
	}
	checkOnce(t, rows, copies(srv))
}

// TestSendNothingToResume: --resume without a results file is refused
// before anyone is sent anything, and leaves no results file behind.
func TestSendNothingToResume(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 3, sendKeys{})
	_, err := c.Send(context.Background(), campaign.SendOptions{Server: target(srv), Resume: true})
	if !errors.Is(err, campaign.ErrNothingToResume) || !strings.Contains(err.Error(), c.ResultsPath()) {
		t.Fatalf("resume without results: %v, want ErrNothingToResume naming %s", err, c.ResultsPath())
	}
	if srv.Received() != 0 {
		t.Errorf("server received %d, want 0", srv.Received())
	}
	if _, err := os.Stat(c.ResultsPath()); !os.IsNotExist(err) {
		t.Errorf("results file after a refused resume: %v, want none", err)
	}
}

func TestSendListChanged(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 5, sendKeys{})
	send(t, c, campaign.SendOptions{Server: target(srv), Limit: 3})
	list := c.RecipientsPath()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, list, strings.Replace(string(b), addr(2), "someone.else@example.com", 1))
	_, err = c.Send(context.Background(), campaign.SendOptions{Server: target(srv), Resume: true})
	if !errors.Is(err, campaign.ErrListChanged) || !strings.Contains(err.Error(), "row 2") {
		t.Fatalf("resume after the list changed: %v, want ErrListChanged naming row 2", err)
	}
	if srv.Received() != 3 {
		t.Errorf("server received %d, want the 3 of the first run", srv.Received())
	}
}

// TestSendShortensChineseRepliesWhole: a long refusal from a Chinese
// server is shortened for the summary and the stop reason without cutting a
// character in half, which would print as mojibake.
func TestSendShortensChineseRepliesWhole(t *testing.T) {
	reply := "x" + strings.Repeat("该账户已被禁止发送邮件，请联系管理员", 6)
	refusal := &refuser{match: func(string) bool { return true }, err: sandbox.Refuse(550, "5.7.1", reply)}
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: refusal.rcpt}})
	c := newSendCampaign(t, 12, sendKeys{send: "workers = 1\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if !sum.Stopped || len(sum.TopFailures) != 1 {
		t.Fatalf("summary = %+v, want stopped with one kind of failure", sum)
	}
	for what, text := range map[string]string{"top failure": sum.TopFailures[0].Reply, "stop reason": sum.StopReason} {
		if !utf8.ValidString(text) || !strings.Contains(text, "该账户已被禁止") || !strings.Contains(text, "…") {
			t.Errorf("%s %q: want the reply shortened to whole characters", what, text)
		}
	}
}

// TestSendStopsWhenRefusingEverything: ten failures in a row mean the
// server refuses everything; the run stops early and can be resumed.
func TestSendStopsWhenRefusingEverything(t *testing.T) {
	refusal := &refuser{match: func(string) bool { return true }, err: sandbox.Refuse(550, "5.7.1", "sending disabled for this account")}
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: refusal.rcpt}})
	const rows = 60
	c := newSendCampaign(t, rows, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if !sum.Stopped || sum.Sent != 0 || sum.Failed < 10 || sum.Failed > 20 {
		t.Fatalf("summary = %+v, want stopped after about 10 failures", sum)
	}
	if !strings.Contains(sum.StopReason, "5.7.1") || !strings.Contains(sum.StopHint, "fix the cause") {
		t.Errorf("stop reason %q, hint %q", sum.StopReason, sum.StopHint)
	}
	if sum.Failed+sum.Remaining != rows {
		t.Errorf("failed %d + remaining %d != %d rows", sum.Failed, sum.Remaining, rows)
	}
	if n := len(readResults(t, sum.Results)); n != sum.Failed {
		t.Errorf("results file has %d rows, summary %d failed", n, sum.Failed)
	}
	refusal.lift()
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, RetryFailed: true})
	if sum.Sent != rows || sum.Stopped {
		t.Fatalf("resume: %+v, want all %d sent", sum, rows)
	}
	checkOnce(t, readResults(t, sum.Results), copies(srv))
}

// TestSendStopMidRun closes Stop, as the first Ctrl-C does: no new message
// starts, those in flight are recorded, and --resume completes the run
// with nobody getting two copies.
func TestSendStopMidRun(t *testing.T) {
	stop := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	n := 0
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Data: func(sandbox.Delivery) error {
		mu.Lock()
		n++
		if n == 10 {
			once.Do(func() { close(stop) })
		}
		mu.Unlock()
		return nil
	}}})
	const rows = 100
	c := newSendCampaign(t, rows, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Stop: stop})
	if !sum.Stopped || sum.StopReason != "interrupted" {
		t.Fatalf("summary = %+v, want stopped: interrupted", sum)
	}
	if sum.Sent < 10 || sum.Sent > 30 || sum.Sent+sum.Remaining != rows {
		t.Errorf("sent %d + remaining %d, want at least 10 sent and %d in all", sum.Sent, sum.Remaining, rows)
	}
	rows1 := readResults(t, sum.Results)
	if len(rows1) != sum.Sent || srv.Received() != sum.Sent {
		t.Errorf("results file has %d rows, server %d messages, summary %d sent", len(rows1), srv.Received(), sum.Sent)
	}
	if _, err := os.Stat(journal.InflightPath(sum.Results)); err == nil {
		t.Errorf("a clean stop left %s behind", journal.InflightPath(sum.Results))
	}
	checkOnce(t, rows1, copies(srv))

	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Stopped || sum.Sent != rows-len(rows1) {
		t.Fatalf("resume: %+v, want the other %d sent", sum, rows-len(rows1))
	}
	all := readResults(t, sum.Results)
	if statuses(all)["sent"] != rows {
		t.Errorf("results: %v", statuses(all))
	}
	checkOnce(t, all, copies(srv))
}

// TestSendStopCountsOnlyThisRun: rows an earlier run dealt with are
// "previous", never "remaining", even when this run stops at once.
func TestSendStopCountsOnlyThisRun(t *testing.T) {
	refusal := &refuser{match: only(addr(25)), err: sandbox.Refuse(550, "5.1.1", "no such user")}
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: refusal.rcpt}})
	c := newSendCampaign(t, 30, sendKeys{})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 29 || sum.Failed != 1 {
		t.Fatalf("first run: %+v", sum)
	}
	refusal.lift()
	stop := make(chan struct{})
	close(stop)
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, RetryFailed: true, Stop: stop})
	if sum.Previous["sent"] != 29 || sum.Total != 1 || sum.Sent+sum.Remaining != 1 {
		t.Errorf("interrupted retry of one failed row: total %d, sent %d, remaining %d, previous %v; want 1 row to deal with, 29 previous",
			sum.Total, sum.Sent, sum.Remaining, sum.Previous)
	}
	checkOnce(t, readResults(t, sum.Results), copies(srv))
}

// A server that takes a message for the To but defers the cc (greylisting,
// a full mailbox) gets it again for the cc alone: each address receives one
// copy, and the row is sent once all are done.
func TestSendDeferredCcRetriedAlone(t *testing.T) {
	mail := t.TempDir()
	var mu sync.Mutex
	deferred := map[string]int{}
	srv := startSandbox(t, sandbox.Options{Dir: mail, Faults: &sandbox.Faults{Rcpt: func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(to, "boss") && deferred[to] < 2 {
			deferred[to]++
			return sandbox.Refuse(451, "4.2.0", "mailbox busy, try again")
		}
		if to == "boss2@example.org" {
			return sandbox.Refuse(550, "5.1.1", "no such user")
		}
		return nil
	}}})
	c := newSendCampaign(t, 3, sendKeys{top: `cc = "Boss <{{.boss}}>"` + "\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 3 || sum.Failed != 0 || sum.Partial != 1 {
		t.Fatalf("summary = %+v, want 3 sent, 1 of them partly", sum)
	}
	stored, err := sandbox.ReadMaildir(mail)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range stored {
		got[s.DeliveredTo]++
	}
	for _, a := range []string{addr(1), addr(2), addr(3), "boss1@example.org", "boss3@example.org"} {
		if got[a] != 1 {
			t.Errorf("%s got %d copies, want 1", a, got[a])
		}
	}
	if got["boss2@example.org"] != 0 {
		t.Errorf("the refused cc got %d copies", got["boss2@example.org"])
	}
	rows := readResults(t, sum.Results)
	if r := rows[1]; r.status != "sent" || r.attempts != 3 {
		t.Errorf("row 1 = %+v, want sent after 3 attempts", r)
	}
	if r := rows[2]; r.status != "sent" || !strings.Contains(r.reply, "not delivered: boss2@example.org refused: 550") {
		t.Errorf("row 2 = %+v, want sent with the refused cc in the reply", r)
	}
}

// When the To is refused for good but the cc got the message, the row is
// sent (a copy went out, so --retry-failed must never resend it) and its
// reply says the To did not get it.
func TestSendToRefusedCcDelivered(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{Rcpt: func(to string) error {
		if to == addr(1) {
			return sandbox.Refuse(550, "5.1.1", "no such user")
		}
		return nil
	}}})
	c := newSendCampaign(t, 1, sendKeys{top: `cc = "Boss <{{.boss}}>"` + "\n"})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 1 || sum.Partial != 1 {
		t.Fatalf("summary = %+v, want 1 sent, partly", sum)
	}
	r := readResults(t, sum.Results)[1]
	if r.status != "sent" || !strings.Contains(r.reply, "[delivered to boss1@example.org only]") ||
		!strings.Contains(r.reply, "not delivered: "+addr(1)+" refused: 550") {
		t.Errorf("row 1 = %+v", r)
	}
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, RetryFailed: true})
	if got := copies(srv)["boss1@example.org"]; got != 1 {
		t.Errorf("the cc got %d copies after --retry-failed, want 1", got)
	}
}

// TestSendRefusalRecordedOnce: a refusal at RCPT and one at the end of
// DATA each appear once in the row's reply; a message refused for every
// recipient names the others besides the row's own refusal.
func TestSendRefusalRecordedOnce(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{Faults: &sandbox.Faults{
		Rcpt: func(to string) error {
			switch to {
			case addr(2), "boss3@example.org":
				return sandbox.Refuse(550, "5.1.1", "no such user")
			case addr(3):
				return sandbox.Refuse(550, "5.7.1", "relaying denied")
			}
			return nil
		},
		Data: func(d sandbox.Delivery) error {
			if d.To[0] == addr(4) {
				return sandbox.Refuse(550, "5.7.1", "message looks like spam")
			}
			return nil
		},
	}})
	c := newSendCampaign(t, 4, sendKeys{top: `bcc = '{{if eq .id "3"}}{{.boss}}{{end}}'`})
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	rows := readResults(t, sum.Results)
	for row, want := range map[int][]string{
		2: {"5.1.1 no such user (at rcpt)"},
		3: {"5.7.1 relaying denied (at rcpt)", "[boss3@example.org refused: 550 5.1.1 no such user]"},
		4: {"5.7.1 message looks like spam (at data-end)"},
	} {
		r := rows[row]
		if r.status != "failed" || r.code != 550 {
			t.Errorf("row %d = %+v, want failed 550", row, r)
		}
		if got := strings.Join(want, " "); r.reply != got {
			t.Errorf("row %d reply = %q, want %q", row, r.reply, got)
		}
		if !campaign.Lasting(journal.Entry{Status: journal.Failed, Code: r.code, Reply: r.reply}) && row == 2 {
			t.Errorf("row %d: %q is no longer read back as a lasting refusal", row, r.reply)
		}
	}
}

// TestSendSkippedRowCorrected: a skipped row keeps its address in the
// results file when it has one, and once the user corrects it, --resume
// sends it instead of calling the list changed, and no one else twice.
func TestSendSkippedRowCorrected(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 5, sendKeys{top: `cc = "{{.boss}}"`})
	list := c.RecipientsPath()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	edit := func(text string, old ...string) {
		for i := 0; i < len(old); i += 2 {
			text = strings.Replace(text, old[i], old[i+1], 1)
		}
		writeFile(t, list, text)
	}
	// Row 3 has no address; row 4 has one, and a cc that is not one.
	edit(good, addr(3), "not-an-address", "boss4@example.org", "boss4 at example.org")

	sum := send(t, c, campaign.SendOptions{Server: target(srv), SkipInvalid: true})
	if sum.Sent != 3 || sum.Skipped != 2 {
		t.Fatalf("first run: %+v, want 3 sent, 2 skipped", sum)
	}
	rows := readResults(t, sum.Results)
	if r := rows[3]; r.status != "skipped" || r.email != "" {
		t.Errorf("row 3 = %+v, want skipped with no address (its To is not one)", r)
	}
	if r := rows[4]; r.status != "skipped" || r.email != addr(4) || !strings.Contains(r.reply, "boss4 at example.org") {
		t.Errorf("row 4 = %+v, want skipped with its address %s and the reason", r, addr(4))
	}

	// Row 3 corrected, row 4 not yet: row 3 goes, row 4 stays skipped.
	edit(good, "boss4@example.org", "boss4 at example.org")
	sum, err = c.Send(context.Background(), campaign.SendOptions{Server: target(srv), Resume: true, SkipInvalid: true})
	if err != nil {
		t.Fatalf("resume after correcting a skipped row: %v", err)
	}
	if sum.Sent != 1 || sum.Skipped != 0 || sum.Previous["skipped"] != 1 {
		t.Errorf("second run: %+v, want row 3 sent and row 4 left skipped", sum)
	}

	// Row 4 corrected too: a plain --resume sends it.
	writeFile(t, list, good)
	sum, err = c.Send(context.Background(), campaign.SendOptions{Server: target(srv), Resume: true})
	if err != nil {
		t.Fatalf("resume after correcting the last skipped row: %v", err)
	}
	if sum.Sent != 1 {
		t.Errorf("third run: %+v, want row 4 sent", sum)
	}
	rows = readResults(t, sum.Results)
	if n := statuses(rows); n["sent"] != 5 {
		t.Errorf("results: %v, want all 5 rows sent", n)
	}
	got := copies(srv)
	for i := 1; i <= 5; i++ {
		if got[addr(i)] != 1 || got[fmt.Sprintf("boss%d@example.org", i)] != 1 {
			t.Errorf("row %d: %s got %d copies, its cc %d; want one each", i, addr(i), got[addr(i)], got[fmt.Sprintf("boss%d@example.org", i)])
		}
	}
}

// A row sent by an earlier run that is invalid now (its address was
// edited into something that is not one) keeps its "sent": --resume
// --skip-invalid must not record it skipped over that, or a later
// --resume, once the row is corrected, would send it a second time.
func TestSendSentRowInvalidLater(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 4, sendKeys{top: `cc = "{{.boss}}"`})
	send(t, c, campaign.SendOptions{Server: target(srv), Limit: 3})
	list := c.RecipientsPath()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	writeFile(t, list, strings.Replace(good, addr(2), "user2 at example.com", 1))
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Resume: true, SkipInvalid: true})
	if sum.Sent != 1 || sum.Skipped != 0 || sum.Previous["sent"] != 3 {
		t.Fatalf("resume with row 2 invalid: %+v, want row 4 sent and rows 1-3 left sent", sum)
	}
	if r := readResults(t, sum.Results)[2]; r.status != "sent" {
		t.Fatalf("row 2 = %+v, want still sent", r)
	}
	writeFile(t, list, good)
	sum = send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Sent != 0 {
		t.Fatalf("resume after correcting row 2: %+v, want nothing sent", sum)
	}
	for i, got := 1, copies(srv); i <= 4; i++ {
		if got[addr(i)] != 1 {
			t.Errorf("row %d: %s got %d copies, want 1", i, addr(i), got[addr(i)])
		}
	}
}
